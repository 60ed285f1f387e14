"""People's words for what the call records hold in technical terms, and the fixed banners.

Owns: the one mapping from recorded call outcomes, end/refusal reasons and refusal groups
(values written by the edge, routing, admission and the agent; see store/history.py) to the
words a business reads ("line busy", "caller hung up"), registered as Jinja filters
(`outcome_words`, `reason_words`, `group_words`); and `BANNERS`, the only texts a success
banner may show (pages redirect with `?done=KEY`, never with free text, so a link cannot put
an attacker's sentence in our page).

Tenants see only these words. Operators see the words and, beside them, the recorded code
and SIP status (templates decide by `user.is_operator`).

Must not: change what is stored (the records keep the technical values the API returns).
"""

from __future__ import annotations

from typing import Final

from jinja2 import Environment

OUTCOME_WORDS: Final[dict[str, str]] = {
    "in-progress": "in progress",
    "completed": "answered",
    "rejected": "not answered",
    "cancelled": "hung up before the answer",
    "failed": "failed",
}

REASON_WORDS: Final[dict[str, str]] = {
    # ends of answered calls
    "remote-bye": "caller hung up",
    "bye-caller": "caller hung up",
    "local-bye": "receptionist hung up",
    "agent-hangup": "receptionist ended the call",
    "agent-ended": "receptionist ended the call",
    "call-ended": "call ended",
    "transferred": "transferred to a person",
    "media-timeout": "line went silent",
    "connection-lost": "connection lost",
    "ack-timeout": "call did not connect",
    "max-duration": "longest call time reached",
    "shutdown": "service restarted",
    "agent-error": "technical problem",
    "agent-not-ready": "technical problem",
    "agent-stopped": "technical problem",
    # calls not answered
    "cancel": "caller hung up before the answer",
    "limit-number": "line busy",
    "limit-org": "all lines busy",
    "limit-node": "service busy",
    "overload": "service busy",
    "unknown-number": "number not in service",
    "number-inactive": "number switched off",
    "number-changed": "number switched off",
    "org-suspended": "service suspended",
    "closed": "closed",
    "after-hours": "closed",
    "database-unavailable": "service unavailable",
    "decider-error": "technical problem",
    "shutting-down": "service restarting",
    "rtp-ports-exhausted": "service busy",
    "bad-sdp": "could not connect",
    "unacceptable-media": "could not connect",
    "bad-invite": "could not connect",
}

GROUP_WORDS: Final[dict[str, str]] = {
    "number limit": "line busy",
    "organization limit": "all lines busy",
    "node limit": "service busy",
    "unknown number": "number not in service",
    "inactive": "switched off or suspended",
    "other": "other",
}

#: success banners, by the `done` key a page redirects with
BANNERS: Final[dict[str, str]] = {
    "numbers-added": "Numbers added.",
    "number-assigned": "Number assigned.",
    "number-unchanged": "The number already belonged to that organization: nothing changed.",
    "org-updated": "Organization saved.",
    "org-suspended": "Organization suspended: its numbers answer 480 until it is reactivated.",
    "settings-saved": "Saved: the next call uses these settings.",
    "knowledge-saved": "Knowledge base saved: the next call uses it.",
    "knowledge-imported": "Imported entries added to the knowledge base.",
    "number-reset": "The number uses the organization's value again.",
    "delivery-queued": "The notification is queued again.",
    "notifications-saved": "Saved.",
    "hours-saved": "Business hours saved.",
    "test-queued-one": "Test queued for 1 channel: see its state below.",
    "test-queued-many": "Test queued for every channel: see their state below.",
    "test-nothing": "Nothing to test: set an email address or a webhook first.",
    "org-created": "Organization created: invite its owner below.",
    "number-saved": "Number saved.",
    "number-released": "Number released: it is off the trunk and answers 404.",
    "token-revoked": "Token revoked: it is refused from now on.",
    "token-already-revoked": "That token was already revoked.",
    "password-changed": "Your password is changed.",
    "delivery-not-failed": "That notification is not failed: it was already retried or delivered.",
}


def outcome_words(outcome: str | None) -> str:
    return OUTCOME_WORDS.get(outcome or "", "other")


def reason_words(reason: str | None) -> str:
    if not reason:
        return ""
    if reason.startswith("invite-"):
        return "could not connect"
    return REASON_WORDS.get(reason, "other")


def group_words(group: str) -> str:
    return GROUP_WORDS.get(group, group)


def banner(key: str | None) -> str | None:
    """The banner text of `key`, or None for no key or an unknown one."""
    return BANNERS.get(key or "")


def install(env: Environment) -> None:
    env.filters["outcome_words"] = outcome_words
    env.filters["reason_words"] = reason_words
    env.filters["group_words"] = group_words
