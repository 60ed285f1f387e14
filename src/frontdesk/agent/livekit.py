"""The receptionist on the LiveKit front: the `AgentStarter` a LiveKit job calls.

Owns: turning an admitted LiveKit call (the job's `Admitted`, with the same `Route` and
merged config the built-in edge gets) into the same `CallSpec`, the same `Receptionist`
with the same tools (`frontdesk.agent.tools.CallTools`) and the same `AgentSession`
(`frontdesk.agent.session.new_session`), started on the room's audio; and `LiveKitCall`,
this front's `CallHandle`:
- a transfer is LiveKit's `TransferSIPParticipant` (LiveKit sends the REFER to the PBX);
  a bare extension or number becomes `tel:TARGET`, a `sip:`/`tel:` target is used as is;
- hanging up deletes the room (LiveKit sends BYE);
- the transcript sink collects the session's conversation, stored on the session row
  when the session closes.

Must not: admit or release calls (the job does, `frontdesk.livekit.job`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from livekit import api, rtc
from livekit.agents import AgentSession, JobContext, llm
from livekit.agents.voice import room_io
from livekit.agents.voice.events import CloseEvent, ConversationItemAddedEvent

from frontdesk.agent.receptionist import Receptionist
from frontdesk.agent.session import load_factory, new_session, served_by
from frontdesk.agent.spec import CallSpec, spec_for_call
from frontdesk.agent.summary import FinishedCall, PostCallSummaries
from frontdesk.agent.tools import CallTools
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.handle import TRANSFERRED
from frontdesk.calls.record import TranscriptLine
from frontdesk.config import Settings
from frontdesk.store import agent_records
from frontdesk.store.engine import Pool
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)


class LiveKitCall:
    """The `CallHandle` of a call carried by LiveKit: the SIP participant in its room."""

    def __init__(
        self,
        ctx: JobContext,
        participant: rtc.RemoteParticipant,
        facts: InviteFacts,
        admitted: Admitted,
        tasks: TaskOwner,
    ) -> None:
        self._ctx = ctx
        self._participant = participant
        self.facts = facts
        self.admitted = admitted
        self._tasks = tasks
        self.transcript: list[TranscriptLine] = []

    @property
    def call_id(self) -> str:
        return self.facts.call_id

    async def transfer(self, target: str) -> int:
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
            log.warning("transfer of call %s failed: %s", self.call_id, exc.message)
            return int(exc.status or 500)
        return TRANSFERRED

    def hangup(self, reason: str) -> None:
        self._tasks.spawn(self._delete_room(), name=f"hang up {self.call_id}")

    async def _delete_room(self) -> None:
        await self._ctx.api.room.delete_room(api.DeleteRoomRequest(room=self._ctx.room.name))

    def add_transcript(self, line: TranscriptLine) -> None:
        self.transcript.append(line)


@dataclass
class PreparedAgent:
    """Everything `start_agent` starts, built without touching the room."""

    spec: CallSpec
    session: AgentSession[None]
    agent: Receptionist
    call: LiveKitCall
    tasks: TaskOwner

    @property
    def transcript(self) -> list[TranscriptLine]:
        return self.call.transcript


async def prepare_agent(
    ctx: JobContext,
    participant: rtc.RemoteParticipant,
    admitted: Admitted,
    facts: InviteFacts,
    pool: Pool,
    settings: Settings,
) -> PreparedAgent:
    if admitted.route is None:
        raise TypeError("an admitted LiveKit call carries its Route")
    tasks = TaskOwner("livekit agent")
    call = LiveKitCall(ctx, participant, facts, admitted, tasks)
    spec = await spec_for_call(call, pool)
    session = new_session(spec, settings, load_factory(settings.agent_provider_factory))
    agent = Receptionist(spec, CallTools(call, spec, pool))
    prepared = PreparedAgent(spec, session, agent, call, tasks)

    def on_item(event: ConversationItemAddedEvent) -> None:
        item = event.item
        if isinstance(item, llm.ChatMessage) and item.role in ("user", "assistant"):
            text = item.text_content or ""
            if text:
                role = "caller" if item.role == "user" else "agent"
                served = served_by(item)
                line = TranscriptLine(
                    role,
                    text,
                    time.time(),
                    stt=served.get("stt"),
                    llm=served.get("llm"),
                    tts=served.get("tts"),
                )
                call.add_transcript(line)

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
    transcript: list[TranscriptLine],
    answered_at: float,
) -> None:
    """At the session's close: its transcript, then its post-call summary and `call.ended`
    (the same summary as on the built-in edge; the end reason is the session's close)."""
    if spec.session_id is None:
        return
    try:
        lines = [line.as_json() for line in transcript]
        await agent_records.store_transcript(pool, uuid.UUID(spec.session_id), lines)
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
        transcript=tuple(line.as_json() for line in transcript),
    )
    try:
        await PostCallSummaries(pool, settings).summarise(call)
    except Exception:
        log.exception("the post-call summary of session %s failed", spec.session_id)


async def start_agent(
    ctx: JobContext,
    participant: rtc.RemoteParticipant,
    admitted: Admitted,
    facts: InviteFacts,
    pool: Pool,
) -> AgentSession[Any]:
    """The `AgentStarter` of `frontdesk livekit worker` (see frontdesk.livekit.worker)."""
    settings: Settings = ctx.proc.userdata["settings"]
    prepared = await prepare_agent(ctx, participant, admitted, facts, pool, settings)
    await prepared.session.start(
        prepared.agent,
        room=ctx.room,
        room_options=room_io.RoomOptions(participant_identity=participant.identity),
        record=False,
    )
    return prepared.session
