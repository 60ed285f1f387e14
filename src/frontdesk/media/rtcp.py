"""Minimal RTCP (RFC 3550 §6): read compound packets, write sender and receiver reports.

Owns: the RTCP common header (`RtcpPacket`, one packet of a compound datagram, body kept
as bytes), splitting a compound datagram (`parse_compound`), report blocks
(`ReportBlock`), and builders for SR, RR and BYE. That is enough to count RTCP, notice a
peer's BYE and send basic reports.

Must not: read clocks (the NTP time of a sender report is passed in), open sockets, or
interpret SDES items and APP packets (their bodies stay opaque bytes). Network input is
checked explicitly and rejected with `RtpParseError`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from frontdesk.errors import MediaError, RtpParseError

__all__ = [
    "RTCP_APP",
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SDES",
    "RTCP_SR",
    "ReportBlock",
    "RtcpPacket",
    "build_bye",
    "build_rr",
    "build_sr",
    "ntp_timestamp",
    "parse_compound",
]

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
RTCP_APP = 204

_COMMON = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IQIII")  # SSRC, NTP timestamp, RTP timestamp, counts
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """One reception report block (RFC 3550 §6.4.1), 24 octets on the wire."""

    ssrc: int
    fraction_lost: int  # fixed point, lost/expected * 256
    cumulative_lost: int  # signed 24-bit: duplicates can make it negative
    highest_sequence: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, in timestamp units
    last_sr: int = 0  # middle 32 bits of the NTP time of the last SR received
    delay_since_last_sr: int = 0  # in units of 1/65536 s

    SIZE = 24

    @classmethod
    def parse(cls, data: bytes) -> ReportBlock:
        if len(data) < cls.SIZE:
            raise RtpParseError(f"RTCP report block too short: {len(data)} bytes")
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(data)
        cumulative = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, cumulative, highest, jitter, lsr, dlsr)

    def __bytes__(self) -> bytes:
        # RFC 3550 §6.4.1: clamp the cumulative count to what 24 signed bits hold.
        lost = max(-0x800000, min(0x7FFFFF, self.cumulative_lost))
        try:
            return _BLOCK.pack(
                self.ssrc,
                self.fraction_lost,
                lost.to_bytes(3, "big", signed=True),
                self.highest_sequence & 0xFFFFFFFF,
                self.jitter,
                self.last_sr,
                self.delay_since_last_sr,
            )
        except struct.error as exc:
            raise MediaError(f"report block field out of range: {exc}") from exc


@dataclass(frozen=True, slots=True)
class RtcpPacket:
    """One RTCP packet of a compound datagram: common header plus opaque body.

    `count` is the 5-bit field after the padding bit (report count for SR/RR, source
    count for SDES/BYE, subtype for APP). `body` is everything after the 4-octet common
    header, padding removed; `padding` is the number of padding octets, as in RTP.
    """

    packet_type: int
    count: int = 0
    body: bytes = b""
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtcpPacket:
        """Read exactly one RTCP packet; its length field must cover all of `data`."""
        packets = parse_compound(data)
        if len(packets) != 1:
            raise RtpParseError(f"expected one RTCP packet, found {len(packets)}")
        return packets[0]

    def __bytes__(self) -> bytes:
        length = 4 + len(self.body) + self.padding
        if length % 4:
            raise MediaError(f"RTCP packet of {length} octets is not a whole number of words")
        if not 0 <= self.count <= 31 or not 0 <= self.packet_type <= 255:
            raise MediaError("RTCP count or packet type out of range")
        if not 0 <= self.padding <= 255:
            raise MediaError(f"RTCP padding {self.padding} out of range")
        first = 0x80 | (0x20 if self.padding else 0) | self.count
        pad = bytes(self.padding - 1) + bytes((self.padding,)) if self.padding else b""
        return _COMMON.pack(first, self.packet_type, length // 4 - 1) + self.body + pad

    @property
    def ssrc(self) -> int | None:
        """The SSRC of the sender (SR, RR), of the first source (SDES, BYE), or None."""
        if len(self.body) < 4 or (self.packet_type in (RTCP_SDES, RTCP_BYE) and not self.count):
            return None
        return int.from_bytes(self.body[:4], "big")

    @property
    def is_bye(self) -> bool:
        return self.packet_type == RTCP_BYE

    def report_blocks(self) -> tuple[ReportBlock, ...]:
        """The reception report blocks of an SR or RR (empty for other types)."""
        if self.packet_type == RTCP_SR:
            start = _SENDER_INFO.size
        elif self.packet_type == RTCP_RR:
            start = 4
        else:
            return ()
        end = start + self.count * ReportBlock.SIZE
        if end > len(self.body):
            raise RtpParseError(f"RTCP report count {self.count} runs past the packet")
        return tuple(
            ReportBlock.parse(self.body[offset : offset + ReportBlock.SIZE])
            for offset in range(start, end, ReportBlock.SIZE)
        )


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split a compound RTCP datagram into its packets (RFC 3550 §6.1).

    Every packet must be version 2 and the length fields must add up to the datagram.
    Only the last packet may be padded. The RFC's rule that a compound packet starts with
    SR or RR is not enforced (RFC 5506 reduced-size RTCP drops it).
    """
    packets = []
    offset = 0
    total = len(data)
    if total < 4:
        raise RtpParseError(f"RTCP datagram too short: {total} bytes")
    while offset < total:
        if offset + 4 > total:
            raise RtpParseError("RTCP datagram ends inside a header")
        first, packet_type, words = _COMMON.unpack_from(data, offset)
        if first >> 6 != 2:
            raise RtpParseError(f"RTCP version {first >> 6}, expected 2")
        end = offset + 4 * (words + 1)
        if end > total:
            raise RtpParseError("RTCP length field runs past the datagram")
        padding = 0
        if first & 0x20:
            if end != total:
                raise RtpParseError("RTCP padding on a packet other than the last")
            padding = data[end - 1]
            if padding == 0 or offset + 4 + padding > end:
                raise RtpParseError(f"RTCP padding count {padding} is invalid")
        body = bytes(data[offset + 4 : end - padding])
        packets.append(RtcpPacket(packet_type, first & 0x1F, body, padding))
        offset = end
    return packets


