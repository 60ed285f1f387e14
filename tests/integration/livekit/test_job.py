"""The worker's job logic against the real embedded Postgres, a fake room and a fake LiveKit API.

The job context is livekit-agents' own `fake_job_context` (1.8.9 ships it in
`livekit.agents.testing`). The agent starter is a recording fake that returns a real (not
started) `AgentSession`: starting a real session needs LiveKit's native media stack in a
connected room, which the fake room cannot carry. Framework shutdown is played by running
the job context's registered shutdown callbacks, as the job runner does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from livekit import api, rtc
from livekit.agents import AgentSession, JobContext
from livekit.agents.testing import fake_job_context
from livekit.agents.voice.events import CloseEvent, CloseReason
from livekit.protocol import models
from tests.integration.livekit.fake_livekit import FakeLiveKit
from tests.integration.livekit.fake_room import SIP, FakeRoom, remote
from tests.integration.store.support import Seed

from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.routing import Route, RoutingDecider
from frontdesk.livekit.client import LiveKitCredentials, open_api
from frontdesk.livekit.job import CallJob, JobResult, LiveKitControl
from frontdesk.livekit.reconcile import Reconciler
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.slots import close_session

ROOM = "call-_+393331112222_aBcD"
CALL_ID = "a84b4c76e66710@pbx.example"


class RecordingStarter:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.calls: list[tuple[rtc.RemoteParticipant, Admitted, InviteFacts]] = []
        self.sessions: list[AgentSession[Any]] = []

    async def __call__(
        self,
        ctx: JobContext,
        p: rtc.RemoteParticipant,
        accept: Admitted,
        facts: InviteFacts,
        pool: Pool,
    ) -> AgentSession[Any]:
        self.events.append("agent:start")
        self.calls.append((p, accept, facts))
        session: AgentSession[Any] = AgentSession()
        self.sessions.append(session)
        return session


class Harness:
    def __init__(self, pool: Pool, fake: FakeLiveKit, lkapi: api.LiveKitAPI) -> None:
        self.pool, self.fake, self.lkapi = pool, fake, lkapi
        self.events = fake.events
        self.starter = RecordingStarter(self.events)
        self.shutdowns: list[str] = []
        self.contexts: list[JobContext] = []

    def sip_participant(self, called: str) -> rtc.RemoteParticipant:
        return remote(
            "sip_+393331112222",
            SIP,
            {"sip.trunkPhoneNumber": called, "sip.phoneNumber": "+393331112222",
             "sip.callIDFull": CALL_ID, "sip.callID": "SCL_x1", "sip.callStatus": "ringing"},
        )  # fmt: skip

    async def job(self, node_id: str = "node-1", node_max: int = 10) -> CallJob:
        table = await load_routing_table(self.pool, "IT")
        admission = Admission(
            self.pool, RoutingDecider(table), node_id=node_id, node_max_calls=node_max,
            node_ttl=15.0,
        )  # fmt: skip
        return CallJob(
            pool=self.pool, admission=admission, recorder=SessionRecorder(self.pool, node_id),
            control=LiveKitControl(self.lkapi), starter=self.starter, participant_timeout=5.0,
        )  # fmt: skip

    def context(self, room: FakeRoom) -> AbstractContextManager[JobContext]:
        return fake_job_context(room=room, job_id="AJ_test")

    async def run(self, called: str, **job: Any) -> tuple[FakeRoom, JobContext, JobResult]:
        room = FakeRoom(ROOM, self.events)
        participant = self.sip_participant(called)
        self.fake.add_room(
            ROOM, [models.ParticipantInfo(identity="sip", kind=models.ParticipantInfo.SIP)]
        )
        call_job = await self.job(**job)
        with self.context(room) as ctx:
            ctx._on_shutdown = self.shutdowns.append  # what the job runner would be told
            self.contexts.append(ctx)
            task = asyncio.create_task(call_job.run(ctx))
            await asyncio.sleep(0.01)  # the job waits for the SIP participant first
            self.events.append("room:sip-joined")
            room.join(participant)
            result = await asyncio.wait_for(task, 10)
        return room, ctx, result


@pytest.fixture
async def harness(
    pool: Pool, fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> AsyncIterator[Harness]:
    async with open_api(credentials) as lkapi:
        harness = Harness(pool, fake_livekit, lkapi)
        yield harness
    for ctx in harness.contexts:  # the job runner's cleanup (fake_job_context leaves it)
        ctx._tempdir.cleanup()


async def _rows(pool: Pool, query: bytes, *params: object) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        return list(await (await conn.execute(query, params)).fetchall())


async def _set(pool: Pool, query: bytes, *params: object) -> None:
    async with pool.connection() as conn:
        await conn.execute(query, params)


async def _session(pool: Pool, call_id: str = CALL_ID) -> tuple[Any, ...]:
    (row,) = await _rows(
        pool,
        b"SELECT outcome, reason, reject_status, answered_at IS NOT NULL, node_id, called_number"
        b" FROM sessions WHERE call_id_sip = %s",
        call_id,
    )
    return row


async def _active(pool: Pool) -> int:
    rows = await _rows(pool, b"SELECT count(*) FROM active_calls WHERE call_id_sip = %s", CALL_ID)
    return int(rows[0][0])


async def test_admitted_call_starts_the_agent_and_holds_a_slot(
    harness: Harness, seed: Seed
) -> None:
    await _set(harness.pool, b"UPDATE sip_numbers SET max_concurrent_calls = 3, config_override ="
               b" '{\"greeting\": \"Numero uno\"}' WHERE id = %s", seed.a.number)  # fmt: skip
    _room, _ctx, result = await harness.run("0551234567")  # national spelling: same number
    assert isinstance(result.decision, Admitted)
    ((participant, accept, facts),) = harness.starter.calls
    assert participant.identity == "sip_+393331112222"
    assert facts == InviteFacts(CALL_ID, "0551234567", "+393331112222", ("livekit", 0))
    route = accept.route
    assert isinstance(route, Route) and route.called == "+390551234567"
    assert route.config.greeting == "Numero uno"  # the number's override on the org config
    assert await _active(harness.pool) == 1
    assert await _session(harness.pool) == (
        "in-progress", None, None, True, "node-1", "+390551234567"
    )  # fmt: skip
    await asyncio.sleep(0.05)  # the room is tagged beside the agent start
    assert str(result.decision.session_id) in harness.fake.rooms[ROOM].metadata
    assert "api:DeleteRoom" not in harness.events
    assert not harness.shutdowns


@pytest.mark.parametrize(
    ("level", "node_id", "node_max", "org_max", "number_max"),
    [
        ("number", "node-1", 10, None, 1),  # the seed's live call fills the number
        ("org", "node-1", 10, 1, 5),
        ("node", "node-1", 2, None, 5),  # node-1 carries the seed's two calls
    ],
)
async def test_over_limit_hangs_up_before_any_publish_and_records_the_level(
    harness: Harness, seed: Seed, level: str, node_id: str, node_max: int,
    org_max: int | None, number_max: int,
) -> None:  # fmt: skip
    await _set(harness.pool, b"UPDATE sip_numbers SET max_concurrent_calls = %s WHERE id = %s",
               number_max, seed.a.number)  # fmt: skip
    await _set(harness.pool, b"UPDATE organizations SET max_concurrent_calls = %s WHERE id = %s",
               org_max, seed.a.org)  # fmt: skip
    _room, _ctx, _result = await harness.run("+390551234567", node_id=node_id, node_max=node_max)
    after_join = harness.events[harness.events.index("room:sip-joined") + 1 :]
    assert after_join == ["api:DeleteRoom"]  # the hang-up, and nothing else: no publish
    assert ROOM not in harness.fake.rooms
    assert not harness.starter.calls
    assert await _session(harness.pool) == (
        "rejected", f"limit-{level}", 486, False, node_id, "+390551234567"
    )  # fmt: skip
    assert await _active(harness.pool) == 0
    assert harness.shutdowns == [f"refused: limit-{level}"]


async def test_unknown_number_is_refused_the_same_way(harness: Harness, seed: Seed) -> None:
    # deleting the room before answer is all this front can do: the PBX hears LiveKit
    # SIP's 486 (frontdesk.livekit.answers), and that is what the history records
    await harness.run("+390550000000")
    assert harness.events[-1] == "api:DeleteRoom"
    assert not harness.starter.calls
    assert await _session(harness.pool) == (
        "rejected", "unknown-number", 486, False, "node-1", "+390550000000"
    )  # fmt: skip


async def test_caller_leaving_frees_the_slot_once_even_when_shutdown_follows(
    harness: Harness, seed: Seed
) -> None:
    await _set(harness.pool, b"UPDATE sip_numbers SET max_concurrent_calls = 3 WHERE id = %s",
               seed.a.number)  # fmt: skip
    room, ctx, result = await harness.run("+390551234567")
    assert await _active(harness.pool) == 1
    room.leave("sip_+393331112222")
    await asyncio.wait_for(result.released.wait(), 5)
    for callback in list(ctx._shutdown_callbacks):  # the job runner's shutdown, afterwards
        await callback("room disconnected")
    assert result.release_reason == "caller-left" and result.closed_here
    assert await _active(harness.pool) == 0
    assert (await _session(harness.pool))[:2] == ("completed", "caller-left")
    assert harness.shutdowns == ["caller-left"]
    # any later closer (webhook, reconciler) finds nothing left to close
    session_id = result.decision.session_id  # type: ignore[union-attr]
    assert isinstance(session_id, uuid.UUID)
    assert not await close_session(harness.pool, session_id, "webhook-participant-left")
    assert (await _session(harness.pool))[:2] == ("completed", "caller-left")


async def test_session_end_frees_the_slot(harness: Harness, seed: Seed) -> None:
    await _set(harness.pool, b"UPDATE sip_numbers SET max_concurrent_calls = 3 WHERE id = %s",
               seed.a.number)  # fmt: skip
    _room, _ctx, result = await harness.run("+390551234567")
    (session,) = harness.starter.sessions
    session.emit("close", CloseEvent(reason=CloseReason.USER_INITIATED))
    await asyncio.wait_for(result.released.wait(), 5)
    assert await _active(harness.pool) == 0
    assert (await _session(harness.pool))[:2] == ("completed", "session-user_initiated")


@pytest.mark.parametrize("room_state", ["agent-gone", "room-gone"])
async def test_crashed_job_is_reconciled(harness: Harness, seed: Seed, room_state: str) -> None:
    await _set(harness.pool, b"INSERT INTO nodes (id, max_calls) VALUES ('lk-1', 10)")
    await _set(harness.pool, b"UPDATE sip_numbers SET max_concurrent_calls = 3 WHERE id = %s",
               seed.a.number)  # fmt: skip
    _room, _ctx, result = await harness.run("+390551234567", node_id="lk-1")
    await asyncio.sleep(0.05)  # the room tag lands
    # the job process dies: no shutdown callback runs, the row stays
    if room_state == "room-gone":
        del harness.fake.rooms[ROOM]
    reconciler = Reconciler(harness.pool, harness.lkapi, node_ids=["lk-1"], prefix="call-",
                            grace=0.0)  # fmt: skip
    report = await reconciler.run_once()
    session_id = result.decision.session_id  # type: ignore[union-attr]
    if room_state == "room-gone":
        assert report.freed == (session_id,) and report.ended == ()
        assert (await _session(harness.pool))[:2] == ("failed", "livekit-room-gone")
    else:  # one participant left in the room (the caller): end it, do not leave silence
        assert report.ended == (session_id,) and report.freed == ()
        assert ROOM not in harness.fake.rooms
        assert (await _session(harness.pool))[:2] == ("failed", "job-lost")
    assert await _active(harness.pool) == 0
    assert (await reconciler.run_once()).rows == 0  # nothing left; seed rows (node-1) untouched
    assert len(await _rows(harness.pool, b"SELECT 1 FROM active_calls")) == 2
