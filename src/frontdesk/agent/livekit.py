"""The receptionist on the LiveKit front: the `AgentStarter` a LiveKit job calls.

Owns: turning an admitted LiveKit call (the job's `Accept`, with the same `Route` and
merged config the built-in edge gets) into the same `CallSpec`, the same `Receptionist`
and the same `AgentSession` (`frontdesk.agent.session.new_session`), started on the
room's audio; and the `CallActions` of this front:
- tickets go straight to the database (the job has a pool), linked to the call's session;
- a transfer is LiveKit's `TransferSIPParticipant` (LiveKit sends the REFER to the PBX);
  a bare extension or number becomes `tel:TARGET`, a `sip:`/`tel:` target is used as is;
- hanging up deletes the room (LiveKit sends BYE).
The transcript is collected from the session's events and stored on the session row when
the session closes.

Must not: admit or release calls (the job does, `frontdesk.livekit.job`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from livekit import api, rtc
from livekit.agents import AgentSession, JobContext, llm
from livekit.agents.voice import room_io
from livekit.agents.voice.events import CloseEvent, ConversationItemAddedEvent

from frontdesk.agent.receptionist import TRANSFERRED, Receptionist
from frontdesk.agent.session import load_factory, new_session
from frontdesk.agent.spec import CallSpec, call_spec
from frontdesk.agent.summary import FinishedCall, PostCallSummaries
from frontdesk.calls.decision import Accept, InviteFacts
from frontdesk.calls.routing import Route
from frontdesk.config import Settings
from frontdesk.edge.tasks import TaskOwner
from frontdesk.store import agent_records
from frontdesk.store.engine import Pool

log = logging.getLogger(__name__)


class LiveKitCallActions:
    """`CallActions` for a call carried by LiveKit."""

    def __init__(
        self, ctx: JobContext, participant: rtc.RemoteParticipant, spec: CallSpec, pool: Pool
    ) -> None:
        self._ctx = ctx
        self._participant = participant
        self._spec = spec
        self._pool = pool

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        spec = self._spec
        if spec.org_id is None:
            raise RuntimeError("tickets need an organization")
        ticket_id = await agent_records.create_ticket(
            self._pool,
            uuid.UUID(spec.org_id),
            kind=kind,
            subject=summary or details,
            body=details,
            session_id=uuid.UUID(spec.session_id) if spec.session_id else None,
            customer_id=uuid.UUID(spec.customer.id) if spec.customer else None,
            call=agent_records.TicketCall(
                spec.call_id,
                spec.caller,
                spec.called,
                uuid.UUID(spec.number_id) if spec.number_id else None,
            ),
        )
        return str(ticket_id)

    async def transfer(self) -> int:
        target = self._spec.config.transfer_target
        if not target:
            raise RuntimeError("no transfer target is configured for this number")
        transfer_to = target if target.startswith(("sip:", "tel:")) else f"tel:{target}"
        try:
            await self._ctx.api.sip.transfer_sip_participant(
                api.TransferSIPParticipantRequest(
                    room_name=self._ctx.room.name,
                    participant_identity=self._participant.identity,
                    transfer_to=transfer_to,
                )
            )
        except api.TwirpError as exc:
            log.warning("transfer of call %s failed: %s", self._spec.call_id, exc.message)
            return int(exc.status or 500)
        return TRANSFERRED

    async def hang_up(self, reason: str) -> None:
        await self._ctx.api.room.delete_room(api.DeleteRoomRequest(room=self._ctx.room.name))


@dataclass
class PreparedAgent:
    """Everything `start_agent` starts, built without touching the room."""

    spec: CallSpec
    session: AgentSession[None]
    agent: Receptionist
    transcript: list[dict[str, Any]] = field(default_factory=list)
    tasks: TaskOwner = field(default_factory=lambda: TaskOwner("livekit agent"))


async def spec_for(accept: Accept, facts: InviteFacts, pool: Pool) -> CallSpec:
    """The call's `CallSpec`, exactly as the edge builds it (route, session, customer)."""
    route = accept.context.get("route")
    if not isinstance(route, Route):
        raise TypeError("an admitted LiveKit call carries its Route")
    return await call_spec(facts.call_id, route, accept.context.get("session_id"), pool)


async def prepare_agent(
    ctx: JobContext,
    participant: rtc.RemoteParticipant,
    accept: Accept,
    facts: InviteFacts,
    pool: Pool,
    settings: Settings,
) -> PreparedAgent:
    spec = await spec_for(accept, facts, pool)
    session = new_session(spec, settings, load_factory(settings.agent_provider_factory))
    agent = Receptionist(spec, LiveKitCallActions(ctx, participant, spec, pool))
    prepared = PreparedAgent(spec, session, agent)

    def on_item(event: ConversationItemAddedEvent) -> None:
        item = event.item
        if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant"):
            text = item.text_content or ""
            if text:
                role = "caller" if item.role == "user" else "agent"
                prepared.transcript.append({"role": role, "text": text, "at": time.time()})

    answered_at = time.time()

    def on_close(_event: CloseEvent) -> None:
        if spec.session_id is not None:
            store = finish_session(pool, settings, spec, prepared.transcript, answered_at)
            prepared.tasks.spawn(store, name="store transcript and summary")

    async def on_shutdown(_reason: str) -> None:
        await prepared.tasks.drain(wait_s=2.0)

    session.on("conversation_item_added", on_item)
    session.on("close", on_close)
    ctx.add_shutdown_callback(on_shutdown)
    return prepared


async def finish_session(
    pool: Pool,
    settings: Settings,
    spec: CallSpec,
    transcript: list[dict[str, Any]],
    answered_at: float,
) -> None:
    """At the session's close: its transcript, then its post-call summary and `call.ended`
    (the same summary as on the built-in edge; the end reason is the session's close)."""
    if spec.session_id is None:
        return
    try:
        await agent_records.store_transcript(pool, uuid.UUID(spec.session_id), transcript)
    except Exception:
        log.exception("storing the transcript of session %s failed", spec.session_id)
        return
    if not settings.summary_enabled or spec.org_id is None:
        return
    call = FinishedCall(
        session_id=uuid.UUID(spec.session_id),
        org_id=uuid.UUID(spec.org_id),
        number_id=uuid.UUID(spec.number_id) if spec.number_id else None,
        call_id=spec.call_id,
        caller=spec.caller,
        called=spec.called,
        reason="session-closed",
        started_at=answered_at,
        answered_at=answered_at,
        ended_at=time.time(),
        transcript=tuple(transcript),
    )
    try:
        await PostCallSummaries(pool, settings).summarise(call)
    except Exception:
        log.exception("the post-call summary of session %s failed", spec.session_id)


async def start_agent(
    ctx: JobContext,
    participant: rtc.RemoteParticipant,
    accept: Accept,
    facts: InviteFacts,
    pool: Pool,
) -> AgentSession[Any]:
    """The `AgentStarter` of `frontdesk livekit worker` (see frontdesk.livekit.worker)."""
    settings: Settings = ctx.proc.userdata["settings"]
    prepared = await prepare_agent(ctx, participant, accept, facts, pool, settings)
    await prepared.session.start(
        prepared.agent,
        room=ctx.room,
        room_options=room_io.RoomOptions(participant_identity=participant.identity),
        record=False,
    )
    return prepared.session
