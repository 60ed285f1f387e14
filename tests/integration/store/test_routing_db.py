"""Routing from the database: the snapshot, LISTEN/NOTIFY invalidation seen across
processes, and the edge answering real sipp calls with each number's merged config."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any

import pytest
from psycopg.types.json import Jsonb
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.integration.test_edge_routing import final_status

from frontdesk.calls.decision import RefusalReason, Refused
from frontdesk.calls.routing import Route, RoutingDecider, RoutingTable
from frontdesk.store.engine import Pool
from frontdesk.store.routing import RoutingWatcher, load_routing_table
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration


async def add_org(pool: Pool, slug: str, config: dict[str, Any], active: bool = True) -> str:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "INSERT INTO organizations (slug, name, active) VALUES (%s, %s, %s) RETURNING id",
            (slug, slug.title(), active),
        )
        row = await cursor.fetchone()
        assert row is not None
        await conn.execute(
            "INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
            (row[0], Jsonb(config)),
        )
        return str(row[0])


async def add_number(
    pool: Pool, number: str, org_id: str, override: dict[str, Any], active: bool = True
) -> None:
    async with operator_tx(pool) as conn:
        await conn.execute(
            "INSERT INTO sip_numbers (phone_number, organization_id, config_override, active,"
            " assigned_by) VALUES (%s, %s, %s, %s, 'test')",
            (number, org_id, Jsonb(override), active),
        )


@pytest.fixture
async def two_orgs(pool: Pool) -> Pool:
    """DESIGN's example: org A with two numbers and greeting overrides, org B with one."""
    org_a = await add_org(pool, "pizzeria", {"greeting": "Pizzeria, buongiorno", "language": "it"})
    org_b = await add_org(pool, "studio", {"greeting": "Studio Rossi"})
    suspended = await add_org(pool, "closed", {}, active=False)
    await add_number(pool, "+390551234567", org_a, {"greeting": "Ready to take your order"})
    await add_number(pool, "+390551234568", org_a, {"greeting": "How can I help?"})
    await add_number(pool, "+390557654321", org_b, {})
    await add_number(pool, "+390550000001", org_b, {}, active=False)
    await add_number(pool, "+390550000002", suspended, {})
    return pool


async def test_snapshot_routes_with_merged_configs(two_orgs: Pool) -> None:
    table = await load_routing_table(two_orgs, "IT")
    assert len(table) == 5
    first = table.route("0551234567", "3331234567")
    assert isinstance(first, Route)
    assert first.entry.org_slug == "pizzeria"
    assert (first.config.greeting, first.config.language) == ("Ready to take your order", "it")
    studio = table.route("+390557654321", "")
    assert isinstance(studio, Route) and studio.config.greeting == "Studio Rossi"
    assert table.route("+390559999999", "") == Refused(RefusalReason.UNKNOWN_NUMBER)
    assert table.route("+390550000001", "") == Refused(RefusalReason.NUMBER_INACTIVE)
    assert table.route("+390550000002", "") == Refused(RefusalReason.ORG_SUSPENDED)


CHANGE = """
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    conn.execute(
        "UPDATE sip_numbers SET config_override = '{\\"greeting\\": \\"Closed today\\"}'"
        " WHERE phone_number = '+390557654321'"
    )
"""


async def test_a_change_made_by_another_process_is_seen_within_a_second(two_orgs: Pool) -> None:
    tables: list[RoutingTable] = []
    watcher = RoutingWatcher(two_orgs, "IT", tables.append)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.listening.wait(), 5)
        conninfo = two_orgs.conninfo
        assert isinstance(conninfo, str)
        started = time.monotonic()
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", CHANGE, conninfo], check=True, timeout=30
        )
        changed_at = time.monotonic()

        def greeting() -> str:
            routed = tables[-1].route("+390557654321", "")
            return routed.config.greeting if isinstance(routed, Route) else ""

        assert await wait_for(lambda: greeting() == "Closed today", 2, step=0.01)
        seen = time.monotonic() - changed_at
        print(
            f"\nrouting change seen {seen * 1000:.0f} ms after the writer exited "
            f"({(time.monotonic() - started) * 1000:.0f} ms after it started)"
        )
        assert seen < 1.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_edge_answers_each_number_for_its_org(
    two_orgs: Pool, edge_factory: EdgeFactory
) -> None:
    from frontdesk.store.sessions import SessionRecorder

    require_tool("sipp", "sip-tester")
    decider = RoutingDecider(await load_routing_table(two_orgs, "IT"))
    watcher = RoutingWatcher(two_orgs, "IT", decider.swap)
    recorder = SessionRecorder(two_orgs, "test-node")
    task = asyncio.create_task(watcher.run())
    recording = asyncio.create_task(recorder.run())
    try:
        await asyncio.wait_for(watcher.listening.wait(), 5)
        edge = await edge_factory(decider=decider, on_record=recorder.submit)
        dialled = {
            "+390551234567": "Ready to take your order",
            "0551234568": "How can I help?",
            "00390557654321": "Studio Rossi",
        }
        for number in dialled:
            assert_ok(await sipp(edge, SIPP_DATA / "uac_basic.xml", service=number, timeout_s=15))
        assert (await final_status(edge, "+390559999999")).status == 404
        assert (await final_status(edge, "0550000001")).status == 480
        assert await wait_for(lambda: len(edge.history) == 5, 3)
        answered = {r.called: r.greeting for r in edge.history if r.outcome == "answered"}
        assert answered == dialled  # the greeting each call was given (its merged config)
        assert await wait_for(lambda: recorder.written == 5, 3)
        assert [(r[0], r[1], r[2], r[3], r[4]) for r in await sessions_of(two_orgs)] == [
            ("pizzeria", "+390551234567", "completed", "remote-bye", None),
            ("pizzeria", "+390551234568", "completed", "remote-bye", None),
            ("studio", "+390557654321", "completed", "remote-bye", None),
            (None, "+390559999999", "rejected", "unknown-number", 404),
            ("studio", "+390550000001", "rejected", "number-inactive", 480),
        ]
        # the operator changes a greeting: the next call gets it, no restart
        async with operator_tx(two_orgs) as conn:
            await conn.execute(
                'UPDATE agent_instances SET config = config || \'{"greeting": "Studio, hello"}\''
                " WHERE organization_id = (SELECT id FROM organizations WHERE slug = 'studio')"
            )
        await wait_for(lambda: watcher.reloads >= 2, 2)
        assert_ok(
            await sipp(edge, SIPP_DATA / "uac_basic.xml", service="+390557654321", timeout_s=15)
        )
        assert await wait_for(lambda: len(edge.history) == 6, 3)
        assert edge.history[-1].greeting == "Studio, hello"
    finally:
        task.cancel()
        recording.cancel()
        await asyncio.gather(task, recording, return_exceptions=True)


