"""RTP packets (RFC 3550 §5.1), RTP/RTCP demultiplexing (RFC 5761) and a sender's state.

Owns: the RTP fixed header, CSRC list, header extension and padding as one frozen dataclass
(`RtpPacket.parse` / `bytes(packet)`), the RFC 5761 test that tells RTCP from RTP on a
shared port, and `RtpSequencer`, the sans-IO state of one outgoing stream (SSRC, 16-bit
sequence number, 32-bit timestamp).

Must not: open sockets, read clocks, or know about codecs and payload semantics. Input
from the network is validated with explicit checks that raise `RtpParseError`, never with
`assert`.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass

from frontdesk.errors import MediaError, RtpParseError

__all__ = [
    "RTP_VERSION",
    "RtpExtension",
    "RtpPacket",
    "RtpSequencer",
    "is_rtcp",
]

RTP_VERSION = 2
_HEADER = struct.Struct("!BBHII")
_HEADER_SIZE = _HEADER.size  # 12
_EXT_HEADER = struct.Struct("!HH")


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """An RTP header extension (RFC 3550 §5.3.1): a 16-bit profile word and its data.

    `data` is the extension body, a whole number of 32-bit words; RFC 8285 one- and
    two-byte element parsing is left to whoever needs it.
    """

    profile: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. `parse` reads it from the wire and `bytes(packet)` writes it back.

    `padding` is the number of padding octets at the end of the packet (the last of them
    holds the count), 0 when the P bit is clear. `parse` strips the padding from `payload`
    and remembers its length; `__bytes__` writes zero octets followed by the count, so a
    packet whose padding octets were zeros (as RFC 3550 senders write them) round-trips
    byte for byte.
    """

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> RtpPacket:
        """Read one RTP packet; raise `RtpParseError` when it is malformed."""
        length = len(data)
        if length < _HEADER_SIZE:
            raise RtpParseError(f"RTP packet too short: {length} bytes")
        first, second, sequence, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTP version {first >> 6}, expected 2")
        offset = _HEADER_SIZE
        csrc_count = first & 0x0F
        csrcs: tuple[int, ...] = ()
        if csrc_count:
            end = offset + 4 * csrc_count
            if end > length:
                raise RtpParseError(f"RTP CSRC count {csrc_count} runs past the packet")
            csrcs = struct.unpack_from(f"!{csrc_count}I", data, offset)
            offset = end
        extension = None
        if first & 0x10:
            if offset + 4 > length:
                raise RtpParseError("RTP extension header runs past the packet")
            profile, words = _EXT_HEADER.unpack_from(data, offset)
            end = offset + 4 + 4 * words
            if end > length:
                raise RtpParseError(f"RTP extension of {words} words runs past the packet")
            extension = RtpExtension(profile, bytes(data[offset + 4 : end]))
            offset = end
        padding = 0
        end = length
        if first & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > length:
                raise RtpParseError(f"RTP padding count {padding} is invalid")
            end -= padding
        # positional: measurably cheaper on the per-packet path than keywords
        return cls(
            second & 0x7F,
            sequence,
            timestamp,
            ssrc,
            bytes(data[offset:end]),
            bool(second & 0x80),
            csrcs,
            extension,
            padding,
        )

    def __bytes__(self) -> bytes:
        """Write the packet; raise `MediaError` when a field does not fit its wire width."""
        if not 0 <= self.payload_type <= 0x7F:
            raise MediaError(f"RTP payload type {self.payload_type} out of range")
        if len(self.csrcs) > 15:
            raise MediaError(f"{len(self.csrcs)} CSRCs: at most 15 fit")
        if not 0 <= self.padding <= 255:
            raise MediaError(f"RTP padding {self.padding} out of range")
        first = (RTP_VERSION << 6) | len(self.csrcs)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = self.payload_type | (0x80 if self.marker else 0)
        try:
            parts = [
                _HEADER.pack(first, second, self.sequence, self.timestamp, self.ssrc),
            ]
            if self.csrcs:
                parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
            if self.extension is not None:
                ext = self.extension
                if len(ext.data) % 4:
                    raise MediaError("RTP extension data must be a whole number of words")
                parts.append(_EXT_HEADER.pack(ext.profile, len(ext.data) // 4))
                parts.append(ext.data)
        except struct.error as exc:
            raise MediaError(f"RTP header field out of range: {exc}") from exc
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def is_rtcp(data: bytes) -> bool:
    """Tell RTCP from RTP arriving on one port (RFC 5761 §4).

    RTCP packet types 192-223 have their low seven bits in 64-95, a range RTP payload
    types must not use when RTP and RTCP share a port.
    """
    return len(data) >= 2 and 64 <= (data[1] & 0x7F) <= 95


class RtpSequencer:
    """The sans-IO state of one outgoing RTP stream.

    Holds the SSRC, the next sequence number (16-bit, wrapping) and the media timestamp
    (32-bit, wrapping). Unset starting values are chosen at random as RFC 3550 §5.1
    asks. `next_packet` writes a packet carrying the current timestamp, then advances the
    sequence number by one and the timestamp by the `samples` the packet stands for.

    RFC 4733 events keep the timestamp of their start on every packet while media time
    goes on: pass `timestamp=` for those, and `samples` still advances the media clock.
    """

    __slots__ = ("payload_type", "sequence", "ssrc", "timestamp")

    def __init__(
        self,
        payload_type: int,
        *,
        ssrc: int | None = None,
        sequence: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        if not 0 <= payload_type <= 0x7F:
            raise MediaError(f"RTP payload type {payload_type} out of range")
        self.payload_type = payload_type
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc & 0xFFFFFFFF
        #: the sequence number the next packet will carry
        self.sequence = secrets.randbits(16) if sequence is None else sequence & 0xFFFF
        #: the media timestamp of the next packet
        self.timestamp = secrets.randbits(32) if timestamp is None else timestamp & 0xFFFFFFFF

    def next_packet(
        self,
        payload: bytes,
        samples: int,
        *,
        marker: bool = False,
        payload_type: int | None = None,
        timestamp: int | None = None,
    ) -> bytes:
        """Write the next packet and advance the sequence number and media clock."""
        pt = self.payload_type if payload_type is None else payload_type
        ts = self.timestamp if timestamp is None else timestamp & 0xFFFFFFFF
        header = _HEADER.pack(0x80, (0x80 | pt) if marker else pt, self.sequence, ts, self.ssrc)
        self.sequence = (self.sequence + 1) & 0xFFFF
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
        return header + payload

    def skip(self, samples: int) -> None:
        """Advance the media clock without sending (time passed with nothing sent)."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF
