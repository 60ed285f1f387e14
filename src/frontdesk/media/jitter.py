"""A small sans-IO jitter buffer for one inbound RTP audio stream.

Owns: putting packets back in sequence order, holding them until their playout time,
declaring the ones that never came lost, dropping late and duplicate packets, following
16-bit sequence wrap-around, restarting on a new SSRC or a jump, and counting all of it.

Must not: read clocks (every call takes `now`, monotonic seconds), decode payloads, or
conceal loss itself (it reports `Missing`; the caller plays silence or anything better).

Theory of operation
-------------------
Order comes from the sequence number, extended past 16 bits relative to the next one
expected; time comes from the RTP timestamp, so 20 and 30 ms packets, and the gaps a
sender leaves when it stops sending for a while, play at the right moment.

The first packet fixes an anchor: it plays at its arrival time plus `depth_ms`, and every
other packet plays at the anchor plus its timestamp distance from the first one. `pop(now)`
returns, in sequence order:

* the next packet (`RtpPacket`) once its playout time has come;
* `Missing(sequence, samples)` when the next packet has not arrived, a later one has,
  and the missing one's playout time has come: it is lost, play a frame of concealment;
* `None` when nothing is due yet (call again later; `next_due()` says when).

With nothing buffered at all, nothing is declared lost: the sender may have stopped on
purpose (hold, silence suppression). If it was loss after all, the gap is declared when
the next packet arrives, as a run of `Missing` that is due at once.

The depth is fixed; drift between the sender's clock and ours, and changes in network
delay, are followed once per `window` packets: the anchor moves so that the earliest
packet of the window would have waited exactly `depth_ms` (unless it was within one frame
of that already). Moving the anchor earlier makes frames due sooner (a short burst);
moving it later leaves a short pause. Both are harmless for speech recognition.

Packets that arrive after their slot was given up are dropped as late; copies of a
buffered packet as duplicates. A packet with another SSRC, a sequence jump of more than
`max_jump`, or a timestamp more than `reset_s` away from where it should be starts a new
stream, but only once the next packet confirms it (RFC 3550 §A.1 probation), so one stray
packet cannot flush the buffer. A packet of another payload type sharing the sequence
space (RFC 4733 events, comfort noise) is announced with `skip()` so its number is not
counted lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from frontdesk.media.rtp import RtpPacket

__all__ = ["JitterBuffer", "JitterStats", "Missing"]

_MAX_FRAME_S = 0.12  # longest packet duration believed when learning the frame length


@dataclass(frozen=True, slots=True)
class Missing:
    """The packet with this sequence number is lost; conceal `samples` samples of it."""

    sequence: int
    samples: int


@dataclass(slots=True)
class JitterStats:
    """What the buffer has seen since it was made (never reset, not even on restarts)."""

    received: int = 0  # packets accepted into the buffer
    played: int = 0  # packets returned by pop()
    lost: int = 0  # sequence numbers returned as Missing
    late: int = 0  # arrived after their slot was given up (or re-sent after playout)
    duplicates: int = 0  # a copy of a packet already buffered
    overflow: int = 0  # dropped because the buffer was full (nobody was popping)
    stray: int = 0  # broke continuity and were not confirmed by their successor
    resets: int = 0  # new streams (SSRC change, sequence or timestamp jump)
    adjustments: int = 0  # anchor moves that followed drift or a change of delay


class JitterBuffer:
    """Reorder and time one RTP stream; see the module docstring for the rules."""

    __slots__ = (
        "_anchor_time",
        "_anchor_ts",
        "_block_max",
        "_block_n",
        "_buf",
        "_candidate",
        "_depth",
        "_foreign",
        "_frame",
        "_last_ext",
        "_last_ts",
        "_max_frame",
        "_max_jump",
        "_max_packets",
        "_next",
        "_play_ts",
        "_rate",
        "_reset_s",
        "_ssrc",
        "_started",
        "_tolerance",
        "_window",
        "stats",
    )

    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        ptime_ms: int = 20,
        depth_ms: float = 40.0,
        max_packets: int = 100,
        window: int = 50,
        max_jump: int = 50,
        reset_s: float = 1.0,
    ) -> None:
        self._rate = float(clock_rate)
        self._depth = depth_ms / 1000
        self._frame = clock_rate * ptime_ms // 1000
        self._max_frame = int(clock_rate * _MAX_FRAME_S)
        self._tolerance = ptime_ms / 1000
        self._max_packets = max_packets
        self._window = window
        self._max_jump = max_jump
        self._reset_s = reset_s
        self._started = False
        self._ssrc = 0
        self._next = 0  # extended sequence number of the next packet to play
        self._play_ts = 0  # extended timestamp the next packet should carry
        self._anchor_ts = 0
        self._anchor_time = 0.0
        self._last_ext = -1  # extended sequence number of the last packet played
        self._last_ts = 0
        self._buf: dict[int, tuple[int, RtpPacket]] = {}
        self._foreign: set[int] = set()
        self._candidate: tuple[RtpPacket, float] | None = None
        self._block_max = -math.inf
        self._block_n = 0
        self.stats = JitterStats()

    def __len__(self) -> int:
        """Packets waiting to be played."""
        return len(self._buf)

    @property
    def depth_ms(self) -> float:
        return self._depth * 1000

    def push(self, packet: RtpPacket, now: float) -> bool:
        """Offer an arrived packet; True if it was kept for playout."""
        if not self._started:
            self._restart(packet, now)
            return True
        if packet.ssrc != self._ssrc:
            return self._probation(packet, now)
        d = (packet.sequence - self._next) & 0xFFFF
        if d >= 0x8000:
            d -= 0x10000
        if d < 0:
            if d < -self._max_jump:
                return self._probation(packet, now)
            self.stats.late += 1
            return False
        if d > self._max_jump:
            return self._probation(packet, now)
        ext = self._next + d
        dts = (packet.timestamp - self._play_ts) & 0xFFFFFFFF
        if dts >= 0x80000000:
            dts -= 0x100000000
        ts_ext = self._play_ts + dts
        slack = self._anchor_time + (ts_ext - self._anchor_ts) / self._rate - now
        if slack > self._depth + self._reset_s or slack < -self._reset_s:
            return self._probation(packet, now)
        if ext in self._buf or ext in self._foreign:
            self.stats.duplicates += 1
            return False
        if self._candidate is not None:  # continuity held: the jump was a stray packet
            self._candidate = None
            self.stats.stray += 1
        self._buf[ext] = (ts_ext, packet)
        self.stats.received += 1
        self._follow(slack)
        if len(self._buf) > self._max_packets:
            self._drop_oldest()
        return True

    def skip(self, packet: RtpPacket) -> None:
        """Note a packet of another payload type in this stream's sequence space.

        Its sequence number is passed over without a frame and without counting a loss.
        """
        if not self._started or packet.ssrc != self._ssrc:
            return
        d = (packet.sequence - self._next) & 0xFFFF
        if 0 <= d <= self._max_jump and len(self._foreign) < self._max_packets:
            self._foreign.add(self._next + d)

    def pop(self, now: float) -> RtpPacket | Missing | None:
        """The next frame due by `now`, in sequence order, or None when none is due."""
        buf = self._buf
        while buf:
            entry = buf.get(self._next)
            if entry is not None:
                ts_ext, packet = entry
                if self._anchor_time + (ts_ext - self._anchor_ts) / self._rate > now:
                    return None
                del buf[self._next]
                self._played(ts_ext, packet)
                return packet
            if self._next in self._foreign:
                self._foreign.discard(self._next)
                self._next += 1
                continue
            if self._anchor_time + (self._play_ts - self._anchor_ts) / self._rate > now:
                return None
            missing = Missing(self._next & 0xFFFF, self._frame)
            self._next += 1
            self._play_ts += self._frame
            self.stats.lost += 1
            return missing
        return None

    def next_due(self) -> float | None:
        """When `pop` will next have something (may be in the past), or None if empty."""
        if not self._buf:
            return None
        entry = self._buf.get(self._next)
        ts = self._play_ts if entry is None else entry[0]
        return self._anchor_time + (ts - self._anchor_ts) / self._rate

    # -- internals ---------------------------------------------------------------------

    def _played(self, ts_ext: int, packet: RtpPacket) -> None:
        delta = ts_ext - self._last_ts
        if self._last_ext == self._next - 1 and not packet.marker and 0 < delta <= self._max_frame:
            self._frame = delta  # learn the sender's packet duration
        self._last_ext = self._next
        self._last_ts = ts_ext
        self._next += 1
        self._play_ts = ts_ext + self._frame
        self.stats.played += 1

    def _follow(self, slack: float) -> None:
        """Re-centre the anchor once per window on the packet that waited longest."""
        self._block_max = max(self._block_max, slack)
        self._block_n += 1
        if self._block_n >= self._window:
            error = self._block_max - self._depth
            if abs(error) > self._tolerance:
                self._anchor_time -= error
                self.stats.adjustments += 1
            self._block_n = 0
            self._block_max = -math.inf

    def _probation(self, packet: RtpPacket, now: float) -> bool:
        """A packet that breaks continuity: restart only if it is the candidate's successor."""
        candidate = self._candidate
        if (
            candidate is not None
            and candidate[0].ssrc == packet.ssrc
            and packet.sequence == (candidate[0].sequence + 1) & 0xFFFF
        ):
            self._restart(candidate[0], candidate[1])
            return self.push(packet, now)
        if candidate is not None:
            self.stats.stray += 1
        self._candidate = (packet, now)
        return False

    def _restart(self, packet: RtpPacket, now: float) -> None:
        if self._started:
            self.stats.resets += 1
        self._started = True
        self._ssrc = packet.ssrc
        self._next = packet.sequence
        self._play_ts = self._anchor_ts = packet.timestamp
        self._anchor_time = now + self._depth
        self._last_ext = -1
        self._buf.clear()
        self._foreign.clear()
        self._candidate = None
        self._block_max = -math.inf
        self._block_n = 0
        self._buf[self._next] = (packet.timestamp, packet)
        self.stats.received += 1
        self._follow(self._depth)

    def _drop_oldest(self) -> None:
        """The buffer is full: give up everything up to and including its oldest packet."""
        oldest = min(self._buf)
        for ext in range(self._next, oldest):
            self._foreign.discard(ext)
        ts_ext, _ = self._buf.pop(oldest)
        self._next = oldest + 1
        self._play_ts = ts_ext + self._frame
        self._last_ext = -1
        self.stats.overflow += 1