def ntp_timestamp(unix_seconds: float) -> int:
    """The 64-bit NTP timestamp (RFC 3550 §4) of a Unix time passed in by the caller."""
    return round((unix_seconds + _NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def _check_blocks(blocks: Sequence[ReportBlock]) -> bytes:
    if len(blocks) > 31:
        raise MediaError(f"{len(blocks)} report blocks: at most 31 fit one packet")
    return b"".join(bytes(block) for block in blocks)


def build_rr(ssrc: int, blocks: Sequence[ReportBlock] = ()) -> RtcpPacket:
    """A receiver report (RFC 3550 §6.4.2) from `ssrc`, with up to 31 report blocks."""
    body = ssrc.to_bytes(4, "big") + _check_blocks(blocks)
    return RtcpPacket(RTCP_RR, len(blocks), body)


def build_sr(
    ssrc: int,
    *,
    ntp_time: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    blocks: Sequence[ReportBlock] = (),
) -> RtcpPacket:
    """A sender report (RFC 3550 §6.4.1); `ntp_time` comes from `ntp_timestamp`."""
    try:
        info = _SENDER_INFO.pack(
            ssrc,
            ntp_time,
            rtp_timestamp & 0xFFFFFFFF,
            packet_count & 0xFFFFFFFF,
            octet_count & 0xFFFFFFFF,
        )
    except struct.error as exc:
        raise MediaError(f"sender report field out of range: {exc}") from exc
    return RtcpPacket(RTCP_SR, len(blocks), info + _check_blocks(blocks))


def build_bye(ssrc: int) -> RtcpPacket:
    """A BYE (RFC 3550 §6.6) for one source, without a reason."""
    return RtcpPacket(RTCP_BYE, 1, ssrc.to_bytes(4, "big"))
