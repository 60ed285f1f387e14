"""The edge's media workers, and each call's media as the edge sees it (`RemoteMedia`).

Owns: starting the media worker processes (`frontdesk.edge.media_worker`, one per two
cores by default: `FRONTDESK_MEDIA_WORKERS`), giving each new call to the least loaded
one (its RTP and RTCP sockets, bound by the edge, go along with the OPEN), routing what
the workers report back to the calls, and a worker that dies: its calls lose their
media, so they are ended (`on_media_lost`) and the worker is started again.

`RemoteMedia` is one call's end of that: what `CallAudio` plays into (the agent's speech,
prompts, barge-in's clear: an `AudioSink`), the caller's frames and keys coming out
(`on_frame`, `on_key`), and the counters the edge reads (`state`, `last_rx_time`,
`remote`), as fresh as the worker's last report (a few per second, and the final one
when the call's media is closed).

Must not: carry RTP itself, or decide when a call ends (the server and the watchdog do).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import socket
import struct
import time
from collections import deque
from collections.abc import Callable

from frontdesk.config import Settings
from frontdesk.edge.media_channel import ControlChannel
from frontdesk.media.control import CallState, ClockReport, Kind, OpenCall, WorkerSettings
from frontdesk.media.prompt import Prompt
from frontdesk.media.wire import Message
from frontdesk.tasks import TaskOwner, start_worker, stop_worker

log = logging.getLogger(__name__)

Addr = tuple[str, int]
_AGENT_BYTES_PER_S = 32000  # 16 kHz s16le
_CLOSE_WAIT_S = 2.0
_PROMPTS_KEPT = 64


def media_workers_for(settings: Settings) -> int:
    """How many media workers a node runs (the setting, else one per two cores)."""
    return settings.media_workers or max(1, (os.cpu_count() or 1) // 2)


class RemoteMedia:
    """One call's media, carried by a media worker; see the module docstring."""

    def __init__(
        self, worker: MediaWorkerProcess, slot: int, remote: Addr | None, now: float
    ) -> None:
        self.worker = worker
        self.slot = slot
        self.state = CallState(slot, latching=remote is None, learning=remote is None)
        self.remote = remote  # where the worker sends our RTP (None: waiting to latch)
        self.last_rx_time = now  # edge loop time of the last valid RTP (the start before)
        self.on_frame: Callable[[bytes], None] | None = None
        self.on_key: Callable[[str], None] | None = None
        self._playing_until = 0.0  # time.monotonic() when the queued speech ends
        self._loop = asyncio.get_running_loop()
        self.closed: asyncio.Future[CallState] = self._loop.create_future()
        self._closing = False

    # -- AudioSink (CallAudio plays into it) ---------------------------------------------
    def push_audio(self, pcm16k: bytes) -> None:
        if self._closing or not pcm16k:
            return
        self.worker.channel.send(Kind.AUDIO, self.slot, pcm16k)
        self._queued(len(pcm16k) / _AGENT_BYTES_PER_S)

    def play_prompt(self, prompt: Prompt) -> None:
        if self._closing:
            return
        number = self.worker.prompt_number(prompt)
        self.worker.channel.send(Kind.PROMPT, self.slot, struct.pack("!I", number))
        self._queued(prompt.duration_ms / 1000)

    def clear_audio(self) -> None:
        if not self._closing:
            self.worker.channel.send(Kind.CLEAR, self.slot)
            self._playing_until = 0.0

    @property
    def pending_audio_ms(self) -> float:
        """Queued speech not yet played, as the worker's real-time pacing plays it."""
        return max(0.0, self._playing_until - time.monotonic()) * 1000

    def _queued(self, seconds: float) -> None:
        self._playing_until = max(self._playing_until, time.monotonic()) + seconds

    # -- the rest of the call's media ----------------------------------------------------
    def reoffer(self, host: str, port: int) -> None:
        """A re-INVITE's media address: the worker's latch learns again if it must."""
        if not self._closing:
            self.worker.channel.send(Kind.REOFFER, self.slot, json.dumps([host, port]).encode())

    def record(self, org_id: str, session_id: str) -> None:
        """Record the call from now on (the worker writes the file)."""
        if not self._closing:
            self.worker.channel.send(
                Kind.RECORD, self.slot, json.dumps([org_id, session_id]).encode()
            )

    def close(self) -> None:
        """Stop the call's media; `closed` resolves with its last counters."""
        if self._closing:
            return
        self._closing = True
        self.on_frame = self.on_key = None
        if self.worker.alive:
            self.worker.channel.send(Kind.CLOSE, self.slot)
        else:
            self._closed(self.state)

    async def final_state(self) -> CallState:
        """The counters after the media closed (the last seen if the worker is silent)."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.closed), _CLOSE_WAIT_S)
        except TimeoutError:
            log.warning("media worker did not close call slot %d in time", self.slot)
            return self.state

    # -- reports from the worker -------------------------------------------------------
    def _update(self, state: CallState) -> None:
        self.state = state
        self.last_rx_time = self._loop.time() - state.silent_s

    def _closed(self, state: CallState) -> None:
        self._update(state)
        self.worker.calls.pop(self.slot, None)
        if not self.closed.done():
            self.closed.set_result(state)


class MediaWorkerProcess:
    def __init__(self, index: int, process: asyncio.subprocess.Process) -> None:
        self.index = index
        self.process = process
        self.channel: ControlChannel
        self.calls: dict[int, RemoteMedia] = {}
        self.prompts: dict[int, int] = {}  # id(prompt) -> its number in this worker
        self._kept: deque[Prompt] = deque(maxlen=_PROMPTS_KEPT)  # keeps those ids alive
        self._numbers = itertools.count(1)
        self.alive = True
        self.ready = asyncio.Event()
        self.lag_s = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def prompt_number(self, prompt: Prompt) -> int:
        """The prompt's number in this worker, teaching the worker its audio the first time."""
        number = self.prompts.get(id(prompt))
        if number is None:
            if len(self._kept) == self._kept.maxlen:  # the oldest is forgotten here
                self.prompts.pop(id(self._kept[0]), None)
            number = self.prompts[id(prompt)] = next(self._numbers)
            self._kept.append(prompt)
            self.channel.send(Kind.PROMPT_DEFINE, number, prompt.pcm16k)
        return number


