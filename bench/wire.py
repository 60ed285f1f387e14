"""Read what crossed the wire: a tcpdump capture of loopback UDP, for exact timings.

sipp's own response-time clock moves in ~4 ms steps on this kernel, too coarse for a
2 ms target, so the benchmarks time INVITE → 200 and RTP send intervals from packet
capture timestamps (microseconds) instead. Handles the link types tcpdump uses on `lo`
and `any` (Ethernet, Linux cooked v1/v2), IPv4 only.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_LINKTYPE_ETHERNET = 1
_LINKTYPE_LINUX_SLL = 113
_LINKTYPE_LINUX_SLL2 = 276


@dataclass(frozen=True, slots=True)
class Datagram:
    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def read_pcap(path: Path) -> Iterator[Datagram]:
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    linktype = struct.unpack_from(endian + "I", data, 20)[0]
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, caplen, _ = struct.unpack_from(endian + "IIII", data, offset)
        offset += 16
        frame = data[offset : offset + caplen]
        offset += caplen
        stamp = sec + frac / (1e9 if nano else 1e6)
        if linktype == _LINKTYPE_ETHERNET:
            ip = frame[14:]
        elif linktype == _LINKTYPE_LINUX_SLL:
            ip = frame[16:]
        elif linktype == _LINKTYPE_LINUX_SLL2:
            ip = frame[20:]
        else:
            raise ValueError(f"unsupported link type {linktype}")
        if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0x0F) * 4
        src_ip = ".".join(str(b) for b in ip[12:16])
        dst_ip = ".".join(str(b) for b in ip[16:20])
        sport, dport = struct.unpack_from("!HH", ip, ihl)
        yield Datagram(stamp, (src_ip, sport), (dst_ip, dport), ip[ihl + 8 :])


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
