"""Admission through a real edge and sipp: ghosts are freed by the media watchdog, calls on
hold are not, a database outage (stopped, or frozen with SIGSTOP) costs no established call
and no history, and a frozen one gets new INVITEs 503 within the deadline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.integration.test_edge_routing import final_status
from tests.support.sipp import write_rtp_pcap

from frontdesk.calls.routing import RoutingDecider
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import Pool, open_pool
from frontdesk.store.migrate import migrate
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration

NUMBER = "+390551234567"


@dataclass
class Node:
    edge: EdgeServer
    admission: Admission
    recorder: SessionRecorder


@pytest.fixture
async def node_factory(edge_factory: EdgeFactory) -> AsyncIterator[object]:
    tasks: list[asyncio.Task[None]] = []
    admissions: list[Admission] = []

    async def start(pool: Pool, limit: int, **overrides: object) -> Node:
        async with operator_tx(pool, actor="test") as conn:
            await create_org(conn, "pizzeria", "Pizzeria")
            await add_number(conn, NUMBER, "pizzeria", max_concurrent_calls=limit,
                             assigned_by="test", default_country="IT")  # fmt: skip
        routing = RoutingDecider(await load_routing_table(pool, "IT"))
        admission = Admission(pool, routing, node_id="edge-1", node_max_calls=50, node_ttl=3)
        await admission.register()
        admissions.append(admission)
        recorder = SessionRecorder(pool, "edge-1", retry_s=0.2)
        tasks.append(asyncio.create_task(recorder.run()))
        tasks.append(asyncio.create_task(admission.run_heartbeat()))
        edge = await edge_factory(decider=admission, on_record=recorder.submit, **overrides)
        return Node(edge, admission, recorder)

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for admission in admissions:
        await admission.aclose()


async def active(pool: Pool) -> int:
    async with operator_tx(pool) as conn:
        row = await (await conn.execute("SELECT count(*) FROM active_calls")).fetchone()
    assert row is not None
    return int(row[0])


def one_second_pcap(folder: Path) -> Path:
    pcap = folder / "tone.pcap"
    write_rtp_pcap(pcap, b"\x7f\x00" * 4000, payload_type=0, ptime_ms=20)
    return pcap


async def test_ghost_call_is_freed_and_the_next_call_admitted(
    pool: Pool, node_factory: object, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    node: Node = await node_factory(pool, 1, media_timeout=2.0)  # type: ignore[operator]
    ghost = asyncio.create_task(
        sipp(node.edge, SIPP_DATA / "uac_stop_rtp.xml", service=NUMBER,
             keys={"pcap": str(one_second_pcap(tmp_path))}, timeout_s=20)
    )  # fmt: skip
    assert await wait_for(lambda: len(node.edge.calls) == 1, 5)
    assert (await final_status(node.edge, NUMBER)).status == 486  # the one slot is taken
    assert_ok(await ghost)  # the ghost got our BYE (media timeout)
    assert node.edge.history[-1].reason == "media-timeout"
    assert await wait_for(lambda: node.admission.released == 1, 2)
    assert await active(pool) == 0
    assert_ok(await sipp(node.edge, SIPP_DATA / "uac_basic.xml", service=NUMBER, timeout_s=15))


async def test_database_outage_costs_no_call_and_no_history(
    node_factory: object, tmp_path: Path
) -> None:
    """A dedicated embedded server is stopped during a call, and started again."""
    require_tool("sipp", "sip-tester")
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fd-outage-", dir="/tmp")) / "pg")
    server.ensure_running()
    conninfo = server.ensure_database("frontdesk")
    await migrate(conninfo)
    pool = await open_pool(conninfo, max_size=4, wait_s=2.0)
    try:
        node: Node = await node_factory(pool, 5)  # type: ignore[operator]
        live = asyncio.create_task(
            sipp(node.edge, SIPP_DATA / "uac_basic.xml", service=NUMBER,
                 extra_args=["-d", "4000"], timeout_s=30)
        )  # fmt: skip
        assert await wait_for(lambda: len(node.edge.calls) == 1, 5)
        await asyncio.to_thread(server.force_stop)
        refused = await final_status(node.edge, NUMBER)
        assert refused.status == 503 and refused.headers.get("Retry-After") == "30"
        assert_ok(await live)  # the established call went on, and ended with its BYE
        assert node.edge.history[-1].reason == "remote-bye"
        assert node.recorder.written == 0  # nothing could be written...
        assert node.recorder.queued == 2  # ...and nothing is lost
        await asyncio.to_thread(server.ensure_running)
        back = asyncio.get_running_loop().time()
        while (await final_status(node.edge, NUMBER)).status != 200:
            assert asyncio.get_running_loop().time() - back < 5, "admission did not resume in 5 s"
            await asyncio.sleep(0.2)
        resumed = asyncio.get_running_loop().time() - back
        print(f"\nadmission resumed {resumed:.2f} s after the database came back")
        assert await wait_for(lambda: node.recorder.queued == 0, 5)
        assert await wait_for(lambda: node.admission.live_slots <= 1, 2)
        async with operator_tx(pool) as conn:
            rows = await (await conn.execute(
                "SELECT outcome, reason FROM sessions ORDER BY started_at")).fetchall()  # fmt: skip
        assert rows[:2] == [("completed", "remote-bye"), ("rejected", "database-unavailable")]
    finally:
        await pool.close()
        await asyncio.to_thread(server.force_stop)
        await asyncio.to_thread(shutil.rmtree, server.pgdata.parent, ignore_errors=True)


def _server_processes(server: EmbeddedPostgres) -> list[int]:
    """The postmaster's pid and its children's (backends, checkpointer, walwriter …)."""
    info = server.running()
    assert info is not None, "the test server is not running"
    pids = [info.pid]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == info.pid:
            pids.append(int(entry.name))
    return pids


def _signal_all(pids: list[int], sig: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):  # ended meanwhile
            os.kill(pid, sig)


@pytest.mark.slow
async def test_frozen_database_answers_503_in_time_and_loses_nothing(
    node_factory: object, tmp_path: Path
) -> None:
    """A hung server (SIGSTOP on the postmaster and every backend: what a partition looks
    like, connections open and queries waiting) during a live call, then SIGCONT."""
    require_tool("sipp", "sip-tester")
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fd-frozen-", dir="/tmp")) / "pg")
    server.ensure_running()
    conninfo = server.ensure_database("frontdesk")
    await migrate(conninfo)
    pool = await open_pool(conninfo, max_size=4, wait_s=2.0)
    frozen: list[int] = []
    loop = asyncio.get_running_loop()
    try:
        node: Node = await node_factory(pool, 5)  # type: ignore[operator]
        assert await node.admission.database_ready()
        live = asyncio.create_task(
            sipp(node.edge, SIPP_DATA / "uac_basic.xml", service=NUMBER,
                 extra_args=["-d", "3000"], timeout_s=30)
        )  # fmt: skip
        assert await wait_for(lambda: len(node.edge.calls) == 1, 5)
        frozen = _server_processes(server)
        _signal_all(frozen, signal.SIGSTOP)
        began = loop.time()
        refused = await final_status(node.edge, NUMBER)
        waited = loop.time() - began
        print(f"\nfrozen database: 503 after {waited:.2f} s")
        assert refused.status == 503 and refused.headers.get("Retry-After") == "30"
        assert waited < 1.5
        assert not await node.admission.database_ready()  # /readyz says not ready
        assert_ok(await live)  # its BYE was answered while the database hung
        assert node.edge.history[-1].reason == "remote-bye"
        _signal_all(frozen, signal.SIGCONT)
        frozen = []
        thawed = loop.time()
        while (await final_status(node.edge, NUMBER)).status != 200:
            assert loop.time() - thawed < 5, "admission did not resume in 5 s"
            await asyncio.sleep(0.2)
        print(f"admission resumed {loop.time() - thawed:.2f} s after the thaw")
        assert await node.admission.database_ready()
        # the INVITE refused while frozen was admitted once the server woke: released
        assert await wait_for(lambda: node.admission.late_admissions == 1, 3)
        assert await wait_for(lambda: node.recorder.queued == 0, 5)

        async def rows() -> list[tuple[str, str]]:
            async with operator_tx(pool) as conn:
                cursor = await conn.execute(
                    "SELECT outcome, coalesce(reason, '') FROM sessions ORDER BY started_at"
                )
                return [(str(a), str(b)) for a, b in await cursor.fetchall()]

        for _ in range(50):  # the last call's own row is written when it ends
            history = await rows()
            if history[:2] == [("completed", "remote-bye"), ("rejected", "database-unavailable")]:
                break
            await asyncio.sleep(0.1)
        assert history[:2] == [("completed", "remote-bye"), ("rejected", "database-unavailable")]
        assert len(history) == 3  # the late admission left no row of its own
        assert await active(pool) == node.admission.live_slots == 1
    finally:
        _signal_all(frozen, signal.SIGCONT)
        await pool.close()
        await asyncio.to_thread(server.force_stop)
        await asyncio.to_thread(shutil.rmtree, server.pgdata.parent, ignore_errors=True)


async def test_calls_command_shows_live_calls_and_history(
    pool: Pool, db: str, node_factory: object
) -> None:
    from typer.testing import CliRunner

    from frontdesk.cli.main import app

    require_tool("sipp", "sip-tester")
    node: Node = await node_factory(pool, 1)  # type: ignore[operator]
    live = asyncio.create_task(
        sipp(node.edge, SIPP_DATA / "uac_basic.xml", service=NUMBER, extra_args=["-d", "2500"],
             timeout_s=20)
    )  # fmt: skip
    assert await wait_for(lambda: len(node.edge.calls) == 1, 5)
    assert (await final_status(node.edge, NUMBER)).status == 486
    env = {"FRONTDESK_DATABASE_URL": db}

    def run(*args: str) -> str:
        result = CliRunner().invoke(app, ["calls", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    during = await asyncio.to_thread(run, "--active")
    assert "live calls: 1" in during and "pizzeria" in during and NUMBER in during
    assert "recent calls" not in during
    assert_ok(await live)
    assert await wait_for(lambda: node.recorder.written == 2, 3)
    after = await asyncio.to_thread(run)
    assert "live calls: 0" in after
    assert "completed" in after and "rejected 486" in after and "limit-number" in after


async def test_graceful_stop_ends_calls_and_frees_their_slots(
    pool: Pool, node_factory: object
) -> None:
    require_tool("sipp", "sip-tester")
    node: Node = await node_factory(pool, 5)  # type: ignore[operator]
    calls = asyncio.create_task(
        sipp(node.edge, SIPP_DATA / "uac_remote_bye.xml", calls=3, rate=50, service=NUMBER,
             timeout_s=20)
    )  # fmt: skip
    assert await wait_for(lambda: len(node.edge.calls) == 3, 5)
    assert await active(pool) == 3
    await node.edge.stop(grace=1.0)
    assert await active(pool) == 0  # every slot freed before stop() returned
    assert_ok(await calls, 3)  # each caller got our BYE
    assert {r.reason for r in node.edge.history} == {"shutdown"}
