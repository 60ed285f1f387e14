"""The routing/admission seam: the edge asks, a decider answers Accept or Reject.

Owns: the facts of an incoming INVITE (`InviteFacts`), the typed decision results, and
the `CallDecider` protocol. The edge maps results to SIP answers in exactly one place
(`frontdesk.edge.server`). Later issues plug routing (tenancy) and admission (limits)
in behind this protocol; until then `AcceptAll` answers every dialled number.

Must not: touch sockets or SIP bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from frontdesk.sip.headers import NameAddr, SipUri
from frontdesk.sip.message import Request

Addr = tuple[str, int]


@dataclass(frozen=True, slots=True)
class InviteFacts:
    """What a decider may know about a new call. Numbers are raw, as dialled."""

    call_id: str
    called: str  # Request-URI user part, else the To user part
    caller: str  # From user part ("" when anonymous or absent)
    source: Addr


@dataclass(frozen=True, slots=True)
class Accept:
    """Answer the call. `greeting` and `context` reach the call's responder or agent."""

    greeting: str | None = None
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the call with `status`; `reason` is recorded, `headers` go on the answer."""

    status: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()
    #: who the refused call was for, when routing found the number ("entry": NumberEntry,
    #: "called": the normalised number): the refusal is recorded under that organization.
    #: Not part of equality: two refusals are the same answer whoever they were for.
    context: Mapping[str, object] = field(default_factory=dict, compare=False)


Decision = Accept | Reject


class CallDecider(Protocol):
    async def decide(self, facts: InviteFacts) -> Decision: ...

    async def release(self, facts: InviteFacts, reason: str) -> None:
        """Called exactly once for every accepted call, however it ended."""
        ...


class AcceptAll:
    """The decider of a node without tenancy: every dialled number is answered."""

    async def decide(self, facts: InviteFacts) -> Decision:
        return Accept()

    async def release(self, facts: InviteFacts, reason: str) -> None:
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


def refusal_owner(reject: Reject) -> dict[str, object]:
    """What a call record keeps of whom a refused call was for (nothing when unknown)."""
    entry = reject.context.get("entry")
    org_id = getattr(entry, "org_id", None)
    if org_id is None:
        return {}
    return {
        "org_id": org_id,
        "number_id": getattr(entry, "number_id", None),
        "called_e164": reject.context.get("called") or getattr(entry, "phone_number", None),
    }
