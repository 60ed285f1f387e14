"""G.722: the codec wrapper (media/g722.py) and a MediaSession that speaks it.

The ITU-T test vectors are not in any package we can install; what a wrong codec cannot
pass instead: a high-SNR round trip with G.722's constant 22-sample (QMF) delay, 16 kHz
content above G.711's 4 kHz band surviving, the packet sizes and RTP clock of RFC 3551,
and (tests/integration/test_g722_calls.py) a real baresip call in G.722.
"""

from __future__ import annotations

import itertools
import struct

import numpy as np
import numpy.typing as npt
import pytest

from frontdesk.errors import MediaError
from frontdesk.media.g722 import G722_PT, G722Codec
from frontdesk.media.prompt import Prompt
from frontdesk.media.rtp import RtpPacket, RtpSequencer
from frontdesk.media.session import MediaSession

START = 100.0
DELAY = 22  # samples: G.722's QMF analysis + synthesis
HEADER = struct.Struct("!BBHII")


def tones(seconds: float, *freqs: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    signal = sum(4000 * np.sin(2 * np.pi * f * t) for f in freqs)
    return np.rint(signal).astype("<i2").tobytes()


def pcm(data: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def snr_db(sent: bytes, heard: bytes, delay: int = DELAY, skip: int = 320) -> float:
    ref = pcm(sent)[skip : len(sent) // 2 - delay]
    out = pcm(heard)[skip + delay : skip + delay + len(ref)]
    return float(10 * np.log10(np.sum(ref**2) / np.sum((ref - out) ** 2)))


def band_energy(data: bytes, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(pcm(data)))
    freqs = np.fft.rfftfreq(len(data) // 2, 1 / 16000)
    return float(np.sum(spectrum[(freqs >= low) & (freqs < high)] ** 2))


def test_round_trip_is_clean_and_delayed_by_22_samples() -> None:
    sent = tones(1.0, 300, 1100, 5500)  # 5.5 kHz: beyond what G.711 can carry
    codec = G722Codec()
    payload = b"".join(codec.encode(sent[i : i + 640]) for i in range(0, len(sent), 640))
    assert len(payload) == len(sent) // 4  # 64 kbit/s: one byte per two samples
    heard = G722Codec().decode(payload)
    assert len(heard) == len(sent)
    delays = {d: snr_db(sent, heard, d) for d in range(0, 40)}
    assert max(delays, key=lambda d: delays[d]) == DELAY
    assert delays[DELAY] > 30
    assert band_energy(heard, 5000, 6000) > 0.1 * band_energy(sent, 5000, 6000)


def test_each_call_keeps_its_own_adpcm_state() -> None:
    sent = tones(0.5, 440)
    one, two = G722Codec(), G722Codec()
    frames = [sent[i : i + 640] for i in range(0, len(sent), 640)]
    first = [one.encode(f) for f in frames]
    assert [two.encode(f) for f in frames] == first  # same input, same state, same bytes
    assert one.encode(frames[0]) != first[0]  # state moved on


def test_pcm_must_be_whole_sample_pairs() -> None:
    with pytest.raises(MediaError):
        G722Codec().encode(b"\x00\x00")


def g722_session(**overrides: object) -> MediaSession:
    options: dict[str, object] = {
        "codec": "G722",
        "payload_type": G722_PT,
        "telephone_event_pt": 101,
        "ptime_ms": 20,
        "now": START,
        "ssrc": 0x5EED,
    }
    options.update(overrides)
    return MediaSession(**options)  # type: ignore[arg-type]


def send_all(session: MediaSession, packets: int) -> list[RtpPacket]:
    return [
        RtpPacket.parse(data) for k in range(packets) for data in session.tick(START + k * 0.02)
    ]


def test_session_sends_g722_at_8000_hz_rtp_clock() -> None:
    session = g722_session()
    packets = send_all(session, 5)
    assert {p.payload_type for p in packets} == {G722_PT}
    assert {len(p.payload) for p in packets} == {160}  # 20 ms at 64 kbit/s
    steps = {b.timestamp - a.timestamp for a, b in itertools.pairwise(packets)}
    assert steps == {160}  # RFC 3551 4.5.2: 8000 Hz clock for 16 kHz audio


def test_agent_speech_goes_out_at_16khz_unresampled() -> None:
    session = g722_session()
    speech = tones(1.0, 300, 5500)
    session.push_audio(speech[:1001])  # any length, even odd: nothing is lost
    session.push_audio(speech[1001:])
    assert session.pending_audio_ms == pytest.approx(1000.0)
    packets = send_all(session, 55)
    heard = G722Codec().decode(b"".join(p.payload for p in packets))
    assert snr_db(speech, heard) > 25  # the 4-8 kHz band has 2 bits per sample: < 30 dB
    assert band_energy(heard[: len(speech)], 5000, 6000) > 0.1 * band_energy(speech, 5000, 6000)


def test_caller_audio_reaches_the_agent_at_16khz_unresampled() -> None:
    session = g722_session()
    speech = tones(0.6, 300, 5500)
    caller = G722Codec()
    sequencer = RtpSequencer(G722_PT, ssrc=0xCA11)
    payloads = [caller.encode(speech[i : i + 640]) for i in range(0, len(speech), 640)]
    frames: list[bytes] = []
    for k, payload in enumerate(payloads):
        now = START + k * 0.02
        session.receive(sequencer.next_packet(payload, 160), now)
        frames += session.pull_audio(now)
    frames += session.pull_audio(START + 2.0)
    assert {len(f) for f in frames} == {640}  # 20 ms of 16 kHz s16le per packet
    assert b"".join(frames) == G722Codec().decode(b"".join(payloads))  # bit for bit
    assert session.lost == 0


def test_a_lost_g722_packet_is_20ms_of_16khz_silence() -> None:
    session = g722_session()
    caller = G722Codec()
    sequencer = RtpSequencer(G722_PT, ssrc=0xCA11)
    frames: list[bytes] = []
    for k in range(10):
        packet = sequencer.next_packet(caller.encode(tones(0.02, 440)), 160)
        if k != 4:
            session.receive(packet, START + k * 0.02)
        frames += session.pull_audio(START + k * 0.02)
    frames += session.pull_audio(START + 2.0)
    assert len(frames) == 10 and frames[4] == bytes(640)
    assert session.lost == 1


def test_prompt_plays_through_the_call_encoder() -> None:
    greeting = tones(0.5, 700)
    session = g722_session()
    session.play_prompt(Prompt(greeting))
    packets = send_all(session, 30)
    heard = G722Codec().decode(b"".join(p.payload for p in packets))
    assert snr_db(greeting, heard) > 30
    assert packets[0].marker
