"""What the PBX hears on the LiveKit front for each refusal: the one mapping of this front.

Owns: `livekit_answer(reason)`. The LiveKit front refuses a call by deleting its room
before our agent has published a track; it cannot choose a SIP status. What LiveKit SIP
then sends the PBX is fixed by its code (livekit/sip): the inbound call waits in
`waitSubscribe` (pkg/sip/inbound.go) for a track subscription while the PBX hears 180
Ringing; the room closing ends that wait with `closeWithHangup()`, which closes the call
with status `CallHangup`, and `CallStatus.SIPStatus()` (pkg/sip/types.go) answers every
status but `callMediaFailed` (and, in newer releases, `CallCancelled`) with
`486 Busy Here`, reason phrase "Rejected". So whatever the reason, the PBX hears 486, and
that is the status recorded on the session row (not the edge's 404/480/503).

Must not: decide whether to refuse, or talk to LiveKit (the job does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from frontdesk.calls.decision import RefusalReason


@dataclass(frozen=True, slots=True)
class LiveKitAnswer:
    """The final response LiveKit SIP sends the PBX once we delete the room."""

    status: int
    phrase: str


# livekit/sip pkg/sip/types.go: CallStatus.SIPStatus() default branch
_ROOM_DELETED_BEFORE_ANSWER = LiveKitAnswer(486, "Rejected")


def livekit_answer(reason: RefusalReason) -> LiveKitAnswer:
    """What the PBX hears when the job refuses a call for `reason` (room deleted)."""
    R = RefusalReason
    match reason:
        case R.UNKNOWN_NUMBER | R.NUMBER_INACTIVE | R.ORG_SUSPENDED | R.NUMBER_CHANGED:
            return _ROOM_DELETED_BEFORE_ANSWER  # the edge would say 404 / 480
        case R.LIMIT_NUMBER | R.LIMIT_ORG | R.LIMIT_NODE:
            return _ROOM_DELETED_BEFORE_ANSWER  # no X-Frontdesk-Limit: LiveKit sets headers
        case R.DATABASE_UNAVAILABLE | R.DECIDER_ERROR | R.SHUTTING_DOWN | R.OVERLOAD:
            return _ROOM_DELETED_BEFORE_ANSWER  # the edge would say 503 + Retry-After
        case R.RTP_PORTS_EXHAUSTED | R.BAD_SDP | R.UNACCEPTABLE_MEDIA | R.BAD_INVITE:
            # LiveKit SIP owns the media and the SIP core on this front: it answers these
            # itself before any job exists; were one ever ours, the room's end says 486
            return _ROOM_DELETED_BEFORE_ANSWER
        case _:
            assert_never(reason)
