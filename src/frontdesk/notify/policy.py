"""When a failed delivery is tried again: exponential backoff, capped.

Owns: the delay after the n-th failed attempt. Pure: whether the retry window is spent is
decided in SQL against the database's clock (frontdesk.store.outbox), so nodes with skewed
clocks agree.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_s: float = 2.0  # the wait after the first failure
    max_s: float = 300.0  # FRONTDESK_OUTBOX_MAX_BACKOFF
    window_s: float = 86400.0  # FRONTDESK_OUTBOX_RETRY_WINDOW: then `failed`

    def delay_after(self, failures: int) -> float:
        """The wait after `failures` failed attempts (1 → first_s, doubling, capped)."""
        if failures < 1:
            return 0.0
        exponent = min(failures - 1, 60)  # 2**60 × anything exceeds every cap
        return float(min(self.max_s, self.first_s * 2.0**exponent))
