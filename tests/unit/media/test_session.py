"""MediaSession on fake timelines: `now` is a number we choose, nothing sleeps."""

from __future__ import annotations

import itertools
import random
import struct

import numpy as np
import numpy.typing as npt
import pytest

from frontdesk.errors import MediaError
from frontdesk.media import g711
from frontdesk.media.dtmf import DtmfDigit, dtmf_packets
from frontdesk.media.rtcp import build_bye, build_rr
from frontdesk.media.rtp import RtpPacket, RtpSequencer
from frontdesk.media.session import MediaSession

START = 5000.0
PTIME = 0.02
HEADER = struct.Struct("!BBHII")


def new_session(**overrides: object) -> MediaSession:
    options: dict[str, object] = {
        "codec": "PCMU",
        "payload_type": 0,
        "telephone_event_pt": 101,
        "ptime_ms": 20,
        "now": START,
        "ssrc": 0x5EED,
    }
    options.update(overrides)
    return MediaSession(**options)  # type: ignore[arg-type]


def sine16k(freq: float, seconds: float, amplitude: float = 8000.0) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def pcm(data: bytes) -> npt.NDArray[np.float64]:
    return np.frombuffer(data, dtype="<i2").astype(np.float64)


def at(k: int) -> float:
    return START + k * PTIME


# -- sending -----------------------------------------------------------------------------


def test_one_hour_call_sends_exactly_180000_packets_without_drift() -> None:
    session = new_session()
    first = HEADER.unpack_from(session.tick(at(0))[0])
    seq0, ts0 = first[2], first[3]
    count = 1
    previous_seq = seq0
    for k in range(1, 180_000):
        packets = session.tick(at(k))
        assert len(packets) == 1
        _, second, seq, ts, _ssrc = HEADER.unpack_from(packets[0])
        assert seq == (previous_seq + 1) & 0xFFFF
        assert ts == (ts0 + 160 * k) & 0xFFFFFFFF  # media time is wall time, exactly
        assert second == 0  # PCMU, no marker: nothing but silence after the first
        previous_seq = seq
        count += 1
    assert count == session.tx_packets == 180_000
    assert session.late_skips == 0
    assert session.next_deadline() == pytest.approx(START + 3600.0, abs=1e-9)
    assert first[1] == 0x80  # the first packet carries the marker
    assert first[4] == session.ssrc == 0x5EED


def test_a_jittery_timer_neither_drifts_nor_bursts() -> None:
    """An edge ticking every 10 ms, each tick up to 9 ms late, for ten minutes."""
    session = new_session()
    rng = random.Random(3)
    sent = 0
    ticks = 60_000
    for j in range(ticks):
        now = START + j * 0.01 + rng.uniform(0.0001, 0.009)
        packets = session.tick(now)
        assert len(packets) <= 1
        sent += len(packets)
        assert sent == int((now - START) / PTIME) + 1  # exactly what is due, always
    assert session.late_skips == 0
    assert sent == ticks // 2


def test_early_ticks_send_nothing() -> None:
    session = new_session()
    assert session.next_deadline() == START
    assert session.tick(START - 0.001) == []
    assert len(session.tick(START)) == 1
    assert session.next_deadline() == pytest.approx(START + PTIME)
    assert session.tick(START + 0.0199) == []
    assert len(session.tick(START + 0.02)) == 1


def test_a_little_late_catches_up_with_a_short_burst() -> None:
    session = new_session()
    session.tick(at(0))
    packets = session.tick(at(4))  # 3 packets overdue plus the one due now
    assert len(packets) == 4
    assert session.late_skips == 0


def test_very_late_skips_ahead_instead_of_bursting() -> None:
    session = new_session()
    sent = [RtpPacket.parse(session.tick(at(k))[0]) for k in range(10)]
    packets = session.tick(at(20) + 0.005)  # stalled 200 ms: 10 overdue
    assert len(packets) == 1
    late = RtpPacket.parse(packets[0])
    assert late.sequence == (sent[-1].sequence + 1) & 0xFFFF  # no gap in sequence
    assert late.timestamp == (sent[0].timestamp + 20 * 160) & 0xFFFFFFFF  # but in time
    assert late.marker
    assert session.late_skips == 1
    assert session.skipped_packets == 10
    assert session.next_deadline() == pytest.approx(at(21))
    assert len(session.tick(at(21))) == 1


