"""The same number's overrides reach the same agent on both fronts.

One test, parametrised over the fronts. On the built-in edge a real sipp call is admitted
on the embedded Postgres and handed to a real agent worker process; the `CallSpec` the
worker received is read off the live call. On the LiveKit front the job logic admits a
call from a fake room and the real starter code (`frontdesk.agent.livekit.prepare_agent`:
everything `start_agent` does but starting media in a room) builds the agent. Both must
build the `Receptionist` from the number's overrides on top of the org's config.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession, JobContext
from tests.conftest import SIPP_DATA, edge_settings, require_tool, wait_for
from tests.integration.livekit.conftest import livekit_settings
from tests.integration.livekit.fake_livekit import FakeLiveKit
from tests.integration.livekit.test_job import Harness
from tests.support.sipp import run_sipp

from frontdesk.agent.host import AgentHost
from frontdesk.agent.livekit import PreparedAgent, prepare_agent
from frontdesk.agent.receptionist import Receptionist
from frontdesk.agent.spec import CallSpec
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.routing import RoutingDecider
from frontdesk.cli.demo import seed_demo
from frontdesk.edge.server import EdgeServer
from frontdesk.livekit.client import LiveKitCredentials, open_api
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.routing import load_routing_table
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INFO = "+390551234568"  # demo override: greeting "How can I help?"
PROMPT = "You answer the information line of Pizzeria Da Mario, never the orders line."


class NoActions:
    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        raise AssertionError("not called")

    async def transfer(self) -> int:
        raise AssertionError("not called")

    async def hang_up(self, reason: str) -> None:
        raise AssertionError("not called")


async def seeded(pool: Pool, tmp_path: Path) -> None:
    await seed_demo(pool, edge_settings(data_dir=tmp_path / "data"))
    async with operator_tx(pool, actor="test") as conn:
        await update_number(
            conn, INFO, default_country="IT", override_changes={"system_prompt": PROMPT}
        )


async def spec_on_the_edge(pool: Pool, tmp_path: Path) -> CallSpec:
    require_tool("sipp", "sip-tester")
    settings = edge_settings(agent_workers=1, data_dir=tmp_path / "data")
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id=settings.node_id, node_max_calls=5, node_ttl=5)
    await admission.register()
    host = AgentHost(settings, pool)
    await host.start()
    edge = EdgeServer(settings, admission, responder=host.run_call)
    await edge.start()
    try:
        call = asyncio.create_task(
            asyncio.to_thread(
                run_sipp,
                SIPP_DATA / "uac_basic.xml",
                f"127.0.0.1:{settings.sip_port}",
                service="0551234568",  # dialled in national form
                call_length_ms=3000,
                timeout_s=20,
            )
        )
        assert await wait_for(lambda: bool(host.workers[0].calls), 10)
        (agent_call,) = host.workers[0].calls.values()
        result = await call
        assert result.successful_calls == 1
        return agent_call.spec
    finally:
        await edge.stop(grace=0.5)
        await host.stop()


async def spec_on_livekit(pool: Pool, fake: FakeLiveKit, tmp_path: Path) -> CallSpec:
    settings = livekit_settings(fake.url, data_dir=tmp_path / "data")
    prepared: list[PreparedAgent] = []

    async def starter(
        ctx: JobContext,
        participant: rtc.RemoteParticipant,
        accept: Admitted,
        facts: InviteFacts,
        job_pool: Pool,
    ) -> AgentSession[Any]:
        agent = await prepare_agent(ctx, participant, accept, facts, job_pool, settings)
        prepared.append(agent)
        return agent.session

    # the worker's main process registers the node its jobs admit on
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    await Admission(pool, routing, node_id="node-1", node_max_calls=5, node_ttl=15).register()
    async with open_api(LiveKitCredentials.from_settings(settings)) as lkapi:
        harness = Harness(pool, fake, lkapi)
        harness.starter = starter  # type: ignore[assignment]
        try:
            _room, _ctx, result = await harness.run(INFO)
        finally:
            for ctx in harness.contexts:
                ctx._tempdir.cleanup()
    assert isinstance(result.decision, Admitted)
    (agent,) = prepared
    assert agent.agent.spec == agent.spec
    return agent.spec


@pytest.mark.parametrize("front", ["edge", "livekit"])
async def test_number_overrides_reach_the_agent(
    front: str, pool: Pool, fake_livekit: FakeLiveKit, tmp_path: Path
) -> None:
    await seeded(pool, tmp_path)
    if front == "edge":
        spec = await spec_on_the_edge(pool, tmp_path)
    else:
        spec = await spec_on_livekit(pool, fake_livekit, tmp_path)
    assert spec.called == INFO and spec.org_slug == "pizzeria"
    assert spec.session_id is not None  # the admitted call's sessions row
    agent = Receptionist(spec, NoActions())
    # the number's overrides...
    assert spec.config.greeting == "How can I help?"
    assert agent.instructions.startswith(PROMPT)
    # ...on top of the org's config, which the number does not override
    assert "Every day from 6 pm to 11 pm." in agent.instructions
    assert spec.config.transfer_target == "200"
    assert {tool.id for tool in agent.tools} == {"create_ticket", "end_call", "transfer_to_human"}
