"""`--demo` seeding: the two businesses and their numbers route; seeding twice changes nothing."""

from __future__ import annotations

import pytest

from frontdesk.calls.routing import Route
from frontdesk.config import load_settings
from frontdesk.demo import DEMO_ORGS, seed_demo
from frontdesk.store.engine import Pool
from frontdesk.store.routing import load_routing_table
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration


async def counts(pool: Pool) -> tuple[int, int, int]:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT (SELECT count(*) FROM organizations), (SELECT count(*) FROM sip_numbers),"
            " (SELECT count(*) FROM agent_instances)"
        )
        row = await cursor.fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_seed_routes_and_is_idempotent(pool: Pool) -> None:
    settings = load_settings()
    text = await seed_demo(pool, settings)
    first = await counts(pool)
    assert first == (2, sum(len(org.numbers) for org in DEMO_ORGS), 2)
    assert "+390551234567" in text and "Ready to take your order" in text
    await seed_demo(pool, settings)
    assert await counts(pool) == first
    table = await load_routing_table(pool, "IT")
    orders = table.route("0551234567", "")
    studio = table.route("+390557654321", "")
    assert isinstance(orders, Route) and orders.config.greeting == "Ready to take your order"
    assert isinstance(studio, Route) and studio.entry.org_slug == "studio-rossi"
