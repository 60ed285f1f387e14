"""Routing: which organization, number and merged config answer a dialled number.

Owns: the decision `route(called, caller) -> Route | Refused` over an immutable
`RoutingTable` snapshot (number → entry), so a routing decision costs no database round
trip: the store builds a new snapshot when numbers, orgs or configs change and swaps it
in whole. Numbers are normalised the same way on write and on lookup
(`frontdesk.tenancy.numbers.normalize_number`). Must not: read the database or the clock.

    unknown number (or one that cannot be a number)  → Refused(UNKNOWN_NUMBER)
    organization suspended                           → Refused(ORG_SUSPENDED, owner)
    number inactive                                  → Refused(NUMBER_INACTIVE, owner)

What the caller hears for each is the front's choice (`frontdesk.edge.answers`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from frontdesk.calls.decision import (
    Admitted,
    CallOwner,
    Decision,
    InviteFacts,
    RefusalReason,
    Refused,
)
from frontdesk.calls.record import CallRecord
from frontdesk.errors import InvalidNumber
from frontdesk.tenancy.config import TenantConfig, merge
from frontdesk.tenancy.numbers import normalize_number


@dataclass(frozen=True, slots=True)
class NumberEntry:
    """One sip_numbers row with what routing needs of its organization."""

    number_id: str
    phone_number: str  # normalised
    org_id: str
    org_slug: str
    number_active: bool
    org_active: bool
    org_config: TenantConfig
    override: Mapping[str, Any] = field(default_factory=dict)
    max_concurrent_calls: int = 1
    org_max_concurrent_calls: int | None = None
    label: str = ""


@dataclass(frozen=True, slots=True)
class Route:
    """An admitted destination: the call's agent gets `config`, `called` and `caller`."""

    entry: NumberEntry
    config: TenantConfig
    called: str  # normalised
    caller: str  # normalised when it is a number, else as received


class RoutingTable:
    """An immutable snapshot of every number.

    A number's merged config is computed on its first call and kept, not when the
    snapshot is built: a node reloads the snapshot on every change, on its event loop,
    and merging 10,000 configs up front held that loop for most of a ~200 ms load.
    """

    def __init__(self, entries: Iterable[NumberEntry], default_country: str) -> None:
        self.default_country = default_country
        self._entries: dict[str, NumberEntry] = {entry.phone_number: entry for entry in entries}
        self._merged: dict[str, TenantConfig] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[NumberEntry]:
        return list(self._entries.values())

    def route(self, called: str, caller: str) -> Route | Refused:
        try:
            number = normalize_number(called, self.default_country)
        except InvalidNumber:
            return Refused(RefusalReason.UNKNOWN_NUMBER)
        entry = self._entries.get(number)
        if entry is None:
            return Refused(RefusalReason.UNKNOWN_NUMBER)
        config = self._merged.get(number)
        if config is None:
            config = self._merged[number] = merge(entry.org_config, entry.override)
        if not entry.org_active:
            owner = CallOwner(entry.org_id, entry.number_id, number)
            return Refused(RefusalReason.ORG_SUSPENDED, owner)
        if not entry.number_active:
            owner = CallOwner(entry.org_id, entry.number_id, number)
            return Refused(RefusalReason.NUMBER_INACTIVE, owner)
        try:
            caller_number = normalize_number(caller, self.default_country) if caller else ""
        except InvalidNumber:
            caller_number = caller  # anonymous or a SIP user name: kept as received
        return Route(entry, config, number, caller_number)


class RoutingDecider:
    """A `CallDecider` that routes every INVITE over the current table snapshot.

    Admission (limits) is not decided here yet: every routed call is accepted.
    """

    def __init__(self, table: RoutingTable) -> None:
        self.table = table

    def swap(self, table: RoutingTable) -> None:
        """Install a new snapshot (after a change); calls in progress keep their route."""
        self.table = table

    async def decide(self, facts: InviteFacts) -> Decision:
        routed = self.table.route(facts.called, facts.caller)
        if isinstance(routed, Refused):
            return routed
        return Admitted(route=routed, greeting=routed.config.greeting)

    async def release(
        self, facts: InviteFacts, reason: str, record: CallRecord | None = None
    ) -> None:
        return None