async def test_deactivating_a_number_leaves_its_live_call_alone(
    two_orgs: Pool, edge_factory: EdgeFactory
) -> None:
    require_tool("sipp", "sip-tester")
    decider = RoutingDecider(await load_routing_table(two_orgs, "IT"))
    watcher = RoutingWatcher(two_orgs, "IT", decider.swap)
    task = asyncio.create_task(watcher.run())
    try:
        await asyncio.wait_for(watcher.listening.wait(), 5)
        edge = await edge_factory(decider=decider)
        live = asyncio.create_task(
            sipp(
                edge,
                SIPP_DATA / "uac_basic.xml",
                service="+390557654321",
                extra_args=["-d", "3000"],
                timeout_s=20,
            )
        )
        assert await wait_for(lambda: len(edge.calls) == 1, 5)
        reloads = watcher.reloads
        async with operator_tx(two_orgs) as conn:
            await conn.execute(
                "UPDATE sip_numbers SET active = false WHERE phone_number = '+390557654321'"
            )
        assert await wait_for(lambda: watcher.reloads > reloads, 2)
        assert (await final_status(edge, "+390557654321")).status == 480  # new calls: refused
        assert len(edge.calls) == 1  # the live call goes on
        assert_ok(await live)
        await edge.settled()
        assert edge.history[-1].reason == "remote-bye" and edge.history[-1].outcome == "answered"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def sessions_of(pool: Pool) -> list[tuple[Any, ...]]:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT o.slug, s.called_number, s.outcome, s.reason, s.reject_status,"
            " s.answered_at IS NOT NULL, s.duration IS NOT NULL"
            " FROM sessions s LEFT JOIN organizations o ON o.id = s.organization_id"
            " ORDER BY s.started_at"
        )
        return await cursor.fetchall()


async def test_every_attempt_is_a_session_row(two_orgs: Pool, edge_factory: EdgeFactory) -> None:
    from frontdesk.store.sessions import SessionRecorder

    require_tool("sipp", "sip-tester")
    recorder = SessionRecorder(two_orgs, "test-node")
    task = asyncio.create_task(recorder.run())
    try:
        decider = RoutingDecider(await load_routing_table(two_orgs, "IT"))
        edge = await edge_factory(decider=decider, on_record=recorder.submit)
        assert_ok(await sipp(edge, SIPP_DATA / "uac_basic.xml", service="0551234567", timeout_s=15))
        assert (await final_status(edge, "+390559999999")).status == 404
        assert (await final_status(edge, "0550000001")).status == 480
        assert await wait_for(lambda: recorder.written == 3, 3)
        assert await sessions_of(two_orgs) == [
            ("pizzeria", "+390551234567", "completed", "remote-bye", None, True, True),
            (None, "+390559999999", "rejected", "unknown-number", 404, False, False),
            ("studio", "+390550000001", "rejected", "number-inactive", 480, False, False),
        ]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_sessions_wait_for_the_database_and_nothing_is_lost(
    two_orgs: Pool, edge_factory: EdgeFactory
) -> None:
    from frontdesk.store.sessions import SessionRecorder

    require_tool("sipp", "sip-tester")
    recorder = SessionRecorder(two_orgs, "test-node", retry_s=0.1)
    task = asyncio.create_task(recorder.run())
    try:
        decider = RoutingDecider(await load_routing_table(two_orgs, "IT"))
        edge = await edge_factory(decider=decider, on_record=recorder.submit)
        async with two_orgs.connection() as conn:  # as the owner: the table is away,
            await conn.execute("ALTER TABLE sessions RENAME TO sessions_away")  # inserts fail
        for _ in range(3):
            assert_ok(
                await sipp(edge, SIPP_DATA / "uac_basic.xml", service="+390557654321", timeout_s=15)
            )
        assert await wait_for(lambda: recorder.failures >= 2, 3)
        assert recorder.queued == 3 and recorder.written == 0
        async with two_orgs.connection() as conn:
            await conn.execute("ALTER TABLE sessions_away RENAME TO sessions")
        assert await wait_for(lambda: recorder.written == 3, 3)
        rows = await sessions_of(two_orgs)
        assert [(r[0], r[2]) for r in rows] == [("studio", "completed")] * 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
