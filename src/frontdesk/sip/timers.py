"""SIP timer values and a tiny deadline queue, both free of clocks.

Owns: the RFC 3261 §17 timer constants (one frozen object, passed in, never a module
global that code reads behind your back) and `Deadlines`, a heap of callbacks keyed by
absolute times that the caller advances with the current time.
Must not: read a clock or sleep; the asyncio adapter owns the one real timer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TimerValues:
    """RFC 3261 §17.1.1.1 / Table 4 base values, in seconds (UDP transport)."""

    t1: float = 0.5  # RTT estimate
    t2: float = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
    t4: float = 5.0  # maximum duration a message remains in the network

    @property
    def timeout_64t1(self) -> float:
        """Timers B, F, H, J, L and the 2xx-without-ACK give-up time (§13.3.1.4)."""
        return 64 * self.t1


class TimerHandle:
    """A scheduled callback; `cancel()` makes it a no-op (it is dropped lazily)."""

    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[float], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Deadlines:
    """A min-heap of `TimerHandle`s. `advance(now)` runs every callback due by `now`."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._counter = itertools.count()

    def schedule(self, when: float, callback: Callable[[float], None]) -> TimerHandle:
        handle = TimerHandle(when, callback)
        heapq.heappush(self._heap, (when, next(self._counter), handle))
        return handle

    def next_deadline(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def advance(self, now: float) -> int:
        """Run the callbacks due by `now` in deadline order; return how many ran."""
        ran = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, handle = heapq.heappop(heap)
            if handle.cancelled:
                continue
            handle.cancelled = True
            handle.callback(now)
            ran += 1
        return ran

    def __len__(self) -> int:
        return sum(1 for _, _, handle in self._heap if not handle.cancelled)
