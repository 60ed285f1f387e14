"""`--demo` seeding: the two businesses and their numbers route; seeding twice changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.calls.routing import Route
from frontdesk.cli.demo import DEMO_ORGS, seed_demo
from frontdesk.config import load_settings
from frontdesk.store.engine import Pool
from frontdesk.store.routing import load_routing_table
from frontdesk.store.tx import operator_tx
from frontdesk.store.users import authenticate

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


async def test_seed_routes_and_is_idempotent(pool: Pool, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    text = await seed_demo(pool, settings)
    first = await counts(pool)
    assert first == (2, sum(len(org.numbers) for org in DEMO_ORGS), 2)
    assert "+390551234567" in text and "Ready to take your order" in text
    logins = (tmp_path / "demo-logins.txt").read_text().splitlines()
    assert [line.split()[0] for line in logins] == [
        "owner@pizzeria.example",
        "owner@studio-rossi.example",
        "operator@frontdesk.example",
    ]
    assert (tmp_path / "demo-logins.txt").stat().st_mode & 0o777 == 0o600
    async with operator_tx(pool) as conn:
        email, password = logins[0].split()
        assert await authenticate(conn, email, password) is not None
    again = await seed_demo(pool, settings)
    assert await counts(pool) == first
    assert (tmp_path / "demo-logins.txt").read_text().splitlines() == logins
    assert logins[0] in again
    table = await load_routing_table(pool, "IT")
    orders = table.route("0551234567", "")
    studio = table.route("+390557654321", "")
    assert isinstance(orders, Route) and orders.config.greeting == "Ready to take your order"
    assert isinstance(studio, Route) and studio.entry.org_slug == "studio-rossi"
