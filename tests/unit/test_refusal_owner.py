"""A refused call to a known number is recorded under that number's organization."""

from __future__ import annotations

from frontdesk.calls.decision import CallOwner, RefusalReason, Refused
from frontdesk.calls.routing import NumberEntry, RoutingTable
from frontdesk.tenancy.config import TenantConfig


def entry(number: str, *, active: bool = True, org_active: bool = True) -> NumberEntry:
    return NumberEntry(f"n{number}", number, "org-1", "pizzeria", active, org_active,
                       TenantConfig(), {}, 1)  # fmt: skip


def test_inactive_number_and_suspended_org_name_the_owner() -> None:
    table = RoutingTable(
        [entry("+390551234567", active=False), entry("+390557654321", org_active=False)], "IT"
    )
    inactive = table.route("0551234567", "")
    suspended = table.route("00390557654321", "")
    assert isinstance(inactive, Refused) and inactive.reason is RefusalReason.NUMBER_INACTIVE
    assert isinstance(suspended, Refused) and suspended.reason is RefusalReason.ORG_SUSPENDED
    assert inactive.owner == CallOwner("org-1", "n+390551234567", "+390551234567")
    assert suspended.owner is not None and suspended.owner.called_e164 == "+390557654321"


def test_unknown_number_has_no_owner() -> None:
    table = RoutingTable([entry("+390551234567")], "IT")
    unknown = table.route("+390559999999", "")
    assert isinstance(unknown, Refused) and unknown.reason is RefusalReason.UNKNOWN_NUMBER
    assert unknown.owner is None
    assert Refused(RefusalReason.DATABASE_UNAVAILABLE).owner is None
