"""A tiny libpcap reader: sipp's RTP captures for the media tests, tcpdump's for benchmarks.

Owns: reading classic libpcap files (either byte order, micro- or nanosecond stamps) whose
link type is Ethernet (optionally 802.1Q tagged) or Linux cooked capture (v1 or v2), and
extracting the UDP payloads of IPv4 packets. Must not: depend on anything outside the standard
library, or understand anything above UDP (the tests hand payloads to `frontdesk.media`).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
LINKTYPE_LINUX_SLL2 = 276
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = 0x8100
IPPROTO_UDP = 17


class PcapError(Exception):
    """The capture file is not a pcap file this reader understands."""


@dataclass(frozen=True, slots=True)
class UdpDatagram:
    """One UDP datagram from a capture, with where it went and when."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def read_frames(path: Path) -> Iterator[tuple[float, int, bytes]]:
    """Yield (timestamp, link type, frame bytes) for every record in a libpcap file."""
    data = path.read_bytes()
    if len(data) < 24 or data[:4] not in _MAGIC:
        raise PcapError(f"{path}: not a libpcap file")
    endian, unit = _MAGIC[data[:4]]
    linktype = struct.unpack_from(endian + "I", data, 20)[0] & 0x0FFFFFFF
    offset = 24
    while offset + 16 <= len(data):
        sec, frac, incl_len, _orig_len = struct.unpack_from(endian + "IIII", data, offset)
        offset += 16
        if offset + incl_len > len(data):
            raise PcapError(f"{path}: truncated record at byte {offset}")
        yield sec + frac * unit, linktype, data[offset : offset + incl_len]
        offset += incl_len


def _udp_from_frame(time: float, linktype: int, frame: bytes) -> UdpDatagram | None:
    if linktype == LINKTYPE_ETHERNET:
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        offset = 14
        if ethertype == ETHERTYPE_VLAN:
            ethertype = struct.unpack_from("!H", frame, 16)[0]
            offset = 18
    elif linktype == LINKTYPE_LINUX_SLL:
        ethertype = struct.unpack_from("!H", frame, 14)[0]
        offset = 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        ethertype = struct.unpack_from("!H", frame, 0)[0]
        offset = 20
    else:
        raise PcapError(f"unsupported link type {linktype}")
    if ethertype != ETHERTYPE_IPV4:
        return None
    version_ihl = frame[offset]
    if version_ihl >> 4 != 4:
        return None
    ihl = (version_ihl & 0x0F) * 4
    (total_length,) = struct.unpack_from("!H", frame, offset + 2)
    (flags_fragment,) = struct.unpack_from("!H", frame, offset + 6)
    if flags_fragment & 0x3FFF:  # a fragment: the captures we replay have none
        return None
    if frame[offset + 9] != IPPROTO_UDP:
        return None
    src = _ip(frame[offset + 12 : offset + 16])
    dst = _ip(frame[offset + 16 : offset + 20])
    udp = offset + ihl
    sport, dport, udp_length = struct.unpack_from("!HHH", frame, udp)
    end = min(udp + udp_length, offset + total_length, len(frame))
    return UdpDatagram(time, (src, sport), (dst, dport), frame[udp + 8 : end])


def read_udp(path: Path) -> list[UdpDatagram]:
    """Every IPv4 UDP datagram of a capture, in capture order."""
    out = []
    for time, linktype, frame in read_frames(path):
        datagram = _udp_from_frame(time, linktype, frame)
        if datagram is not None:
            out.append(datagram)
    return out