class MediaPool:
    def __init__(self, settings: Settings, on_media_lost: Callable[[RemoteMedia], None]) -> None:
        self.settings = settings
        self.size = media_workers_for(settings)
        self.workers: list[MediaWorkerProcess] = []
        self._on_media_lost = on_media_lost
        self._slots = itertools.count(1)
        self._tasks = TaskOwner("media workers")
        self._stopping = False
        # the workers' media clocks: how late each tick started, how long it worked
        self.tick_late_ms: deque[float] = deque(maxlen=60_000)
        self.tick_work_ms: deque[float] = deque(maxlen=60_000)
        self.crashes = 0

    @property
    def lag_s(self) -> float:
        """The most behind worker's media clock (a moving average), for load shedding."""
        return max((w.lag_s for w in self.workers if w.alive), default=0.0)

    async def start(self, wait_ready_s: float) -> None:
        """Start the workers and wait until each runs."""
        for index in range(self.size):
            await self._spawn(index)
        try:
            async with asyncio.timeout(wait_ready_s):
                for worker in self.workers:
                    await worker.ready.wait()
        except TimeoutError:
            raise RuntimeError("media workers did not start (see the log above)") from None

    async def stop(self) -> None:
        """Close the control sockets: the workers end their calls' media and exit."""
        self._stopping = True
        for worker in self.workers:
            worker.channel.close()
        for worker in self.workers:
            await stop_worker(worker.process)
        await self._tasks.close()

    async def _spawn(self, index: int) -> MediaWorkerProcess:
        process, parent = await start_worker("frontdesk.edge.media_worker")
        worker = MediaWorkerProcess(index, process)

        def lost() -> None:
            self._tasks.spawn(self._lost(worker), name=f"media worker {index} lost")

        worker.channel = ControlChannel(
            parent, lambda message: self._on_message(worker, message), lost
        )
        worker.channel.start()
        settings = self.settings
        hello = WorkerSettings(
            pbx_networks=tuple(str(network) for network in settings.pbx_networks),
            recordings_path=str(settings.recordings_path),
            log_level=settings.log_level,
            realtime=settings.media_realtime,
            use_uvloop=settings.use_uvloop,
        )
        worker.channel.send(Kind.HELLO, 0, hello.to_json())
        if index < len(self.workers):
            self.workers[index] = worker
        else:
            self.workers.append(worker)
        log.info("media worker %d started (pid %d)", index, process.pid)
        return worker

    def open(
        self, spec: OpenCall, rtp: socket.socket, rtcp: socket.socket, remote: Addr | None
    ) -> RemoteMedia:
        """Give a call's media to the least loaded worker; its sockets go with it.

        `remote` is where our RTP goes at first (None: latching, until the PBX's RTP).
        """
        live = [w for w in self.workers if w.alive] or self.workers
        worker = min(live, key=lambda w: len(w.calls))
        slot = next(self._slots)
        media = RemoteMedia(worker, slot, remote, asyncio.get_running_loop().time())
        if not worker.alive:  # every worker is down: the call has no media (it times out)
            rtp.close()
            rtcp.close()
            media.close()
            return media
        worker.calls[slot] = media
        worker.channel.send(Kind.OPEN, slot, spec.to_json(), (rtp, rtcp))
        return media

    def _on_message(self, worker: MediaWorkerProcess, message: Message[Kind]) -> None:
        kind = message.kind
        if kind is Kind.FRAMES:
            media = worker.calls.get(message.slot)
            if media is not None and media.on_frame is not None:
                media.on_frame(message.payload)
        elif kind is Kind.STATES:
            calls = worker.calls
            for state in CallState.unpack_many(message.payload):
                media = calls.get(state.slot)
                if media is not None:
                    media._update(state)
        elif kind is Kind.DTMF:
            media = worker.calls.get(message.slot)
            if media is not None and media.on_key is not None:
                media.on_key(message.payload.decode("ascii", "replace"))
        elif kind is Kind.REMOTE:
            media = worker.calls.get(message.slot)
            if media is not None:
                value = message.json()
                media.remote = None if value is None else (str(value[0]), int(value[1]))
        elif kind is Kind.CLOSED:
            media = worker.calls.get(message.slot)
            if media is not None:
                media._closed(CallState.unpack_many(message.payload)[0])
        elif kind is Kind.CLOCK:
            report = ClockReport.unpack(message.payload)
            worker.lag_s = report.lag_s
            self.tick_late_ms.extend(report.late_ms)
            self.tick_work_ms.extend(report.work_ms)
        elif kind is Kind.READY:
            worker.ready.set()

    async def _lost(self, worker: MediaWorkerProcess) -> None:
        worker.alive = False
        if worker.process.returncode is None and not self._stopping:
            worker.process.kill()
        code = await worker.process.wait()
        calls = list(worker.calls.values())
        for media in calls:
            media._closed(media.state)
        if self._stopping:
            return
        self.crashes += 1
        log.error(
            "media worker %d (pid %d) exited with %s; ending its %d calls",
            worker.index,
            worker.pid,
            code,
            len(calls),
        )
        for media in calls:
            try:
                self._on_media_lost(media)
            except Exception:
                log.exception("ending a call of the lost media worker failed")
        await self._spawn(worker.index)
