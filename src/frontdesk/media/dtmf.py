"""DTMF as RFC 4733 telephone-events: the payload, a receiver, and a sender's payloads.

Owns: the 4-octet event payload (`DtmfEvent.parse` / `bytes(event)`), `DtmfReceiver`,
which turns the packets of the telephone-event payload type into one `DtmfDigit` per key
press, and `dtmf_packets`, the payloads a sender sends for one digit.

Must not: read clocks (time is passed in), detect in-band tones in audio, or know about
SIP/SDP (the payload type is negotiated elsewhere and handed to whoever routes packets).

How one key press arrives (RFC 4733 §2.5): every packet of an event carries the RTP
timestamp of the event's start; the first has the marker bit; updates follow with the
growing duration; the end bit is set on the last packet, which is sent three times. Any of
them may be lost, reordered or sent again, so the receiver keys events by (SSRC, RTP
timestamp) and emits a digit exactly once: on the first end packet, or, when every end
packet was lost, when a newer event starts or `expire(now)` finds it silent for
`timeout_s`.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from frontdesk.errors import MediaError, RtpParseError
from frontdesk.media.rtp import RtpPacket

__all__ = [
    "DIGITS",
    "DtmfDigit",
    "DtmfEvent",
    "DtmfReceiver",
    "dtmf_packets",
    "event_code",
]

DIGITS = "0123456789*#ABCD"  # RFC 4733 §3.2: event codes 0-15
_PAYLOAD = struct.Struct("!BBH")
_REMEMBERED = 32  # finished events remembered to ignore their late copies


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF digit ('0'-'9', '*', '#', 'A'-'D')."""
    code = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise MediaError(f"not a DTMF digit: {digit!r}")
    return code


@dataclass(frozen=True, slots=True)
class DtmfEvent:
    """One telephone-event payload (RFC 4733 §2.3).

    `volume` is the power level in -dBm0 (0-63); `duration` is in RTP timestamp units
    since the event's start. The reserved bit is ignored on reading and written as 0.
    """

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    @classmethod
    def parse(cls, data: bytes) -> DtmfEvent:
        """Read the first event of a payload; `RtpParseError` if it is shorter than 4."""
        if len(data) < _PAYLOAD.size:
            raise RtpParseError(f"telephone-event payload too short: {len(data)} bytes")
        event, flags, duration = _PAYLOAD.unpack_from(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        if not 0 <= self.volume <= 63:
            raise MediaError(f"telephone-event volume {self.volume} out of range 0-63")
        try:
            return _PAYLOAD.pack(self.event, (0x80 if self.end else 0) | self.volume, self.duration)
        except struct.error as exc:
            raise MediaError(f"telephone-event field out of range: {exc}") from exc

    @property
    def digit(self) -> str | None:
        """The DTMF digit this event is, or None for other events (flash, tones...)."""
        return DIGITS[self.event] if self.event < len(DIGITS) else None


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """A key the caller pressed, reported once, with how long it was held."""

    digit: str
    duration_ms: int


class DtmfReceiver:
    """Turn telephone-event packets into digits, each exactly once (see module docstring)."""

    __slots__ = (
        "_current",
        "_done",
        "_done_order",
        "_last_key",
        "_rate",
        "_timeout",
    )

    def __init__(self, *, clock_rate: int = 8000, timeout_s: float = 0.3) -> None:
        self._rate = clock_rate
        self._timeout = timeout_s
        # the event in progress: key, digit, longest duration seen, time last heard
        self._current: tuple[tuple[int, int], str, int, float] | None = None
        self._done: set[tuple[int, int]] = set()
        self._done_order: deque[tuple[int, int]] = deque()
        self._last_key: tuple[int, int] | None = None  # newest event key ever seen

    def receive(self, packet: RtpPacket, now: float) -> list[DtmfDigit]:
        """Take one packet of the telephone-event payload type; return finished digits.

        Raises `RtpParseError` when the payload is not a telephone-event.
        """
        event = DtmfEvent.parse(packet.payload)
        out = self.expire(now)
        digit = event.digit
        if digit is None:
            return out
        key = (packet.ssrc, packet.timestamp)
        if key in self._done or self._is_stale(key):
            return out
        current = self._current
        if current is not None and current[0] != key:
            out.append(self._finish())  # the newer event proves the older one ended
            current = None
        duration = event.duration if current is None else max(current[2], event.duration)
        self._current = (key, digit, duration, now)
        self._last_key = key
        if event.end:
            out.append(self._finish())
        return out

    def expire(self, now: float) -> list[DtmfDigit]:
        """Finish an event whose end packets never came, once silent for `timeout_s`."""
        current = self._current
        if current is not None and now - current[3] >= self._timeout:
            return [self._finish()]
        return []

    def _is_stale(self, key: tuple[int, int]) -> bool:
        """An event older than the newest one seen from this source (a late straggler)."""
        last = self._last_key
        if last is None or last[0] != key[0]:
            return False
        return ((key[1] - last[1]) & 0xFFFFFFFF) >= 0x80000000

    def _finish(self) -> DtmfDigit:
        assert self._current is not None
        key, digit, duration, _ = self._current
        self._current = None
        self._done.add(key)
        self._done_order.append(key)
        if len(self._done_order) > _REMEMBERED:
            self._done.discard(self._done_order.popleft())
        return DtmfDigit(digit, duration * 1000 // self._rate)


def dtmf_packets(
    digit: str,
    duration_ms: int,
    *,
    ptime_ms: int = 20,
    volume: int = 10,
    clock_rate: int = 8000,
) -> Iterator[bytes]:
    """The telephone-event payloads a sender sends for one key press, in order.

    Send one per `ptime_ms`, all with the RTP timestamp of the event's start, the first
    with the marker bit. Updates carry the duration so far (one ptime, two, ...); the
    tone's length is rounded up to whole packets; the end payload comes three times
    (RFC 4733 §2.5.1.4).
    """
    code = event_code(digit)
    frame = clock_rate * ptime_ms // 1000
    if frame <= 0:
        raise MediaError(f"ptime {ptime_ms} ms is too short")
    frames = max(1, -(-duration_ms * clock_rate // (1000 * frame)))
    total = frames * frame
    if total > 0xFFFF:
        raise MediaError(f"a {duration_ms} ms event does not fit one 16-bit duration")
    for k in range(1, frames):
        yield bytes(DtmfEvent(code, False, volume, k * frame))
    end = bytes(DtmfEvent(code, True, volume, total))
    for _ in range(3):
        yield end
