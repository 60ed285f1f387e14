"""When the edge must end a call by itself (DESIGN §2)."""

from __future__ import annotations

import pytest

from frontdesk.calls.watchdog import WatchdogLimits, expired

LIMITS = WatchdogLimits(media_timeout=12.0, hold_timeout=1800.0, max_duration=3600.0)


@pytest.mark.parametrize(
    ("now", "last_rx", "hold_since", "reason"),
    [
        (11.9, 0.0, None, None),  # quiet, but not long enough
        (12.0, 0.0, None, "media-timeout"),
        (20.0, 9.0, None, None),  # RTP 11 s ago
        (600.0, 0.0, 10.0, None),  # on hold: no RTP expected
        (1810.0, 0.0, 10.0, "hold-timeout"),
        (1805.0, 6.0, 10.0, None),  # hold counted from hold start (later than last RTP)
        (3600.0, 3599.0, None, "max-duration"),
        (3600.0, 0.0, 100.0, "max-duration"),
    ],
)
def test_rules(now: float, last_rx: float, hold_since: float | None, reason: str | None) -> None:
    assert (
        expired(now, answered_at=0.0, last_rx=last_rx, on_hold_since=hold_since, limits=LIMITS)
        == reason
    )


def test_timeout_counts_from_answer_when_no_rtp_came_yet() -> None:
    assert expired(105.0, answered_at=100.0, last_rx=0.0, on_hold_since=None, limits=LIMITS) is None
    assert expired(112.0, answered_at=100.0, last_rx=0.0, on_hold_since=None, limits=LIMITS) == (
        "media-timeout"
    )
