"""Read what crossed the wire: a tcpdump capture of loopback UDP, for exact timings.

sipp's own response-time clock moves in ~4 ms steps on this kernel, too coarse for a
2 ms target, so the benchmarks time INVITE → 200 and RTP send intervals from packet
capture timestamps (microseconds) instead (read with `tests.support.pcap`).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.pcap import read_udp as read_pcap


@contextmanager
def capture(bpf: str, path: Path, interface: str = "lo", buffer_kib: int = 65536) -> Iterator[Path]:
    """Run tcpdump while the block runs (needs root)."""
    argv = ["tcpdump", "-i", interface, "-n", "-U", "-B", str(buffer_kib), "-w", str(path), bpf]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    seen = b""
    deadline = time.monotonic() + 5
    while b"listening on" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen += proc.stderr.read() or b""
    try:
        yield path
    finally:
        time.sleep(0.5)
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()


def call_id_of(payload: bytes) -> str | None:
    for line in payload.split(b"\r\n", 20):
        lower = line[:8].lower()
        if lower.startswith(b"call-id:") or lower.startswith(b"i:"):
            return line.split(b":", 1)[1].strip().decode("latin-1")
    return None


def invite_to_answer_ms(path: Path, answer: bytes = b"SIP/2.0 200") -> list[float]:
    """Per call: first INVITE seen → first `answer` response to it, in milliseconds."""
    invites: dict[str, float] = {}
    latencies: list[float] = []
    for datagram in read_pcap(path):
        payload = datagram.payload
        if payload.startswith(b"INVITE "):
            call_id = call_id_of(payload)
            if call_id is not None and call_id not in invites:
                invites[call_id] = datagram.time
        elif payload.startswith(answer) and b"INVITE" in payload.split(b"\r\n\r\n", 1)[0]:
            call_id = call_id_of(payload)
            start = invites.pop(call_id, None) if call_id is not None else None
            if start is not None:
                latencies.append((datagram.time - start) * 1000)
    return latencies


def send_intervals_ms(path: Path, src_ports: range) -> list[float]:
    """Intervals between consecutive RTP packets of each stream sent from `src_ports`."""
    last: dict[int, float] = {}
    intervals: list[float] = []
    for datagram in read_pcap(path):
        port = datagram.src[1]
        if port in src_ports and len(datagram.payload) >= 12 and datagram.payload[0] >> 6 == 2:
            previous = last.get(port)
            if previous is not None:
                intervals.append((datagram.time - previous) * 1000)
            last[port] = datagram.time
    return intervals
