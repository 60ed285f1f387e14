"""What the page says when a browser test call is refused: one function, every reason.

Owns: `browser_answer(reason) -> (HTTP status, plain words)`, the browser front's answer
to each `RefusalReason` (the edge's is a SIP status, LiveKit's a room deletion).
Must not: decide anything; it only words a decision.
"""

from __future__ import annotations

from frontdesk.calls.decision import RefusalReason

_BUSY = 409
_UNAVAILABLE = 503

_ANSWERS: dict[RefusalReason, tuple[int, str]] = {
    RefusalReason.UNKNOWN_NUMBER: (404, "This number is not in service."),
    RefusalReason.NUMBER_INACTIVE: (409, "This number is switched off: turn it on to try it."),
    RefusalReason.ORG_SUSPENDED: (409, "This organization is suspended."),
    RefusalReason.NUMBER_CHANGED: (409, "This number was changed: reload the page."),
    RefusalReason.LIMIT_NUMBER: (
        _BUSY,
        "This number is full: every one of its lines is in a call. Try again when a call ends.",
    ),
    RefusalReason.LIMIT_ORG: (
        _BUSY,
        "Your organization is full: all of its lines are in calls. Try again when one ends.",
    ),
    RefusalReason.LIMIT_NODE: (_UNAVAILABLE, "The service is busy. Try again in a minute."),
    RefusalReason.OVERLOAD: (_UNAVAILABLE, "The service is busy. Try again in a minute."),
    RefusalReason.DATABASE_UNAVAILABLE: (_UNAVAILABLE, "The service is unavailable right now."),
    RefusalReason.DECIDER_ERROR: (_UNAVAILABLE, "A technical problem stopped the call."),
    RefusalReason.SHUTTING_DOWN: (_UNAVAILABLE, "The service is restarting. Try again soon."),
    RefusalReason.RTP_PORTS_EXHAUSTED: (_UNAVAILABLE, "The service is busy. Try again soon."),
    RefusalReason.BAD_SDP: (400, "Your browser's call offer could not be read."),
    RefusalReason.UNACCEPTABLE_MEDIA: (400, "Your browser offered no audio we can use."),
    RefusalReason.BAD_INVITE: (400, "The call request could not be read."),
}


def browser_answer(reason: RefusalReason) -> tuple[int, str]:
    """The HTTP status and the sentence the page shows for a refused test call."""
    return _ANSWERS[reason]