def test_queued_speech_goes_out_then_silence() -> None:
    session = new_session()
    session.push_audio(sine16k(1000, 0.1))  # five packets' worth
    assert session.pending_audio_ms == pytest.approx(100.0)
    packets = [RtpPacket.parse(session.tick(at(k))[0]) for k in range(8)]
    silence = g711.silence_payload("PCMU", 160)
    assert [p.payload != silence for p in packets] == [True] * 5 + [False] * 3
    assert [p.marker for p in packets] == [True] + [False] * 7
    assert session.pending_audio_ms == 0
    speech = np.concatenate([pcm(g711.decode("PCMU", p.payload)) for p in packets[:5]])
    spectrum = np.abs(np.fft.rfft(speech[40:]))
    assert np.argmax(spectrum) * 8000 / len(speech[40:]) == pytest.approx(1000, abs=20)
    # a new utterance after silence starts with the marker bit again
    session.push_audio(sine16k(500, 0.04))
    more = [RtpPacket.parse(session.tick(at(k))[0]) for k in range(8, 11)]
    assert [p.marker for p in more] == [True, False, False]
    assert [p.payload != silence for p in more] == [True, True, False]
    timestamps = [p.timestamp for p in packets + more]
    assert all(b - a == 160 for a, b in itertools.pairwise(timestamps))


def test_pending_audio_counts_down() -> None:
    session = new_session()
    session.push_audio(sine16k(440, 1.0))
    session.tick(at(0))
    assert session.pending_audio_ms == pytest.approx(980.0)
    for k in range(1, 10):
        session.tick(at(k))
    assert session.pending_audio_ms == pytest.approx(800.0)
    session.tick(at(30))  # a stall skips packet slots but keeps the speech queued
    assert session.late_skips == 1
    assert session.pending_audio_ms == pytest.approx(780.0)


def test_a_partial_frame_is_padded_with_silence() -> None:
    session = new_session()
    session.push_audio(sine16k(1000, 0.03))
    _first, second = (RtpPacket.parse(session.tick(at(k))[0]) for k in range(2))
    tail = pcm(g711.decode("PCMU", second.payload))
    assert np.abs(tail[:60]).max() > 1000
    assert np.abs(tail[90:]).max() == 0
    assert session.pending_audio_ms == 0


def test_odd_byte_pushes_are_joined() -> None:
    session = new_session()
    audio = sine16k(1000, 0.02)
    session.push_audio(audio[:101])
    session.push_audio(audio[101:])
    payload = RtpPacket.parse(session.tick(at(0))[0]).payload
    reference = new_session()
    reference.push_audio(audio)
    assert payload == RtpPacket.parse(reference.tick(at(0))[0]).payload


def test_clear_audio_stops_speech_at_once() -> None:
    session = new_session()
    session.push_audio(sine16k(1000, 2.0))
    session.tick(at(0))
    session.tick(at(1))
    session.clear_audio()
    assert session.pending_audio_ms == 0
    packet = RtpPacket.parse(session.tick(at(2))[0])
    assert packet.payload == g711.silence_payload("PCMU", 160)


def test_pcma_and_30ms() -> None:
    session = new_session(codec="pcma", payload_type=8, ptime_ms=30)
    packets = [RtpPacket.parse(p) for k in range(2000) for p in session.tick(START + k * 0.03)]
    assert len(packets) == 2000  # one minute
    assert {p.payload_type for p in packets} == {8}
    assert {p.payload for p in packets} == {b"\xd5" * 240}
    assert packets[-1].timestamp - packets[0].timestamp == 1999 * 240


def test_bad_configuration() -> None:
    with pytest.raises(MediaError):
        new_session(codec="G729")
    with pytest.raises(MediaError):
        new_session(ptime_ms=25)


# -- receiving ---------------------------------------------------------------------------


