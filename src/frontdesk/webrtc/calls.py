"""Browser test calls: "Talk to your receptionist" as one more front of the call lifecycle.

Owns: turning a browser's SDP offer for a number into an answered WebRTC call (aiortc) that
goes through the SAME routing and admission (`CallDecider`) and the same agent
(`responder`, the agent host's `run_call`) as a PBX call; `BrowserCall`, its
`MediaCallHandle`; ending it exactly once (hang-up from the page, from the agent, a lost
connection, the longest call time), which frees its admission slot once and hands its
`CallRecord` to the session recorder. The caller is recorded as `browser:<user email>`.

Must not: import the SIP edge, or know the web app (the routes call `place` and `hang_up`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from frontdesk.calls.audio import CallAudio
from frontdesk.calls.decision import Admitted, CallDecider, InviteFacts, RefusalReason, Refused
from frontdesk.calls.handle import MediaCallHandle
from frontdesk.calls.record import CallRecord, TranscriptLine
from frontdesk.tasks import TaskOwner
from frontdesk.webrtc.answers import browser_answer
from frontdesk.webrtc.track import AgentTrack, pump_caller_audio

log = logging.getLogger(__name__)

BROWSER_CALLER_PREFIX = "browser:"
NO_TRANSFER = 501  # a browser test call cannot be transferred to a phone
_SOURCE = ("browser", 0)

Responder = Callable[[MediaCallHandle], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Answered:
    call_id: str
    sdp: str


@dataclass(frozen=True, slots=True)
class NotAnswered:
    status: int  # HTTP status for the page
    message: str  # plain words for the page
    reason: RefusalReason | None = None


class BrowserCall:
    """One live browser test call: the agent sees it as a `MediaCallHandle`."""

    def __init__(
        self,
        facts: InviteFacts,
        admitted: Admitted,
        pc: RTCPeerConnection,
        on_end: Callable[[BrowserCall, str], None],
    ) -> None:
        self._facts = facts
        self._admitted = admitted
        self.pc = pc
        self._on_end = on_end
        self.track = AgentTrack(on_first_audio=self._first_audio)
        self._audio = CallAudio(self.track, self.hangup)
        self.transcript: list[TranscriptLine] = []
        self.started_at = time.time()
        self.answered_at = self.started_at
        self.first_audio_at: float | None = None
        self.finished = False
        self.reason = ""

    def _first_audio(self) -> None:
        self.first_audio_at = time.time()

    # -- MediaCallHandle ------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self._facts.call_id

    @property
    def facts(self) -> InviteFacts:
        return self._facts

    @property
    def admitted(self) -> Admitted:
        return self._admitted

    @property
    def audio(self) -> CallAudio:
        return self._audio

    async def transfer(self, target: str) -> int:
        return NO_TRANSFER

    def hangup(self, reason: str = "agent-hangup") -> None:
        self._on_end(self, reason)

    def add_transcript(self, line: TranscriptLine) -> None:
        self.transcript.append(line)


class BrowserCalls:
    """Places and ends browser test calls on this node."""

    def __init__(
        self,
        decider: CallDecider,
        responder: Responder | None,
        on_record: Callable[[CallRecord], None] | None,
        max_call_duration: float,
    ) -> None:
        self._decider = decider
        self._responder = responder
        self._on_record = on_record
        self._max_duration = max_call_duration
        self._tasks = TaskOwner("browser calls")
        self.calls: dict[str, BrowserCall] = {}

    async def place(self, called: str, user_email: str, offer_sdp: str) -> Answered | NotAnswered:
        """Admit a call to `called` for the signed-in user and answer the browser's offer."""
        if "m=audio" not in offer_sdp:
            return NotAnswered(400, "Your browser offered no audio.")
        facts = InviteFacts(
            call_id=f"browser-{uuid.uuid4()}",
            called=called,
            caller=BROWSER_CALLER_PREFIX + user_email,
            source=_SOURCE,
        )
        started = time.time()
        decision = await self._decider.decide(facts)
        if isinstance(decision, Refused):
            self._record_refusal(facts, decision, started)
            status, message = browser_answer(decision.reason)
            return NotAnswered(status, message, decision.reason)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        call = BrowserCall(facts, decision, pc, self._end)
        call.started_at = started
        self.calls[call.call_id] = call
        try:
            answer_sdp = await self._answer(call, offer_sdp)
        except Exception as exc:  # an offer aiortc cannot take: the slot is freed at once
            log.warning("browser call %s: the offer was refused: %s", call.call_id, exc)
            self._end(call, "bad-offer")
            return NotAnswered(400, "Your browser's call offer could not be read.")
        call.answered_at = time.time()
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self._max_duration, self._end, call, "max-duration")
        self._tasks.spawn(self._run(call, timer), name=f"browser call {call.call_id}")
        return Answered(call.call_id, answer_sdp)

    async def _answer(self, call: BrowserCall, offer_sdp: str) -> str:
        pc = call.pc

        @pc.on("track")
        def on_track(track: object) -> None:
            if getattr(track, "kind", "") == "audio":
                self._tasks.spawn(
                    pump_caller_audio(track, call.audio.feed_frame),  # type: ignore[arg-type]
                    name=f"browser call {call.call_id} caller audio",
                )

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in {"failed", "closed"}:
                self._end(call, "connection-lost")

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        pc.addTrack(call.track)
        answer = await pc.createAnswer()
        await pc.setLocalDescription(answer)  # waits for ICE gathering: the SDP is complete
        return str(pc.localDescription.sdp)

    async def _run(self, call: BrowserCall, timer: asyncio.TimerHandle) -> None:
        try:
            if self._responder is not None:
                await self._responder(call)
            await call.audio.closed_wait()
        finally:
            timer.cancel()
            self._end(call, "agent-ended")

    def hang_up(self, call_id: str, user_email: str) -> bool:
        """The page's hang-up: only the user who placed the call may end it."""
        call = self.calls.get(call_id)
        if call is None or call.facts.caller != BROWSER_CALLER_PREFIX + user_email:
            return False
        self._end(call, "remote-bye")
        return True

    def _end(self, call: BrowserCall, reason: str) -> None:
        """The call's end: runs once, whatever ends it."""
        if call.finished:
            return
        call.finished = True
        call.reason = reason
        self.calls.pop(call.call_id, None)
        call.audio.close()
        call.track.stop()
        self._tasks.spawn(self._close(call), name=f"browser call {call.call_id} end")

    async def _close(self, call: BrowserCall) -> None:
        try:
            await call.pc.close()
        finally:
            record = self._record(call)
            await self._decider.release(call.facts, call.reason, record)
            if self._on_record is not None:
                self._on_record(record)

    def _record(self, call: BrowserCall) -> CallRecord:
        admitted = call.admitted
        return CallRecord(
            call.call_id,
            admitted.route.called if admitted.route is not None else call.facts.called,
            call.facts.caller,
            "answered",
            call.reason,
            200,
            call.started_at,
            answered_at=call.answered_at,
            ended_at=time.time(),
            greeting=admitted.greeting,
            transcript=list(call.transcript),
            owner=admitted.owner,
            session_id=admitted.session_id,
        )

    def _record_refusal(self, facts: InviteFacts, refused: Refused, started: float) -> None:
        if self._on_record is None:
            return
        status, _ = browser_answer(refused.reason)
        record = CallRecord(
            facts.call_id,
            facts.called,
            facts.caller,
            "rejected",
            refused.reason.value,
            status,
            started,
            ended_at=time.time(),
            owner=refused.owner,
        )
        self._on_record(record)

    async def close(self) -> None:
        """End every call (node shutdown) and wait for their slots to be freed."""
        for call in list(self.calls.values()):
            self._end(call, "shutdown")
        await self._tasks.drain(wait_s=3.0)
        await self._tasks.close()
