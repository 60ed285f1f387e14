"""`CallRecord`: what is kept of one call attempt (history, sessions rows, tests).

Owns: the record's fields only. The edge fills it in; the session recorder stores it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class CallRecord:
    """What is kept of a finished call (tests and `frontdesk calls` read it)."""

    call_id: str
    called: str
    caller: str
    outcome: str  # answered | rejected | cancelled | failed
    reason: str  # end reason, or the refusal reason
    status: int  # the final SIP status we sent
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    greeting: str | None = None
    rx_packets: int = 0
    tx_packets: int = 0
    dtmf: str = ""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