class Peer:
    """The other end: sends a 1 kHz tone at 8 kHz, plus RFC 4733 events, every 20 ms."""

    def __init__(self, codec: g711.Codec = "PCMU", payload_type: int = 0) -> None:
        self.codec: g711.Codec = codec
        self.rtp = RtpSequencer(payload_type, ssrc=0xABCD, sequence=65500, timestamp=123)
        self.n = 0

    def audio(self) -> bytes:
        t = (np.arange(160) + 160 * self.n) / 8000
        samples = np.rint(8000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2")
        self.n += 1
        return self.rtp.next_packet(g711.encode(self.codec, samples.tobytes()), 160)


def play(
    session: MediaSession, datagrams: list[tuple[int, bytes]], until: int
) -> tuple[list[tuple[float, bytes]], list[DtmfDigit]]:
    """Deliver datagram i at at(i); pull audio every 10 ms, as the edge's clock does."""
    frames: list[tuple[float, bytes]] = []
    digits: list[DtmfDigit] = []
    by_slot: dict[int, list[bytes]] = {}
    for slot, data in datagrams:
        by_slot.setdefault(slot, []).append(data)
    for half in range(2 * until):
        now = START + half * 0.01
        if half % 2 == 0:
            for data in by_slot.get(half // 2, []):
                digits += session.receive(data, now)
        frames += [(now, f) for f in session.pull_audio(now)]
    return frames, digits


def test_inbound_8k_audio_comes_out_as_16k_frames() -> None:
    session = new_session()
    peer = Peer()
    frames, _ = play(session, [(k, peer.audio()) for k in range(50)], until=60)
    assert len(frames) == 50
    assert {len(f) for _, f in frames} == {640}  # 20 ms of 16 kHz s16le each
    assert frames[0][0] == pytest.approx(at(0) + 0.04)  # after the 40 ms jitter depth
    signal = np.concatenate([pcm(f) for _, f in frames])
    spectrum = np.abs(np.fft.rfft(signal[320:]))
    assert np.argmax(spectrum) * 16000 / len(signal[320:]) == pytest.approx(1000, abs=20)
    assert np.sqrt(np.mean(signal[320:] ** 2)) == pytest.approx(8000 / np.sqrt(2), rel=0.05)
    assert session.rx_packets == 50
    assert session.rx_bytes == 50 * 172
    assert session.last_rx_time == pytest.approx(at(49))


def test_a_lost_packet_becomes_a_frame_of_silence() -> None:
    session = new_session()
    peer = Peer()
    datagrams = [(k, peer.audio()) for k in range(20)]
    del datagrams[10]
    frames, _ = play(session, datagrams, until=30)
    assert len(frames) == 20
    assert frames[10][0] == pytest.approx(at(10) + 0.04)  # in its place in time
    lost = pcm(frames[10][1])
    assert np.abs(lost[16:]).max() <= 2  # after the resampler's few samples of tail
    assert np.abs(pcm(frames[11][1])).max() > 5000
    assert session.lost == 1


def test_dtmf_is_reported_once_and_does_not_count_as_loss() -> None:
    session = new_session()
    peer = Peer()
    datagrams: list[tuple[int, bytes]] = [(k, peer.audio()) for k in range(10)]
    start_ts = peer.rtp.timestamp
    for i, payload in enumerate(dtmf_packets("5", 100)):  # 7 packets replace the audio
        data = peer.rtp.next_packet(
            payload, 160, payload_type=101, timestamp=start_ts, marker=i == 0
        )
        datagrams.append((10 + i, data))
        if i >= 4:  # the end packets, each retransmitted once more
            datagrams.append((10 + i, data))
    datagrams += [(k, peer.audio()) for k in range(17, 30)]
    frames, digits = play(session, datagrams, until=40)
    assert digits == [DtmfDigit("5", 100)]
    assert session.lost == 0
    assert len(frames) == 23  # audio packets only; the event's time has no frames


def test_dtmf_without_end_packets_is_expired() -> None:
    session = new_session(dtmf_timeout_s=0.3)
    peer = Peer()
    start_ts = peer.rtp.timestamp
    for i, payload in enumerate(list(dtmf_packets("#", 100))[:4]):
        session.receive(
            peer.rtp.next_packet(payload, 160, payload_type=101, timestamp=start_ts), at(i)
        )
    assert session.expire_dtmf(at(4)) == []
    assert session.expire_dtmf(at(3) + 0.31) == [DtmfDigit("#", 80)]
    assert session.expire_dtmf(at(100)) == []


def test_no_dtmf_payload_type_means_no_dtmf() -> None:
    session = new_session(telephone_event_pt=None)
    peer = Peer()
    for payload in dtmf_packets("1", 40):
        assert session.receive(peer.rtp.next_packet(payload, 160, payload_type=101), START) == []
    assert session.other_payload == 4
    assert session.expire_dtmf(START + 10) == []


def test_rtcp_is_counted_not_played_and_bye_noticed() -> None:
    session = new_session()
    assert session.receive(bytes(build_rr(1)), START + 1) == []
    assert (session.rtcp_packets, session.remote_bye) == (1, False)
    assert session.rx_packets == 0
    assert session.last_rx_time == START  # RTCP is not media
    session.receive(bytes(build_rr(1)) + bytes(build_bye(1)), START + 2)
    assert session.remote_bye
    assert session.pull_audio(START + 3) == []


def test_malformed_and_foreign_datagrams_are_counted() -> None:
    session = new_session()
    for data in (b"", b"\x00", b"\x40" + bytes(20), bytes.fromhex("80c8ffff"), bytes(12)):
        assert session.receive(data, START + 1) == []
    bad_event = RtpSequencer(101, ssrc=1).next_packet(b"\x01", 160)
    assert session.receive(bad_event, START + 1) == []
    comfort_noise = RtpSequencer(13, ssrc=1).next_packet(b"\x40", 160)
    session.receive(comfort_noise, START + 1)
    assert session.malformed == 6
    assert session.other_payload == 1
    assert session.rx_packets == 2
    assert session.last_rx_time == START + 1


def test_last_rx_time_starts_at_the_start() -> None:
    session = new_session()
    assert session.last_rx_time == START
    session.receive(Peer().audio(), START + 7)
    assert session.last_rx_time == START + 7
