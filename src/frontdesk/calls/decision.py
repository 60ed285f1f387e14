"""The call lifecycle's decisions: the facts of a new call, and `Admitted` or `Refused`.

Owns: the facts of an incoming call (`InviteFacts`), the typed results of routing and
admission (`Admitted`, `Refused`), the ONE list of refusal reasons (`RefusalReason`), whom
a call is for (`CallOwner`), and the `CallDecider` protocol every front asks. A front
turns a refusal into its own answer in exactly one function each: the built-in edge in
`frontdesk.edge.answers.sip_answer` (status, phrase, headers), the LiveKit front in
`frontdesk.livekit.answers.livekit_answer` (what the PBX hears when we delete the room).

    routing (calls/routing.py)    number → Route, or Refused(unknown / inactive / suspended)
    admission (store/admission.py) Route → Admitted(route, session_id), or Refused(limit-…)
    the front                     Admitted → answer, media, agent (a `CallHandle`)
                                  Refused  → its answer; the refusal is recorded as a
                                             `CallRecord` under the call's `CallOwner`

Must not: touch sockets or SIP bytes, or know any front.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from frontdesk.sip.headers import NameAddr, SipUri
from frontdesk.sip.message import Request

if TYPE_CHECKING:
    from frontdesk.calls.record import CallRecord
    from frontdesk.calls.routing import Route

Addr = tuple[str, int]


class RefusalReason(StrEnum):
    """Why a call was refused: the only list of refusal reasons.

    The value is the name everywhere a reason is stored or shown: `sessions.reason`, the
    SQL admission function's verdict, the history filter, the dashboard's groups, the
    `frontdesk_call_attempts_total{reason}` metric.

    A new reason goes in three places, and `tests/unit/test_refusal_reasons.py` fails
    until all three (and its history label) are there:
      1. here, with its value;
      2. its SIP answer at the built-in edge, `frontdesk.edge.answers.sip_answer`;
      3. its answer on the LiveKit front, `frontdesk.livekit.answers.livekit_answer`;
    plus its dashboard group in `frontdesk.store.history.REFUSAL_GROUPS`, and, when the
    database decides it, the name the SQL function returns (`ADMISSION_VERDICTS`).
    """

    UNKNOWN_NUMBER = "unknown-number"
    NUMBER_INACTIVE = "number-inactive"
    ORG_SUSPENDED = "org-suspended"
    NUMBER_CHANGED = "number-changed"  # removed or reassigned since the routing snapshot
    LIMIT_NUMBER = "limit-number"
    LIMIT_ORG = "limit-org"
    LIMIT_NODE = "limit-node"
    OVERLOAD = "overload"  # the media clock runs late: new calls are shed
    DATABASE_UNAVAILABLE = "database-unavailable"
    DECIDER_ERROR = "decider-error"  # a bug of ours while deciding
    SHUTTING_DOWN = "shutting-down"
    RTP_PORTS_EXHAUSTED = "rtp-ports-exhausted"
    BAD_SDP = "bad-sdp"  # an offer we cannot read
    UNACCEPTABLE_MEDIA = "unacceptable-media"  # no common codec, or media not from the PBX
    BAD_INVITE = "bad-invite"  # refused by the SIP core itself (Require, Max-Forwards, …)


@dataclass(frozen=True, slots=True)
class InviteFacts:
    """What a decider may know about a new call. Numbers are raw, as dialled."""

    call_id: str
    called: str  # Request-URI user part, else the To user part
    caller: str  # From user part ("" when anonymous or absent)
    source: Addr


@dataclass(frozen=True, slots=True)
class CallOwner:
    """Whom a call is for, once routing found its number: its session row links here."""

    org_id: str
    number_id: str
    called_e164: str


@dataclass(frozen=True, slots=True)
class Admitted:
    """Answer the call. The agent gets `route` (tenant, merged config) and `session_id`.

    `route` is None only on a node without tenancy (`AcceptAll`, edge tests); `session_id`
    is None when no admission ran (routing alone).
    """

    route: Route | None = None
    session_id: uuid.UUID | None = None
    greeting: str | None = None

    @property
    def owner(self) -> CallOwner | None:
        route = self.route
        if route is None:
            return None
        return CallOwner(route.entry.org_id, route.entry.number_id, route.called)


@dataclass(frozen=True, slots=True)
class Refused:
    """Refuse the call for `reason`. Each front chooses its answer for the reason.

    `owner` (the number's organization, when routing found it) is where the refusal is
    recorded; it is not part of equality: two refusals are the same whoever they were for.
    """

    reason: RefusalReason
    owner: CallOwner | None = field(default=None, compare=False)


Decision = Admitted | Refused


class CallDecider(Protocol):
    async def decide(self, facts: InviteFacts) -> Decision: ...

    async def release(
        self, facts: InviteFacts, reason: str, record: CallRecord | None = None
    ) -> None:
        """Called exactly once for every admitted call, however it ended. `record`: the
        finished call's record, when it was answered; a decider that keeps sessions
        writes the session's end with the slot's release, in one statement."""
        ...


class AcceptAll:
    """The decider of a node without tenancy: every dialled number is answered."""

    async def decide(self, facts: InviteFacts) -> Decision:
        return Admitted()

    async def release(
        self, facts: InviteFacts, reason: str, record: CallRecord | None = None
    ) -> None:
        return None


def _user_of(uri_text: str) -> str:
    try:
        return SipUri.parse(uri_text).user or ""
    except Exception:  # a URI we cannot open has no usable user part
        return ""


def invite_facts(invite: Request, source: Addr) -> InviteFacts:
    """Extract the dialled and calling numbers (DESIGN §1: Request-URI user, else To)."""
    headers = invite.headers
    called = _user_of(invite.uri)
    if not called:
        to_value = headers.get("To")
        if to_value:
            called = _user_of(NameAddr.parse(to_value).uri)
    from_value = headers.get("From")
    caller = _user_of(NameAddr.parse(from_value).uri) if from_value else ""
    return InviteFacts(call_id=invite.call_id, called=called, caller=caller, source=source)
