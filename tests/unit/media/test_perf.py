"""The per-packet cost of a call's media engine, against the budget of 500 calls per core.

500 calls × 50 packets/s each way is 25,000 packets/s in and 25,000 out: one core gives
40 µs to receive one, play it out and send one. The figure is printed (`pytest -s`).
"""

from __future__ import annotations

import timeit

import numpy as np

from frontdesk.media import g711
from frontdesk.media.rtp import RtpSequencer
from frontdesk.media.session import MediaSession

BUDGET_US = 40.0  # one core for 500 calls; we aim well under it


def per_packet_us(n: int = 20_000) -> float:
    session = MediaSession(
        codec="PCMU", payload_type=0, telephone_event_pt=101, ptime_ms=20, now=0.0
    )
    peer = RtpSequencer(0, ssrc=1234, sequence=65000, timestamp=0)
    t = np.arange(160) / 8000
    tone = np.rint(6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    packets = [peer.next_packet(g711.encode("PCMU", tone), 160) for _ in range(n)]
    speech = np.rint(6000 * np.sin(np.arange(32000) * 0.1)).astype("<i2").tobytes()  # 2 s
    step = iter(range(n))

    def one_packet() -> None:
        i = next(step)
        now = i * 0.02
        session.receive(packets[i], now)
        session.pull_audio(now)
        session.tick(now)
        if session.pending_audio_ms < 100:  # a TTS keeping ahead of the line
            session.push_audio(speech)

    seconds = timeit.timeit(one_packet, number=n)
    assert session.rx_packets == session.tx_packets == n
    assert session.jitter_stats.played >= n - 3
    return seconds / n * 1e6


def test_per_packet_cost_fits_the_budget() -> None:
    cost = min(per_packet_us() for _ in range(3))
    calls_per_core = 1e6 / (cost * 50)
    print(f"\nMediaSession receive+pull_audio+tick: {cost:.1f} µs per packet each way")
    print(f"= {calls_per_core:.0f} calls per core at 50 packets/s each way")
    assert cost < BUDGET_US
