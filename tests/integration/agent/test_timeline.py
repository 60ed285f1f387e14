"""Scripted timelines of one call's agent session, with fakes that subclass the framework's
provider interfaces and the real Silero VAD.

A `CallRunner` (the worker's per-call object, a real `AgentSession` inside) runs in this
process; instead of the worker's socket to the edge it gets a link that records every
message it sends with the time it was sent. A caller feeds it 20 ms frames of 16 kHz PCM on
the wall clock, as the edge does: piper speech when the test says something, silence
otherwise. The tests assert on the order and timing of what reaches the edge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from livekit.agents import llm as lk_llm
from livekit.agents import stt as lk_stt
from livekit.agents import tts as lk_tts
from livekit.agents import vad as lk_vad
from tests.support.agent_fakes import FailingLLM
from tests.support.fake_providers import (
    FakeReply,
    FakeToolCall,
    FixedLatencyLLM,
    FixedLatencyTTS,
    ScriptedSTT,
)
from tests.support.speech import speech_pcm

from frontdesk.agent.ipc import Kind
from frontdesk.agent.providers.vad import load_vad
from frontdesk.agent.spec import CallSpec
from frontdesk.agent.worker import CallRunner, EdgeLink
from frontdesk.agent.worker_io import PipeAudioInput
from frontdesk.config import Settings, load_settings
from frontdesk.tenancy.config import TenantConfig

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GREETING = "Pizzeria Roma, how can I help you?"
FRAME_BYTES = 640  # 20 ms of 16 kHz 16-bit mono
BYTES_PER_S = 32_000
ORDER = {"kind": "order", "summary": "two pizzas", "details": "two pizzas for delivery"}
LONG_REPLY = (
    "Our menu has twelve pizzas, from the margherita to the four cheeses. "
    "We also make calzoni, fresh salads and three kinds of tiramisu. "
    "Every pizza can be made with a gluten free base for two euro more. "
    "Deliveries run every evening from six until eleven within five kilometres."
)


@dataclass(frozen=True)
class Sent:
    at: float  # perf_counter
    kind: Kind
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class RecordingLink(EdgeLink):
    """Stands where the worker's socket to the edge would: records what is sent, when."""

    def __init__(self) -> None:  # no socket on purpose: nothing to write to
        self.dropped_audio = 0
        self.sent: list[Sent] = []
        self._changed = asyncio.Event()

    def send(self, kind: Kind, slot: int, payload: bytes = b"") -> None:
        self.sent.append(Sent(time.perf_counter(), kind, payload))
        self._changed.set()

    def send_json(self, kind: Kind, slot: int, value: Any) -> None:
        self.send(kind, slot, json.dumps(value).encode())

    def note(self, kind: Kind, value: Any) -> None:
        """Record what the edge sent back (a TOOL_RESULT) on the same timeline."""
        self.send_json(kind, 0, value)

    async def wait(
        self, predicate: Callable[[Sent], bool], timeout: float, since: float = 0.0
    ) -> Sent:
        async with asyncio.timeout(timeout):
            while True:
                for sent in self.sent:
                    if sent.at >= since and predicate(sent):
                        return sent
                self._changed.clear()
                await self._changed.wait()

    def of(self, kind: Kind, start: float = 0.0, end: float = float("inf")) -> list[Sent]:
        return [s for s in self.sent if s.kind is kind and start <= s.at <= end]

    def describe(self) -> str:
        t0 = self.sent[0].at if self.sent else 0.0
        lines = []
        for s in self.sent:
            body = f"{len(s.payload)} bytes" if s.kind is Kind.AUDIO_OUT else s.payload.decode()
            lines.append(f"{s.at - t0:7.3f} {s.kind.name} {body}")
        return "\n".join(lines)


def loud(frame: bytes) -> bool:
    samples = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    return bool(np.sqrt(np.mean(samples**2)) > 100)  # piper's silence is < 10


class Caller:
    """Feeds the session 20 ms frames on the wall clock: queued speech, else silence."""

    def __init__(self, sink: PipeAudioInput) -> None:
        self._sink = sink
        self._tape = bytearray()
        self._onset_pending = False
        self.onsets: list[float] = []  # when each utterance's first loud frame was fed
        self.last_loud = 0.0

    def say(self, text: str) -> float:
        """Queue `text` (piper speech); returns its duration in seconds."""
        pcm = speech_pcm(text, 16000)
        pcm += bytes(-len(pcm) % FRAME_BYTES)
        self._tape += pcm
        self._onset_pending = True
        return len(pcm) / BYTES_PER_S

    async def run(self) -> None:
        next_at = time.perf_counter()
        silence = bytes(FRAME_BYTES)
        while True:
            frame = bytes(self._tape[:FRAME_BYTES]) or silence
            del self._tape[:FRAME_BYTES]
            now = time.perf_counter()
            if loud(frame):
                self.last_loud = now
                if self._onset_pending:
                    self._onset_pending = False
                    self.onsets.append(now)
            self._sink.feed(frame)
            next_at += 0.020
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def finished(self) -> None:
        while self._tape:  # noqa: ASYNC110 (the feeder drains it on the wall clock)
            await asyncio.sleep(0.02)


