"""TenantConfig overrides (validated on write, merged at routing) and route() decisions."""

from __future__ import annotations

import pytest

from frontdesk.calls.decision import RefusalReason, Refused
from frontdesk.calls.routing import NumberEntry, Route, RoutingTable
from frontdesk.edge.answers import AnswerPolicy, sip_answer
from frontdesk.tenancy.config import ConfigOverrideError, TenantConfig, merge, validate_override

ORG_A = TenantConfig(greeting="Pizzeria Da Mario, buongiorno", language="it")
ORG_B = TenantConfig(greeting="Studio Rossi, good morning", language="en")


def entry(number: str, org: str, config: TenantConfig, **kwargs: object) -> NumberEntry:
    values: dict[str, object] = {
        "number_id": f"n-{number}",
        "phone_number": number,
        "org_id": f"org-{org}",
        "org_slug": org,
        "number_active": True,
        "org_active": True,
        "org_config": config,
    }
    values.update(kwargs)
    return NumberEntry(**values)  # type: ignore[arg-type]


@pytest.fixture
def table() -> RoutingTable:
    return RoutingTable(
        [
            entry("+390551234567", "a", ORG_A, override={"greeting": "Ready to take your order"}),
            entry("+390551234568", "a", ORG_A, override={"greeting": "How can I help?"}),
            entry("+390557654321", "b", ORG_B),
            entry("+390550000001", "b", ORG_B, number_active=False),
            entry("+390550000002", "c", ORG_B, org_active=False),
            entry("1000", "b", ORG_B, override={"language": "it"}),
        ],
        default_country="IT",
    )


def test_override_keys_win_and_absent_keys_inherit() -> None:
    merged = merge(ORG_A, {"greeting": "Ready to take your order", "voice": "giulia"})
    assert merged.greeting == "Ready to take your order"
    assert merged.voice == "giulia"
    assert merged.language == "it"  # inherited
    assert merge(ORG_A, {}) is ORG_A


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"greting": "typo"}, "greting"),
        ({"language": "Italian!"}, "language"),
        ({"greeting": ""}, "greeting"),
        ({"stt": "whisper-cloud"}, "stt"),
        ({"knowledge_base": [{"question": "q"}]}, "knowledge_base"),
    ],
)
def test_bad_overrides_are_refused_naming_the_key(override: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigOverrideError) as caught:
        validate_override(override)
    assert caught.value.key == key
    assert repr(key) in str(caught.value)


def test_validated_override_is_canonical_json() -> None:
    checked = validate_override({"knowledge_base": [{"question": "Open?", "answer": "9-5"}]})
    assert checked == {"knowledge_base": [{"question": "Open?", "answer": "9-5"}]}


@pytest.mark.parametrize(
    "dialled", ["+390551234567", "00390551234567", "0551234567", "+39 055 1234567"]
)
def test_every_spelling_of_a_number_routes_to_its_org(table: RoutingTable, dialled: str) -> None:
    routed = table.route(dialled, "3331234567")
    assert isinstance(routed, Route)
    assert routed.entry.org_slug == "a"
    assert routed.config.greeting == "Ready to take your order"
    assert routed.called == "+390551234567"
    assert routed.caller == "+393331234567"


def test_two_numbers_of_one_org_get_their_own_overrides(table: RoutingTable) -> None:
    first = table.route("+390551234567", "")
    second = table.route("+390551234568", "")
    assert isinstance(first, Route) and isinstance(second, Route)
    assert first.entry.org_id == second.entry.org_id
    assert (first.config.greeting, second.config.greeting) == (
        "Ready to take your order",
        "How can I help?",
    )


@pytest.mark.parametrize(
    ("dialled", "status", "reason"),
    [
        ("+390559999999", 404, "unknown-number"),
        ("not a number", 404, "unknown-number"),
        ("+390550000001", 480, "number-inactive"),
        ("+390550000002", 480, "org-suspended"),
    ],
)
def test_refusals(table: RoutingTable, dialled: str, status: int, reason: str) -> None:
    refused = table.route(dialled, "")
    assert refused == Refused(RefusalReason(reason))
    assert sip_answer(RefusalReason(reason), AnswerPolicy()).status == status


def test_short_extensions_and_anonymous_callers(table: RoutingTable) -> None:
    routed = table.route("1000", "anonymous")
    assert isinstance(routed, Route)
    assert routed.config.language == "it" and routed.caller == "anonymous"
