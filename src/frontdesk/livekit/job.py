"""One LiveKit job = one call: route and admit like the edge, refuse before any audio, free once.

Owns: `CallJob.run(ctx)`, the logic of a job of our worker, and `LiveKitControl`, the two
server calls it makes (end a call by deleting its room; tag the room with the session id).
The flow, from the facts in the issue (checked against livekit-agents 1.8.9):

    wait for the SIP participant (the job request does not carry its attributes)
      → InviteFacts from sip.trunkPhoneNumber / sip.phoneNumber / sip.callIDFull
      → Admission.decide: the edge's routing table and `frontdesk_admit`, node = this worker
    Refused → FIRST delete the room (LiveKit SIP is still sending 180s, has heard no agent
             track, so the PBX gets 486 whatever the reason: `livekit.answers`), THEN
             record the refusal as the edge does, with the status the PBX heard
             (CallRecord → SessionRecorder), then end the job. Nothing is ever published.
    Admitted → watch the three end signals, start the agent (injected `AgentStarter`),
             mark the session answered (LiveKit answers 200 when it hears the agent).

The slot is freed exactly once, on whichever comes first: the SIP participant leaving,
the agent session closing, the job shutting down (its callbacks run; a crashed process runs
none, which is what `reconcile` is for). In the job a flag makes it once; across processes
(webhook, reconciler) `store.slots.close_session`'s DELETE … RETURNING does.

Must not: publish audio itself, or talk to the database except through Admission, the
SessionRecorder and `frontdesk.store.slots`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from livekit import api, rtc
from livekit.agents import AgentSession, JobContext
from livekit.agents.voice.events import CloseEvent

from frontdesk.calls.decision import Admitted, InviteFacts, Refused
from frontdesk.calls.record import CallRecord
from frontdesk.livekit.answers import livekit_answer
from frontdesk.livekit.calls import (
    ATTR_CALL_ID,
    ATTR_CALL_ID_FULL,
    ATTR_CALLED,
    ATTR_CALLER,
    SESSION_METADATA_KEY,
)
from frontdesk.livekit.client import LIVEKIT_ERRORS, livekit_error
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.slots import close_session, mark_answered
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)

AgentStarter = Callable[
    [JobContext, rtc.RemoteParticipant, Admitted, InviteFacts, Pool],
    Awaitable["AgentSession[Any]"],
]

LIVEKIT_SOURCE = ("livekit", 0)


class CallControl(Protocol):
    """The server-side actions a job takes on its call."""

    async def end_call(self, room: str) -> None: ...

    async def tag_room(self, room: str, session_id: uuid.UUID) -> None: ...


class LiveKitControl:
    """`CallControl` over LiveKit's RoomService (Twirp), with admin credentials.

    Ending = deleting the room: before the agent has published, LiveKit SIP answers the
    PBX 486; after, it sends BYE. (JobContext.delete_room is not used: it swallows errors
    and is a no-op in a fake job, so a test could not see it.)
    """

    def __init__(self, lkapi: api.LiveKitAPI) -> None:
        self._api = lkapi

    async def end_call(self, room: str) -> None:
        try:
            await self._api.room.delete_room(api.DeleteRoomRequest(room=room))
        except api.TwirpError as exc:
            if exc.code != api.TwirpErrorCode.NOT_FOUND:  # already gone is what we wanted
                raise livekit_error(f"delete room {room}", exc) from exc
        except LIVEKIT_ERRORS as exc:
            raise livekit_error(f"delete room {room}", exc) from exc

    async def tag_room(self, room: str, session_id: uuid.UUID) -> None:
        metadata = f'{{"{SESSION_METADATA_KEY}": "{session_id}"}}'
        try:
            await self._api.room.update_room_metadata(
                api.UpdateRoomMetadataRequest(room=room, metadata=metadata)
            )
        except LIVEKIT_ERRORS as exc:
            raise livekit_error(f"tag room {room}", exc) from exc


def invite_facts_of(participant: rtc.RemoteParticipant, room: str) -> InviteFacts:
    """The edge's InviteFacts from a SIP participant's attributes (numbers raw, as sent)."""
    attrs = participant.attributes
    call_id = attrs.get(ATTR_CALL_ID_FULL) or attrs.get(ATTR_CALL_ID) or room
    return InviteFacts(
        call_id=call_id[:512],
        called=attrs.get(ATTR_CALLED, ""),
        caller=attrs.get(ATTR_CALLER, ""),
        source=LIVEKIT_SOURCE,
    )


@dataclass(slots=True)
class JobResult:
    """What one job did (tests and the bench read it)."""

    facts: InviteFacts | None = None
    decision: Admitted | Refused | None = None
    decide_s: float = 0.0  # Admission.decide, inside the job
    joined_to_start_s: float = 0.0  # SIP participant seen → agent session started
    session: AgentSession[Any] | None = None
    released: asyncio.Event = field(default_factory=asyncio.Event)
    release_reason: str = ""
    closed_here: bool = False  # this job's release deleted the row (not someone else's)


class CallJob:
    """The per-job logic; everything it touches is injected, so tests drive it for real."""

    def __init__(
        self,
        *,
        pool: Pool,
        admission: Admission,
        recorder: SessionRecorder,
        control: CallControl,
        starter: AgentStarter,
        participant_timeout: float = 30.0,
    ) -> None:
        self._pool = pool
        self._admission = admission
        self._recorder = recorder
        self._control = control
        self._starter = starter
        self._participant_timeout = participant_timeout
        self._tasks = TaskOwner("livekit job")

    async def run(self, ctx: JobContext) -> JobResult:
        """Set the call up; returns once refused or once the agent runs (the job lives on)."""
        result = JobResult()
        room = ctx.room.name or ctx.job.room.name
        participant = await asyncio.wait_for(
            ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP),
            self._participant_timeout,
        )
        joined = time.perf_counter()
        started_at = time.time()
        facts = result.facts = invite_facts_of(participant, room)
        decision = await self._admission.decide(facts)
        result.decide_s = time.perf_counter() - joined
        result.decision = decision
        if isinstance(decision, Refused):
            await self._refuse(ctx, room, facts, decision, started_at)
            return result
        session_id = decision.session_id
        assert session_id is not None, "Admission admits with a session id"
        self._watch(ctx, participant, session_id, result)
        self._tasks.spawn(self._tag(room, session_id), name=f"tag {room}")
        try:
            session = await self._starter(ctx, participant, decision, facts, self._pool)
        except Exception:
            log.exception("the agent did not start for call %s", facts.call_id)
            await self._end_quietly(room)
            await self._release(ctx, session_id, result, "agent-error")
            return result
        result.session = session
        result.joined_to_start_s = time.perf_counter() - joined
        session.on("close", lambda event: self._on_session_close(ctx, session_id, result, event))
        await mark_answered(self._pool, session_id)
        return result

    # ------------------------------------------------------------------ refusal
    async def _refuse(
        self, ctx: JobContext, room: str, facts: InviteFacts, refusal: Refused, started: float
    ) -> None:
        # the hang-up first: any await before it keeps the PBX hearing 180s
        await self._end_quietly(room)
        heard = livekit_answer(refusal.reason)
        record = CallRecord(facts.call_id, facts.called, facts.caller, "", "", 0, started)
        record.outcome, record.reason, record.status = "rejected", refusal.reason, heard.status
        record.owner = refusal.owner  # a known number's org sees it refused
        record.ended_at = time.time()
        self._recorder.submit(record)
        try:
            await self._recorder.flush()
        except ConnectionError:
            log.error("the refusal of call %s could not be recorded", facts.call_id)
        log.info("call %s refused: %s (%s)", facts.call_id, refusal.reason, heard.status)
        ctx.shutdown(f"refused: {refusal.reason}")

    async def _end_quietly(self, room: str) -> None:
        try:
            await self._control.end_call(room)
        except Exception:  # the room closes by itself at the ringing timeout
            log.exception("ending room %s failed", room)

    async def _tag(self, room: str, session_id: uuid.UUID) -> None:
        try:
            await self._control.tag_room(room, session_id)
        except Exception as exc:  # reconcile falls back to listing the participants
            log.warning("tagging room %s failed: %s", room, exc)

    # ------------------------------------------------------------------ release
    def _watch(
        self,
        ctx: JobContext,
        participant: rtc.RemoteParticipant,
        session_id: uuid.UUID,
        result: JobResult,
    ) -> None:
        identity = participant.identity

        def on_left(left: rtc.RemoteParticipant) -> None:
            if left.identity == identity:
                self._tasks.spawn(
                    self._release(ctx, session_id, result, "caller-left", shutdown=True),
                    name="release on leave",
                )

        async def on_shutdown(reason: str) -> None:
            await self._release(ctx, session_id, result, "job-shutdown")
            await self._tasks.close()

        ctx.room.on("participant_disconnected", on_left)
        ctx.add_shutdown_callback(on_shutdown)
        if identity not in ctx.room.remote_participants:  # left while we were deciding
            on_left(participant)

    def _on_session_close(
        self, ctx: JobContext, session_id: uuid.UUID, result: JobResult, event: CloseEvent
    ) -> None:
        reason = f"session-{event.reason.value}" if event.reason else "session-end"
        self._tasks.spawn(
            self._release(ctx, session_id, result, reason, shutdown=True), name="release on close"
        )

    async def _release(
        self,
        ctx: JobContext,
        session_id: uuid.UUID,
        result: JobResult,
        reason: str,
        *,
        shutdown: bool = False,
    ) -> None:
        if result.release_reason:  # once per job, whatever calls second
            return
        result.release_reason = reason
        try:
            result.closed_here = await close_session(self._pool, session_id, reason)
        except Exception:  # the worker's reconciler frees it within its interval
            log.exception("freeing the slot of session %s failed", session_id)
        result.released.set()
        if shutdown:
            ctx.shutdown(reason)