@dataclass
class Call:
    runner: CallRunner
    link: RecordingLink
    caller: Caller

    async def greeted(self) -> Sent:
        return await self.link.wait(lambda s: s.kind is Kind.TRANSCRIPT, 10.0)

    async def said(self, text: str, role: str, timeout: float = 10.0) -> Sent:
        def match(s: Sent) -> bool:
            return (
                s.kind is Kind.TRANSCRIPT and s.json()["role"] == role and s.json()["text"] == text
            )

        return await self.link.wait(match, timeout)


@dataclass
class Providers:
    """What the worker's factory returns (`frontdesk.agent.session.Providers`)."""

    stt: lk_stt.STT[Any]
    llm: lk_llm.LLM[Any]
    tts: lk_tts.TTS[Any]
    vad: lk_vad.VAD


def settings() -> Settings:
    return load_settings(None, log_level="WARNING")


def providers(
    stt: ScriptedSTT | None = None,
    llm: FixedLatencyLLM | FailingLLM | None = None,
    tts: FixedLatencyTTS | None = None,
) -> Providers:
    return Providers(
        stt=stt or ScriptedSTT(),
        llm=llm or FixedLatencyLLM(),
        tts=tts or FixedLatencyTTS(),
        vad=load_vad(settings().agent_vad_min_silence),
    )


@contextlib.asynccontextmanager
async def placed_call(
    chosen: Providers, factory: Callable[[CallSpec, Settings], Providers] | None = None
) -> AsyncIterator[Call]:
    spec = CallSpec(
        call_id="timeline-1",
        called="+390551234567",
        caller="+393331234567",
        config=TenantConfig(greeting=GREETING),
    )
    link = RecordingLink()
    runner = CallRunner(1, spec, link, settings(), factory or (lambda _spec, _settings: chosen))
    caller = Caller(runner.input)
    async with asyncio.TaskGroup() as group:
        session = group.create_task(runner.run())
        feeder = group.create_task(caller.run())
        try:
            yield Call(runner, link, caller)
        finally:
            runner.stop("call-ended")
            feeder.cancel()
            async with asyncio.timeout(10):
                await asyncio.wait([session])


def audio_seconds(sent: list[Sent]) -> float:
    return sum(len(s.payload) for s in sent) / BYTES_PER_S


async def test_the_greeting_plays_first_and_its_transcript_is_the_greeting() -> None:
    tts = FixedLatencyTTS()
    async with placed_call(providers(tts=tts)) as call:
        transcript = await call.greeted()
        link = call.link
        assert transcript.json()["role"] == "agent", link.describe()
        assert transcript.json()["text"] == GREETING
        assert transcript.json()["interrupted"] is False
        before = [s.kind for s in link.sent if s.at < transcript.at]
        assert before[0] in (Kind.STARTED, Kind.AUDIO_OUT) and Kind.AUDIO_OUT in before
        assert set(before) == {Kind.STARTED, Kind.AUDIO_OUT}, link.describe()
        audio = link.of(Kind.AUDIO_OUT)
        # its first clause is synthesised on its own (session.caller_tts), the rest whole
        pieces = ["Pizzeria Roma,", "how can I help you?"]
        assert " ".join(pieces) == GREETING
        expected = sum(len(tts.pcm_for(piece)) for piece in pieces)
        assert abs(sum(len(s.payload) for s in audio) - expected) <= len(pieces) * FRAME_BYTES
        # the item is added once the greeting has played, by the output's playout clock
        played = audio[0].at + audio_seconds(audio)
        assert transcript.at >= played - 0.05, (transcript.at - audio[0].at, audio_seconds(audio))
        assert tts.requests == pieces


async def test_an_order_reaches_the_edge_as_a_tool_call_and_the_confirmation_follows() -> None:
    confirmation = "Your order for two pizzas is noted."
    llm = FixedLatencyLLM([FakeReply("", (FakeToolCall("create_ticket", ORDER),)), confirmation])
    stt = ScriptedSTT(["I want to order two pizzas"])
    async with placed_call(providers(stt=stt, llm=llm)) as call:
        link = call.link
        await call.greeted()
        call.caller.say("I want to order two pizzas.")
        heard = await call.said("I want to order two pizzas", "caller")
        tool = await link.wait(lambda s: s.kind is Kind.TOOL_CALL, 10.0)
        assert tool.json() == {"id": 1, "name": "create_ticket", "args": ORDER}
        assert heard.at <= tool.at
        assert stt.requests and stt.requests[0] > 1.0  # the whole utterance was recognised
        await asyncio.sleep(0.5)  # the agent waits for the edge's answer
        assert not link.of(Kind.AUDIO_OUT, start=tool.at), link.describe()
        assert len(llm.requests) == 1
        result = {"id": 1, "ok": True, "ticket_id": "T-42"}
        link.note(Kind.TOOL_RESULT, result)
        answered = link.sent[-1].at
        call.runner.tool_result(result)
        spoken = await call.said(confirmation, "agent")
        reply_audio = link.of(Kind.AUDIO_OUT, start=answered, end=spoken.at)
        assert reply_audio, link.describe()
        outputs = [
            item.output for item in llm.requests[1].items if item.type == "function_call_output"
        ]
        assert outputs == ["ticket T-42 created (order)"]


