"""What one call's media costs per 20 ms in each codec: G.711 (PCMU) against G.722.

    python -m bench.codec_bench

One `MediaSession` per codec on a simulated timeline (no sockets, no sleeping): every
20 ms a caller packet arrives (`receive`), the agent's side takes its frames
(`pull_audio`) and the next packet is sent (`tick`) while agent speech is queued, which
is the work the edge's media clock does for each live call. Prints CPU µs per 20 ms cycle
(process CPU time, so time spent descheduled by other load does not count; best of 9
runs of 3,000 cycles) and what that means in CPU for 500 calls, as a Markdown block for
docs/benchmarks.md.
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

from frontdesk.media import g711
from frontdesk.media.g722 import G722_PT, G722Codec
from frontdesk.media.rtp import RtpSequencer
from frontdesk.media.session import MediaSession

CYCLES = 3000
RUNS = 9


def speech16k(seconds: float) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    signal = 5000 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return np.rint(signal).astype("<i2").tobytes()


def caller_payloads(codec: str, count: int) -> list[bytes]:
    pcm = speech16k(count * 0.02)
    if codec == "G722":
        encoder = G722Codec()
        return [encoder.encode(pcm[i * 640 : (i + 1) * 640]) for i in range(count)]
    pcm8k = np.frombuffer(pcm, "<i2")[::2].astype("<i2").tobytes()
    return [g711.encode("PCMU", pcm8k[i * 320 : (i + 1) * 320]) for i in range(count)]


def run_once(codec: str, payloads: list[bytes]) -> float:
    pt = G722_PT if codec == "G722" else 0
    session = MediaSession(codec=codec, payload_type=pt, telephone_event_pt=101, now=0.0)
    session.push_audio(speech16k(CYCLES * 0.02))
    sequencer = RtpSequencer(pt, ssrc=0xCA11)
    packets = [sequencer.next_packet(p, 160) for p in payloads]
    started = time.process_time()
    for k, packet in enumerate(packets):
        now = k * 0.02
        session.receive(packet, now)
        session.pull_audio(now)
        session.tick(now)
    return (time.process_time() - started) / len(packets) * 1e6


def main() -> None:
    print(f"\n### Media cost per call — {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    print("Command: `python -m bench.codec_bench`\n")
    print("| codec | CPU µs per 20 ms (receive + pull + send) | CPU for 500 calls |")
    print("|---|---|---|")
    for codec in ("PCMU", "G722"):
        payloads = caller_payloads(codec, CYCLES)
        best = min(run_once(codec, payloads) for _ in range(RUNS))
        print(f"| {codec} | {best:.1f} | {best * 50 * 500 / 1e6 * 100:.0f}% of a core |")


if __name__ == "__main__":
    main()
