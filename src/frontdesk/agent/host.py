"""The agent host: the media front's side of the agent worker processes.

Owns: starting N worker processes (`python -m frontdesk.agent.worker`, each joined to
this process by one Unix socketpair), giving each answered call to the least busy live
worker, carrying the call's audio both ways, doing what the agent's tools ask (through
`CallTools`: a ticket in the database, a blind transfer, a hang-up after the goodbye has
played), putting the transcript into the call's sink, and noticing a worker that died:
its calls hear a short apology (`assets/apology.wav`, made once with the offline piper
voice) and end with BYE, reason `agent-crashed`; a new worker takes its place. Other
workers' calls are not touched.

What the edge's event loop does per call is small and bounded: one socket write per
20 ms caller frame, one `CallAudio.play` per agent chunk. No model runs here. If a
worker stops reading, caller audio for it is dropped (counted), never queued without
bound.

It sees a call only as a `MediaCallHandle` (frontdesk.calls.handle): the edge's call
today, any front whose audio passes through this process tomorrow.

Must not: run agent sessions or models in this process, or know the front (no edge/
import: transfers and hang-ups go through the handle).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from frontdesk.agent.ipc import FrameError, FrameReader, Kind, Message, encode, json_payload
from frontdesk.agent.spec import CallSpec, spec_for_call
from frontdesk.agent.tools import CallTools
from frontdesk.calls.audio import CallAudio
from frontdesk.calls.handle import TRANSFERRED, MediaCallHandle
from frontdesk.calls.keypad import key_action
from frontdesk.calls.record import TranscriptLine
from frontdesk.calls.responder import asset_pcm
from frontdesk.config import Settings
from frontdesk.media.prompt import Prompt
from frontdesk.tasks import TaskOwner, start_worker, stop_worker

if TYPE_CHECKING:
    from frontdesk.store.engine import Pool

log = logging.getLogger(__name__)

_WRITE_HIGH_WATER = 1024 * 1024  # bytes queued to one worker before caller audio is dropped
_WAIT_FOR_WORKER_S = 5.0
_HANGUP_TAIL_S = 0.3  # after the last queued agent audio, before BYE


@functools.cache
def apology_prompt() -> Prompt:
    return Prompt(asset_pcm("apology.wav"))


@dataclass(eq=False)
class AgentCall:
    """One answered call as the host sees it."""

    slot: int
    call: MediaCallHandle
    spec: CallSpec
    tools_of_call: CallTools
    worker: WorkerProcess | None = None
    started_at: float = 0.0  # perf_counter when START was sent
    agent_started_s: float | None = None  # START → session running
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    hangup_timer: asyncio.TimerHandle | None = None
    tools: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def audio(self) -> CallAudio:
        return self.call.audio


class WorkerProcess:
    """One worker process and its socket."""

    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.calls: dict[int, AgentCall] = {}
        self.alive = True
        self.ready = False  # models loaded (READY received): calls go only to ready workers
        self.dropped_frames = 0

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, kind: Kind, slot: int, payload: bytes = b"") -> None:
        writer = self.writer
        if writer is None or not self.alive or writer.transport.is_closing():
            return
        if kind is Kind.AUDIO_IN and writer.transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            self.dropped_frames += 1
            return
        writer.write(encode(kind, slot, payload))

    def send_json(self, kind: Kind, slot: int, value: Any) -> None:
        self.send(kind, slot, json_payload(value))


class AgentHost:
    """Runs every answered call's agent in a pool of worker processes."""

    def __init__(self, settings: Settings, pool: Pool | None = None) -> None:
        self.settings = settings
        self.pool = pool
        self.size = settings.agent_workers or os.cpu_count() or 1
        self.workers: list[WorkerProcess] = []
        self._slots = itertools.count(1)
        self._tasks = TaskOwner("agent host")
        self._tools = TaskOwner("agent tools")
        self._stopping = False
        self._worker_ready = asyncio.Event()
        self.on_outbox: Callable[[], None] | None = None  # a ticket's event was committed
        self.crashes = 0
        self.calls_started = 0
        self.agent_start_s: list[float] = []  # START → STARTED, per call (bounded below)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self, ready_within_s: float = 120.0) -> None:
        """Start the workers and wait until each has loaded its models."""
        apology_prompt()  # loaded now, not when a worker has just died
        for index in range(self.size):
            await self._spawn(index)
        deadline = time.monotonic() + ready_within_s
        while not all(w.ready for w in self.workers):
            if any(not w.alive for w in self.workers) or time.monotonic() > deadline:
                raise RuntimeError("agent workers did not start (see the log above)")
            self._worker_ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._worker_ready.wait(), 0.5)

    async def stop(self) -> None:
        self._stopping = True
        for worker in self.workers:
            if worker.writer is not None:
                worker.writer.close()
        for worker in self.workers:
            await stop_worker(worker.process)
        await self._tools.drain(wait_s=1.0)
        await self._tasks.drain(wait_s=1.0)

    async def _spawn(self, index: int) -> WorkerProcess:
        process, parent = await start_worker(
            "frontdesk.agent.worker", "--nice", str(self.settings.agent_worker_nice)
        )
        worker = WorkerProcess(index, process)
        worker.reader, worker.writer = await asyncio.open_unix_connection(sock=parent)
        worker.send(Kind.HELLO, 0, pickle.dumps(self.settings))
        if index < len(self.workers):
            self.workers[index] = worker
        else:
            self.workers.append(worker)
        self._tasks.spawn(self._read(worker), name=f"agent worker {index} reader")
        log.info("agent worker %d started (pid %d)", index, process.pid)
        return worker

    async def _read(self, worker: WorkerProcess) -> None:
        frames = FrameReader()
        reader = worker.reader
        assert reader is not None
        try:
            while data := await reader.read(1 << 16):
                for message in frames.feed(data):
                    self._on_message(worker, message)
        except (FrameError, OSError) as exc:
            log.error("agent worker %d: broken stream: %s", worker.index, exc)
        finally:
            await self._lost(worker)

    async def _lost(self, worker: WorkerProcess) -> None:
        worker.alive = False
        if worker.writer is not None:
            worker.writer.close()
        if worker.process.returncode is None and not self._stopping:
            worker.process.kill()
        code = await worker.process.wait()
        if self._stopping:
            return
        self.crashes += 1
        log.error(
            "agent worker %d (pid %d) exited with %s; ending its %d calls",
            worker.index,
            worker.pid,
            code,
            len(worker.calls),
        )
        for agent_call in list(worker.calls.values()):
            self._fail(agent_call, "agent-crashed")
        worker.calls.clear()
        await self._spawn(worker.index)

    # -- a call -----------------------------------------------------------------------
    async def run_call(self, call: MediaCallHandle) -> None:
        """The responder of an answered call: runs until the call ends."""
        audio = call.audio
        spec = await spec_for_call(call, self.pool)
        agent_call = AgentCall(
            next(self._slots),
            call,
            spec,
            CallTools(call, spec, self.pool, on_outbox=self.on_outbox),
        )
        try:
            worker = await self._pick()
            if worker is None:
                self._fail(agent_call, "agent-unavailable")
                await audio.closed_wait()
                return
            agent_call.worker = worker
            worker.calls[agent_call.slot] = agent_call
            agent_call.started_at = time.perf_counter()
            worker.send(Kind.START, agent_call.slot, spec.model_dump_json().encode())
            self.calls_started += 1
            slot = agent_call.slot
            audio.on_frame = functools.partial(worker.send, Kind.AUDIO_IN, slot)
            audio.on_dtmf = functools.partial(self._on_key, agent_call)
            await audio.closed_wait()
        finally:
            audio.on_frame = None
            audio.on_dtmf = None
            self._finish(agent_call)

    def _finish(self, agent_call: AgentCall) -> None:
        if agent_call.hangup_timer is not None:
            agent_call.hangup_timer.cancel()
        for task in agent_call.tools:
            task.cancel()
        worker = agent_call.worker
        if worker is not None and worker.calls.pop(agent_call.slot, None) is not None:
            worker.send_json(Kind.STOP, agent_call.slot, {"reason": "call-ended"})

    async def _pick(self) -> WorkerProcess | None:
        deadline = time.monotonic() + _WAIT_FOR_WORKER_S
        while True:
            live = [w for w in self.workers if w.alive and w.ready]
            if live:
                return min(live, key=lambda w: len(w.calls))
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping:
                return None
            self._worker_ready.clear()
            try:
                await asyncio.wait_for(self._worker_ready.wait(), remaining)
            except TimeoutError:
                return None

    def _on_key(self, agent_call: AgentCall, key: str) -> None:
        """A key the caller pressed: its configured action, else input for the agent.

        The worker hears of every key (it stops the agent talking for an action, and
        gathers the other keys into the caller's input); a `transfer` key transfers the
        call through its handle here, a `hangup` key ends the call.
        """
        action = key_action(agent_call.spec.config.key_actions, key)
        worker = agent_call.worker
        if worker is not None:
            worker.send_json(Kind.DTMF, agent_call.slot, {"digit": key, "action": action})
        if action == "transfer":
            agent_call.audio.clear()
            task = self._tools.spawn(self._key_transfer(agent_call, key), name="key transfer")
            agent_call.tools.add(task)
            task.add_done_callback(agent_call.tools.discard)
        elif action == "hangup":
            agent_call.audio.clear()
            self._hangup_after_audio(agent_call, "caller-key")

    async def _key_transfer(self, agent_call: AgentCall, key: str) -> None:
        try:
            status = await agent_call.tools_of_call.transfer()
        except RuntimeError as exc:  # no transfer target
            log.warning("key transfer of call %s: %s", agent_call.call.call_id, exc)
            status = 0
        worker = agent_call.worker
        if status != TRANSFERRED and worker is not None:  # the agent tells the caller
            worker.send_json(
                Kind.DTMF, agent_call.slot, {"digit": key, "action": "transfer-failed"}
            )

    def _fail(self, agent_call: AgentCall, reason: str) -> None:
        """The agent is gone: an apology, then BYE."""
        audio = agent_call.audio
        if audio.closed or agent_call.hangup_timer is not None:
            return
        audio.on_frame = None
        audio.clear()
        audio.play_prompt(apology_prompt())
        self._hangup_after_audio(agent_call, reason)

    def _hangup_after_audio(self, agent_call: AgentCall, reason: str) -> None:
        audio = agent_call.audio
        if audio.closed:
            return
        if agent_call.hangup_timer is not None:
            agent_call.hangup_timer.cancel()
        delay = audio.queued_ms / 1000 + _HANGUP_TAIL_S
        loop = asyncio.get_running_loop()
        agent_call.hangup_timer = loop.call_later(delay, agent_call.call.hangup, reason)

    # -- messages from a worker -------------------------------------------------------
    def _on_message(self, worker: WorkerProcess, message: Message) -> None:
        if message.kind is Kind.READY:
            worker.ready = True
            self._worker_ready.set()
            return
        agent_call = worker.calls.get(message.slot)
        if agent_call is None or agent_call.audio.closed:
            return
        kind = message.kind
        if kind is Kind.AUDIO_OUT:
            if agent_call.hangup_timer is None:
                agent_call.audio.play(message.payload)
        elif kind is Kind.CLEAR:
            agent_call.audio.clear()
        elif kind is Kind.TRANSCRIPT:
            try:
                agent_call.call.add_transcript(TranscriptLine.from_json(message.json()))
            except ValueError as exc:
                log.warning("call %s: a bad transcript line: %s", agent_call.call.call_id, exc)
        elif kind is Kind.TOOL_CALL:
            request = message.json()
            task = self._tools.spawn(self._tool(agent_call, request), name="agent tool")
            agent_call.tools.add(task)
            task.add_done_callback(agent_call.tools.discard)
        elif kind is Kind.HANGUP:
            self._hangup_after_audio(agent_call, str(message.json().get("reason", "agent-hangup")))
        elif kind is Kind.STARTED:
            elapsed = time.perf_counter() - agent_call.started_at
            agent_call.agent_started_s = elapsed
            if len(self.agent_start_s) < 10_000:
                self.agent_start_s.append(elapsed)
        elif kind is Kind.ENDED:
            worker.calls.pop(message.slot, None)
            reason = str(message.json().get("reason", "agent-ended"))
            if reason in {"agent-error", "agent-not-ready"}:
                self._fail(agent_call, reason)
            else:
                self._hangup_after_audio(agent_call, reason)

    async def _tool(self, agent_call: AgentCall, request: dict[str, Any]) -> None:
        name = str(request.get("name", ""))
        args = request.get("args") or {}
        reply: dict[str, Any] = {"id": request.get("id")}
        tools = agent_call.tools_of_call
        try:
            if name == "create_ticket":
                reply["ticket_id"] = await tools.create_ticket(
                    kind=str(args.get("kind") or "other"),
                    summary=str(args.get("summary") or ""),
                    details=str(args.get("details") or ""),
                )
            elif name == "transfer":
                reply["status"] = await tools.transfer()
            else:
                raise ValueError(f"unknown tool {name!r}")
            reply["ok"] = True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("tool %s of call %s failed: %s", name, agent_call.call.call_id, exc)
            reply.update(ok=False, error=str(exc) or type(exc).__name__)
        if agent_call.worker is not None:
            agent_call.worker.send_json(Kind.TOOL_RESULT, agent_call.slot, reply)