async def test_caller_speech_over_a_long_reply_clears_agent_audio_within_300_ms() -> None:
    stt = ScriptedSTT(["Tell me about the menu", "Wait, one question"])
    llm = FixedLatencyLLM([LONG_REPLY])
    async with placed_call(providers(stt=stt, llm=llm)) as call:
        link = call.link
        await call.greeted()
        call.caller.say("Tell me about the menu.")
        await call.caller.finished()
        reply = await link.wait(
            lambda s: s.kind is Kind.AUDIO_OUT, 10.0, since=call.caller.last_loud
        )
        first_reply_ms = (reply.at - call.caller.last_loud) * 1000
        print(f"\nin-process voice-to-voice (no edge, no IPC): {first_reply_ms:.0f} ms")
        await asyncio.sleep(1.0)  # well into a reply of ~17 s
        assert not link.of(Kind.CLEAR)
        spoken_s = call.caller.say("Wait, I have one question.")
        await asyncio.sleep(0.1)
        onset = call.caller.onsets[-1]
        clear = await link.wait(lambda s: s.kind is Kind.CLEAR, 5.0)
        barge_in_ms = (clear.at - onset) * 1000
        print(f"\nbarge-in: first speech frame fed -> CLEAR {barge_in_ms:.0f} ms")
        assert 0 < barge_in_ms <= 300, link.describe()
        # the interrupted reply stops at once: no agent audio while the caller speaks
        assert not link.of(Kind.AUDIO_OUT, start=clear.at, end=onset + spoken_s), link.describe()
        interrupted = await link.wait(
            lambda s: s.kind is Kind.TRANSCRIPT and s.json()["role"] == "agent", 5.0, since=reply.at
        )
        assert interrupted.json()["interrupted"] is True


async def test_end_call_hangs_up_after_the_goodbye_has_played() -> None:
    goodbye = "Goodbye, and thank you for calling."
    llm = FixedLatencyLLM([FakeReply(goodbye, (FakeToolCall("end_call"),))])
    stt = ScriptedSTT(["That is all, goodbye"])
    async with placed_call(providers(stt=stt, llm=llm)) as call:
        link = call.link
        await call.greeted()
        call.caller.say("That is all, goodbye.")
        await call.caller.finished()
        hangup = await link.wait(lambda s: s.kind is Kind.HANGUP, 10.0)
        assert hangup.json() == {"reason": "agent-end-call"}
        audio = link.of(Kind.AUDIO_OUT, start=call.caller.last_loud)
        assert audio and audio[-1].at <= hangup.at, link.describe()
        assert hangup.at >= audio[0].at + audio_seconds(audio) - 0.05  # after it has played
        assert not link.of(Kind.ENDED)  # the edge ends the call; then it sends STOP
        call.runner.stop("call-ended")
        ended = await link.wait(lambda s: s.kind is Kind.ENDED, 5.0)
        assert ended.json() == {"reason": "call-ended"}


async def test_a_factory_that_raises_ends_the_session_with_agent_error() -> None:
    def broken(spec: CallSpec, settings: Settings) -> Providers:
        raise RuntimeError("no providers today")

    async with placed_call(providers(), factory=broken) as call:
        ended = await call.link.wait(lambda s: s.kind is Kind.ENDED, 5.0)
        assert ended.json() == {"reason": "agent-error"}
        assert [s.kind for s in call.link.sent] == [Kind.ENDED]


async def test_an_llm_that_raises_ends_the_session_with_agent_error() -> None:
    llm = FailingLLM()
    stt = ScriptedSTT(["Hello, are you there?"] * 10)
    async with placed_call(providers(stt=stt, llm=llm)) as call:
        link = call.link
        await call.greeted()
        session = call.runner.session
        assert session is not None
        tolerated = session.conn_options.max_unrecoverable_errors  # the framework's budget
        turns = 0
        while turns <= tolerated and not link.of(Kind.ENDED):
            turns += 1
            call.caller.say("Hello, are you there?")
            await call.caller.finished()
            with contextlib.suppress(TimeoutError):
                await link.wait(lambda s: s.kind is Kind.ENDED, 1.5)
        ended = await link.wait(lambda s: s.kind is Kind.ENDED, 5.0)
        print(f"\nfailing LLM: ended after {turns} caller turns, {len(llm.requests)} LLM requests")
        assert ended.json() == {"reason": "agent-error"}, link.describe()
        assert len(llm.requests) > tolerated  # every request failed; the budget was spent
        assert not link.of(Kind.TRANSCRIPT, start=link.of(Kind.TRANSCRIPT)[0].at + 0.001) or all(
            s.json()["role"] == "caller" for s in link.of(Kind.TRANSCRIPT)[1:]
        )  # the agent said nothing after its greeting
