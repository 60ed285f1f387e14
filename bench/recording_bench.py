"""What recording a call costs: on the media loop, on the writer thread, on disk, in memory.

    python -m bench.recording_bench [--quick]

1. The media loop: one `MediaSession` (PCMU and G.722) on a simulated timeline, as in
   bench/codec_bench.py (every 20 ms: a caller packet received, frames pulled, the next
   packet sent), without and with a `CallRecording` fed exactly as `EdgeCall.tick` feeds
   it, while a real `RecordingWriter` thread drains it. CPU µs per 20 ms of the loop's
   own thread (`time.thread_time`), best of several runs: the writer's work is not in it.
2. The writer thread: CPU per minute of recorded call (decoding what was sent, aligning,
   Opus encoding, writing), from process CPU time while the writer alone runs through
   queued calls; speech-like audio on both channels all the time (the worst case: a real
   call has silence, which Opus encodes for less). Disk bytes per minute from the files.
3. Memory per live recorded call: RSS growth with many recordings open at once.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from frontdesk.calls.responder import asset_pcm
from frontdesk.media import g711
from frontdesk.media.g722 import G722_PT, G722Codec
from frontdesk.media.rtp import RtpSequencer
from frontdesk.media.session import MediaSession
from frontdesk.recordings.writer import RecordingWriter

CYCLES = 3000  # 60 s of call per run


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def speech16k(seconds: float) -> bytes:
    """The shipped greeting (real speech, 16 kHz) looped to `seconds`."""
    greeting = asset_pcm("greeting.wav")
    need = round(seconds * 16000) * 2
    return (greeting * (need // len(greeting) + 1))[:need]


def caller_packets(codec: str, count: int) -> list[bytes]:
    pcm = speech16k(count * 0.02)[::-1]  # a different "voice": the greeting backwards
    pcm = pcm[: len(pcm) // 2 * 2]
    pt = G722_PT if codec == "G722" else 0
    sequencer = RtpSequencer(pt, ssrc=0xCA11)
    if codec == "G722":
        encoder = G722Codec()
        payloads = [encoder.encode(pcm[i * 640 : (i + 1) * 640]) for i in range(count)]
    else:
        pcm8k = np.frombuffer(pcm, "<i2")[::2].astype("<i2").tobytes()
        payloads = [g711.encode("PCMU", pcm8k[i * 320 : (i + 1) * 320]) for i in range(count)]
    return [sequencer.next_packet(p, 160) for p in payloads]


def loop_cost(codec: str, packets: list[bytes], writer: RecordingWriter | None) -> float:
    """Loop-thread CPU µs per 20 ms for one call, recorded when `writer` is given."""
    pt = G722_PT if codec == "G722" else 0
    session = MediaSession(codec=codec, payload_type=pt, telephone_event_pt=101, now=0.0)
    session.push_audio(speech16k(len(packets) * 0.02))
    recording = None
    if writer is not None:
        recording = writer.open(uuid.uuid4(), uuid.uuid4(), codec, 0.0)
    started = time.thread_time()
    for k, packet in enumerate(packets):
        now = k * 0.02
        session.receive(packet, now)
        frames = session.pull_audio(now)
        sent = session.tick(now)
        if recording is not None:  # what EdgeCall.tick adds for a recorded call
            recording.agent_sent(now, sent)
            recording.caller_heard(now, frames)
    spent = time.thread_time() - started
    if recording is not None:
        recording.close()
    return spent / len(packets) * 1e6


def writer_cost(codec: str, packets: list[bytes], calls: int, folder: Path) -> tuple[float, float]:
    """(writer CPU seconds per call-minute, bytes per call-minute) for `calls` queued calls."""
    writer = RecordingWriter(folder, max_queued_s=3600)
    minutes = len(packets) * 0.02 / 60
    paths = []
    for _ in range(calls):  # queue every call's whole timeline first, then let the writer go
        pt = G722_PT if codec == "G722" else 0
        session = MediaSession(codec=codec, payload_type=pt, telephone_event_pt=101, now=0.0)
        session.push_audio(speech16k(len(packets) * 0.02))
        recording = writer.open(uuid.uuid4(), uuid.uuid4(), codec, 0.0)
        for k, packet in enumerate(packets):
            now = k * 0.02
            session.receive(packet, now)
            recording.caller_heard(now, session.pull_audio(now))
            recording.agent_sent(now, session.tick(now))
        recording.close()
        paths.append(recording.path)
    started = time.process_time()
    writer.start()
    while writer.written_files < calls:
        time.sleep(0.01)
    cpu = time.process_time() - started
    writer.stop()
    size = sum(p.stat().st_size for p in paths)
    return cpu / calls / minutes, size / calls / minutes


def memory_per_recording(count: int, folder: Path) -> float:
    writer = RecordingWriter(folder, poll_s=0.02)
    writer.start()
    frame = speech16k(0.02)
    before = rss_kib()
    recordings = [writer.open(uuid.uuid4(), uuid.uuid4(), "G722", 0.0) for _ in range(count)]
    for k in range(1, 51):  # one second each: every file open and encoding
        for recording in recordings:
            recording.caller_heard(k * 0.02, [frame])
    while writer.live > count or any(r._items for r in recordings):
        time.sleep(0.02)
    time.sleep(0.2)
    grown = rss_kib() - before
    for recording in recordings:
        recording.close()
    writer.stop()
    return grown / count


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    runs, calls, live = (3, 4, 50) if quick else (7, 10, 200)
    print(f"\n### Call recording's cost — {time.strftime('%Y-%m-%d %H:%M')}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}")  # fmt: skip
    print(f"Command: `python -m bench.recording_bench{' --quick' if quick else ''}`\n")
    print("| codec | loop µs/20 ms, not recorded | recorded | writer CPU per call-minute"
          " | = cores for 100 recorded calls | disk per call-minute |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="recording-bench-") as tmp:
        folder = Path(tmp)
        for codec in ("PCMU", "G722"):
            packets = caller_packets(codec, CYCLES)
            writer = RecordingWriter(folder / "loop", max_queued_s=3600)
            writer.start()
            plain, recorded = float("inf"), float("inf")
            for _ in range(runs):  # interleaved, so drifting load hits both alike
                plain = min(plain, loop_cost(codec, packets, None))
                recorded = min(recorded, loop_cost(codec, packets, writer))
            writer.stop()
            cpu_min, bytes_min = writer_cost(codec, packets, calls, folder / codec)
            print(f"| {codec} | {plain:.1f} | {recorded:.1f} (+{recorded - plain:.1f}) | "
                  f"{cpu_min:.2f} s ({cpu_min / 60 * 100:.1f}% of a core) | "
                  f"{cpu_min / 60 * 100:.1f} | {bytes_min / 1024:.0f} KiB |")  # fmt: skip
        per_call = memory_per_recording(live, folder / "memory")
    print(f"\nMemory per live recorded call (RSS growth with {live} recordings open and"
          f" encoding, G.722): {per_call:.0f} KiB on top of the call's own.")  # fmt: skip


if __name__ == "__main__":
    main()
