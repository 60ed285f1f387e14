"""`SlotSchedule`: which calls the media clock must visit on this tick.

Owns: items keyed by the absolute time they are next due, grouped in fixed slots (the
clock's tick, 10 ms). A tick pops only the slots that have come, so a call with 20 ms
packets is visited every other tick instead of every tick, and 500 calls cost half
the work per tick (measured: the per-tick work is what delays the next tick).
Items are never popped before they are due. Must not: read a clock.
"""

from __future__ import annotations

import math
from typing import Generic, TypeVar

T = TypeVar("T")

_EPSILON = 1e-9


class SlotSchedule(Generic[T]):
    def __init__(self, slot: float) -> None:
        self._slot = slot
        self._buckets: dict[int, list[T]] = {}
        self._cursor: int | None = None  # the lowest slot key that may still hold items

    def add(self, item: T, due: float) -> None:
        key = math.ceil(due / self._slot - _EPSILON)
        if self._cursor is not None and key < self._cursor:
            key = self._cursor  # overdue: goes into the next slot popped
        bucket = self._buckets.get(key)
        if bucket is None:
            self._buckets[key] = [item]
        else:
            bucket.append(item)

    def pop_due(self, now: float) -> list[T]:
        """Every item due by `now`, in slot order."""
        last = math.floor(now / self._slot + _EPSILON)
        if self._cursor is None:
            self._cursor = min(self._buckets, default=last + 1)
        due: list[T] = []
        buckets = self._buckets
        if last - self._cursor > 1000:  # a long stall: jump instead of walking every slot
            for key in sorted(k for k in buckets if k <= last):
                due.extend(buckets.pop(key))
        else:
            for key in range(self._cursor, last + 1):
                bucket = buckets.pop(key, None)
                if bucket is not None:
                    due.extend(bucket)
        self._cursor = last + 1
        return due

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets.values())
