"""When an answered call must be ended by us: the media and duration watchdogs.

Owns: the rule, as a pure function of times. The edge sweeps its calls with it a few
times a second and sends BYE with the returned reason.

- no RTP for `media_timeout` seconds while not on hold → `media-timeout` (a dead link
  with no BYE: the ghost call of the seed plan);
- on hold (the peer's offer was sendonly/inactive) no RTP is expected; `hold_timeout`
  applies instead, counted from the later of hold start and the last packet → `hold-timeout`;
- the call lasted `max_duration` → `max-duration`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WatchdogLimits:
    media_timeout: float
    hold_timeout: float
    max_duration: float


def expired(
    now: float,
    *,
    answered_at: float,
    last_rx: float,
    on_hold_since: float | None,
    limits: WatchdogLimits,
) -> str | None:
    """The end reason if the call must end now, else None."""
    if now - answered_at >= limits.max_duration:
        return "max-duration"
    if on_hold_since is not None:
        if now - max(on_hold_since, last_rx) >= limits.hold_timeout:
            return "hold-timeout"
        return None
    if now - max(last_rx, answered_at) >= limits.media_timeout:
        return "media-timeout"
    return None
