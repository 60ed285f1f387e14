"""A refused call to a known number is recorded under that number's organization."""

from __future__ import annotations

from frontdesk.calls.decision import Reject, refusal_owner
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
    assert isinstance(inactive, Reject) and inactive.reason == "number-inactive"
    assert isinstance(suspended, Reject) and suspended.reason == "org-suspended"
    assert refusal_owner(inactive) == {
        "org_id": "org-1",
        "number_id": "n+390551234567",
        "called_e164": "+390551234567",
    }
    assert refusal_owner(suspended)["called_e164"] == "+390557654321"


def test_unknown_number_has_no_owner() -> None:
    table = RoutingTable([entry("+390551234567")], "IT")
    unknown = table.route("+390559999999", "")
    assert isinstance(unknown, Reject) and unknown.reason == "unknown-number"
    assert refusal_owner(unknown) == {}
    assert refusal_owner(Reject(503, "database-unavailable")) == {}
