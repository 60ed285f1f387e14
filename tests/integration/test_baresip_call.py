"""A real call from baresip to the edge: the greeting is heard, and what we say comes back.

baresip (a real SIP phone, headless) dials a running edge with a WAV as its microphone:
9 s of silence (the greeting is 7.7 s; caller audio that arrives while it is still queued
is dropped by the responder), an espeak-ng sentence, then 4 s of silence; baresip hangs
up when the WAV ends. Its own recordings of what it sent and received are then compared
with the greeting asset and with the sentence, by 20 ms RMS energy envelopes.

Measured on the 2-core test machine: the call lasts 16.0 s and the edge ends it with
reason "remote-bye"; greeting envelope correlation 0.997 at 0 ms offset, heard from
0.025 s to 7.725 s; echo envelope correlation 0.995 at a lag of 80 ms (the 40 ms jitter
buffer plus packet timing; it was 160 ms while the responder kept a 100 ms backlog);
about 17-19 s per run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import require_tool, wait_for
from tests.support.audio import Pcm, best_lag, read_wav, rms_envelope
from tests.support.baresip import BaresipCall, place_call

from frontdesk.edge.server import EdgeServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTENCE = "Testing the front desk echo, one two three."
LEAD_S = 9.0  # silence before the sentence: the greeting (7.7 s) is over by then
TAIL_S = 4.0  # silence after it: its echo comes back before baresip hangs up
WINDOW_S = 0.020
HOP_S = 0.005  # finer steps for the echo lag
ACTIVE = 0.01  # RMS above -40 dBFS counts as sound


@pytest.fixture(autouse=True)
def _tools_installed() -> None:
    require_tool("baresip", "baresip")
    require_tool("sox", "sox")
    require_tool("espeak-ng", "espeak-ng")


def make_caller_audio(directory: Path) -> Path:
    """espeak-ng says SENTENCE; sox trims its edges, makes it 8 kHz and pads it."""
    raw, speech, caller = directory / "raw.wav", directory / "speech.wav", directory / "caller.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-w", str(raw), SENTENCE], check=True)
    subprocess.run(
        ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", str(speech),
         "silence", "1", "0.02", "1%", "reverse", "silence", "1", "0.02", "1%", "reverse"],
        check=True,
    )  # fmt: skip
    subprocess.run(["sox", str(speech), str(caller), "pad", str(LEAD_S), str(TAIL_S)], check=True)
    return caller


def greeting() -> Pcm:
    with resources.as_file(resources.files("frontdesk.assets") / "greeting.wav") as path:
        return read_wav(path)


def active_span(pcm: Pcm, start_s: float = 0.0, end_s: float | None = None) -> tuple[float, float]:
    """First and last moment (s) with sound between `start_s` and `end_s`."""
    env = rms_envelope(pcm.between(start_s, end_s).samples, pcm.rate, WINDOW_S, HOP_S)
    loud = np.flatnonzero(env > ACTIVE)
    assert len(loud), f"no sound between {start_s} s and {end_s} s"
    return start_s + float(loud[0]) * HOP_S, start_s + float(loud[-1]) * HOP_S + WINDOW_S


def rms(pcm: Pcm) -> float:
    return float(np.sqrt(np.mean(np.square(pcm.samples)))) if len(pcm.samples) else 0.0


async def test_baresip_hears_the_greeting_and_its_own_echo(
    edge: EdgeServer, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    caller_wav = make_caller_audio(tmp_path)
    assert edge.sip_address is not None
    call: BaresipCall = await place_call(
        "1000",
        "127.0.0.1",
        edge.sip_address[1],
        caller_wav,
        workdir=tmp_path / "baresip",
        timeout_s=30.0,
    )
    figures: dict[str, float | str] = {}

    def note(**values: float | str) -> None:  # reported even when a later check fails
        figures.update(values)
        for name, value in values.items():
            record_property(name, value)

    # (a) answered, and closed cleanly: baresip hangs up (BYE) when its WAV ends
    assert call.established and call.closed and not call.timed_out, call.describe()
    assert call.close_reason == "end of file", call.describe()
    assert call.exit_status == 0 and call.stopped_by == "quit", call.describe()
    assert await wait_for(lambda: edge.record(call.call_id or "") is not None, 3.0)
    record = edge.record(call.call_id or "")
    assert record is not None
    assert await wait_for(lambda: record.ended_at is not None, 3.0), record
    assert (record.outcome, record.reason, record.status) == ("answered", "remote-bye", 200)
    connected = call.connected_s or 0.0
    expected_packets = connected / 0.020
    assert record.rx_packets > 0.9 * expected_packets, (record, connected)
    assert record.tx_packets > 0.9 * expected_packets, (record, connected)
    assert edge.calls == {} and edge.ports.in_use == 0
    note(reason=record.reason, connected_s=round(connected, 2))
    note(rx_packets=record.rx_packets, tx_packets=record.tx_packets)

    assert call.sent_wav is not None and call.received_wav is not None, call.describe()
    sent, heard = read_wav(call.sent_wav), read_wav(call.received_wav)
    assert sent.rate == heard.rate == 8000

    # (b) the greeting: its envelope over the first ~8 s, at a small offset
    hello = greeting()
    match = best_lag(
        rms_envelope(hello.samples, hello.rate, WINDOW_S),
        rms_envelope(heard.between(0, 8.5).samples, heard.rate, WINDOW_S),
        min_lag=-5,
        max_lag=25,
    )
    offset_s = match.lag_s(WINDOW_S)
    note(greeting_corr=round(match.coefficient, 3), greeting_offset_ms=offset_s * 1e3)
    assert match.coefficient > 0.8, figures
    assert -0.1 <= offset_s <= 0.5, figures
    # non-silent over the greeting's span, as loud as the asset (G.711 keeps the level)
    span = heard.between(offset_s, offset_s + hello.duration_s)
    assert 0.7 < rms(span) / rms(hello) < 1.4, (rms(span), rms(hello))
    # and its length right: the sound starts and stops where the asset's does, then silence
    hello_start, hello_end = active_span(hello)
    heard_start, heard_end = active_span(heard, 0.0, LEAD_S - 0.3)
    note(greeting_heard_s=f"{heard_start:.3f}-{heard_end:.3f}")
    assert abs(heard_start - (hello_start + offset_s)) < 0.06, (heard_start, hello_start)
    assert abs(heard_end - (hello_end + offset_s)) < 0.06, (heard_end, hello_end, offset_s)
    assert rms(heard.between(heard_end + 0.1, LEAD_S)) < 0.002

    # (c) the echo: the sentence we sent comes back after a round trip. The lag is counted
    # in recording positions: sndfile writes each packet's samples back to back in both
    # files, so it is the edge's turnaround (RTP in to RTP out) without baresip's jitter
    # buffer (a capture on lo of one run put the turnaround at 158 ms on the wire).
    said_from, said_to = active_span(sent)
    assert LEAD_S - 0.1 < said_from < LEAD_S + 0.3, (said_from, said_to)
    reference = rms_envelope(
        sent.between(said_from - 0.2, said_to + 0.2).samples, 8000, WINDOW_S, HOP_S
    )
    echoed = rms_envelope(heard.between(said_from - 0.2).samples, 8000, WINDOW_S, HOP_S)
    echo = best_lag(reference, echoed, min_lag=-20, max_lag=200)
    echo_ms = round(echo.lag_s(HOP_S) * 1e3, 1)
    note(echo_corr=round(echo.coefficient, 3), echo_lag_ms=echo_ms)
    print(f"\nbaresip call figures: {figures}")
    assert echo.coefficient > 0.7, figures
    heard_from, _ = active_span(heard, LEAD_S - 0.3)
    note(echo_onset_ms=round((heard_from - said_from) * 1e3, 1))
    print(f"echo onset: {figures['echo_onset_ms']} ms after the sentence's")
    # measured 80 ms: the edge's 40 ms jitter buffer and ~20 ms of packet timing each way
    # (160 ms before the responder stopped keeping a 100 ms backlog behind the greeting)
    assert 0 <= echo_ms <= 100, figures
