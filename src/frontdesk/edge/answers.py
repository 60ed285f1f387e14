"""What the PBX hears from the built-in edge for each refusal: the one mapping.

Owns: `sip_answer(reason, policy)`, the SIP status, reason phrase and headers
(`X-Frontdesk-Limit`, `Retry-After`) of every `RefusalReason` (DESIGN §2). Nowhere else
at the edge chooses the status of a refusal. (The SIP core answers protocol errors it
finds before any decision, such as a Require it does not support, with their RFC 3261
status itself; they are recorded as `BAD_INVITE` with the status that went out.)

Must not: decide whether to refuse (routing and admission do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from frontdesk.calls.decision import RefusalReason
from frontdesk.config import Settings


@dataclass(frozen=True, slots=True)
class AnswerPolicy:
    """The operator's choices that change an answer (from `Settings`)."""

    node_busy_503: bool = False  # FRONTDESK_NODE_BUSY_ANSWER=503: let the PBX fail over
    retry_after: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerPolicy:
        return cls(settings.node_busy_answer == "503", settings.retry_after)


@dataclass(frozen=True, slots=True)
class SipAnswer:
    status: int
    phrase: str
    headers: tuple[tuple[str, str], ...] = ()


def sip_answer(reason: RefusalReason, policy: AnswerPolicy) -> SipAnswer:
    """The final response to an INVITE refused for `reason`."""
    R = RefusalReason
    unavailable = SipAnswer(503, "Service Unavailable", (("Retry-After", str(policy.retry_after)),))
    match reason:
        case R.UNKNOWN_NUMBER:
            return SipAnswer(404, "Not Found")
        case R.NUMBER_INACTIVE | R.ORG_SUSPENDED | R.NUMBER_CHANGED:
            return SipAnswer(480, "Temporarily Unavailable")
        case R.LIMIT_NUMBER:
            return SipAnswer(486, "Busy Here", (("X-Frontdesk-Limit", "number"),))
        case R.LIMIT_ORG:
            return SipAnswer(486, "Busy Here", (("X-Frontdesk-Limit", "org"),))
        case R.LIMIT_NODE:
            if policy.node_busy_503:
                return unavailable
            return SipAnswer(486, "Busy Here", (("X-Frontdesk-Limit", "node"),))
        case (
            R.OVERLOAD
            | R.DATABASE_UNAVAILABLE
            | R.DECIDER_ERROR
            | R.SHUTTING_DOWN
            | R.RTP_PORTS_EXHAUSTED
        ):
            return unavailable
        case R.BAD_SDP | R.BAD_INVITE:
            return SipAnswer(400, "Bad Request")
        case R.UNACCEPTABLE_MEDIA:
            return SipAnswer(488, "Not Acceptable Here")
        case _:
            assert_never(reason)
