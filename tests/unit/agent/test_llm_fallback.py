"""The language-model path and its fallbacks, through the framework, on loopback only.

A text-only `AgentSession` runs the real `Receptionist` with the LLM that
`build_providers` makes for `llm: openai` (the openai plugin behind a fallback adapter,
the knowledge-base responder second), pointed at `FakeOpenAIServer`, which streams in the
API's own wire format. The tests watch both ends: what the server was sent (system prompt,
tools, tool results) and what the session did (words, tool calls, who served the turn).
The speech fallbacks are exercised the same way: the fake serves no audio endpoints, so
the cloud STT and TTS fail for real and whisper and piper take over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import AgentSession, stt
from livekit.agents.llm.fallback_adapter import AvailabilityChangedEvent
from livekit.agents.voice.run_result import ChatMessageEvent, FunctionCallEvent, RunEvent
from livekit.plugins import openai
from tests.fakes.openai_server import (
    CallTool,
    Drop,
    Fail,
    FakeOpenAIServer,
    Hang,
    Say,
    Step,
    last_user_text,
    tool_results,
)
from tests.support.speech import speech_pcm

from frontdesk.agent.providers.factory import build_providers
from frontdesk.agent.providers.fallback import LLMFallback, TTSFallback
from frontdesk.agent.providers.kb_llm import KnowledgeBaseLLM
from frontdesk.agent.providers.offline_tts import OfflineTTS
from frontdesk.agent.receptionist import Receptionist
from frontdesk.agent.session import served_by
from frontdesk.agent.spec import CallSpec
from frontdesk.calls.record import TranscriptLine
from frontdesk.config import Settings
from frontdesk.tenancy.config import KnowledgeEntry, TenantConfig

PROMPT = "You are Giulia, the receptionist of Pizzeria Da Mario. Be warm and brief."
CONFIG = TenantConfig(
    llm="openai",
    llm_model="fake-model",
    system_prompt=PROMPT,
    greeting="Pizzeria Da Mario, good evening!",
    knowledge_base=(
        KnowledgeEntry(question="Do you deliver?", answer="Yes, within 5 km, for 2 euros."),
    ),
    transfer_target="200",
)
OFFLINE = "frontdesk-offline"  # the knowledge-base responder's provider name


class RecordingActions:
    """The receptionist's `CallActions`, recording instead of reaching an edge."""

    def __init__(self) -> None:
        self.tickets: list[tuple[str, str, str]] = []
        self.hangups: list[str] = []

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        self.tickets.append((kind, summary, details))
        return f"T{len(self.tickets)}"

    async def transfer(self) -> int:
        return 200

    async def hang_up(self, reason: str) -> None:
        self.hangups.append(reason)


class QuietReceptionist(Receptionist):
    """The real receptionist, minus the spoken greeting (this session has no TTS)."""

    async def on_enter(self) -> None:
        return None


class Scripted:
    """The server's script: one step per request, in order; the last one repeats."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)

    def __call__(self, body: dict[str, Any]) -> Step:
        return self.steps.pop(0) if len(self.steps) > 1 else self.steps[0]


def llm_settings(server: FakeOpenAIServer, timeout_s: float = 1.0) -> Settings:
    return Settings(openai_base_url=server.base_url, agent_cloud_timeout=timeout_s)


def said(events: list[RunEvent]) -> str:
    return " ".join(
        ev.item.text_content or ""
        for ev in events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    )


def served(events: list[RunEvent]) -> list[str | None]:
    """The LLM provider stamped on each reply of a turn."""
    return [
        served_by(ev.item).get("llm")
        for ev in events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    ]


class Conversation:
    """A text-only session with the receptionist and the `llm: openai` providers."""

    def __init__(self, server: FakeOpenAIServer, timeout_s: float) -> None:
        self.actions = RecordingActions()
        self.model = build_providers(CONFIG, llm_settings(server, timeout_s)).llm
        self.session: AgentSession[None] = AgentSession(llm=self.model)

    async def say(self, utterance: str) -> list[RunEvent]:
        result = await self.session.run(user_input=utterance)
        return list(result.events)


@contextlib.asynccontextmanager
async def conversation(
    server: FakeOpenAIServer, timeout_s: float = 1.0
) -> AsyncIterator[Conversation]:
    talk = Conversation(server, timeout_s)
    spec = CallSpec(call_id="c1", called="+390551234567", config=CONFIG)
    try:
        async with talk.session:
            await talk.session.start(QuietReceptionist(spec, talk.actions))
            yield talk
    finally:
        await talk.model.aclose()  # the plugin's HTTP client and the recovery probe


async def converse(
    server: FakeOpenAIServer, *utterances: str, timeout_s: float = 1.0
) -> tuple[list[list[RunEvent]], RecordingActions]:
    async with conversation(server, timeout_s) as talk:
        return [await talk.say(u) for u in utterances], talk.actions


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAIServer]:
    # a chat-only server: its /audio endpoints are 404 (the speech fallbacks' test needs that)
    async with FakeOpenAIServer(Scripted(Say("unused")), speech=False) as running:
        yield running


def test_the_cloud_llm_sits_in_front_of_the_offline_responder() -> None:
    providers = build_providers(CONFIG, Settings(openai_base_url="http://127.0.0.1:9/v1"))
    adapter = providers.llm
    assert isinstance(adapter, LLMFallback)
    first, second = adapter.members
    assert isinstance(first, openai.LLM) and first.model == "fake-model"
    assert isinstance(second, KnowledgeBaseLLM)
    offline = build_providers(TenantConfig(), Settings()).llm
    assert isinstance(offline, KnowledgeBaseLLM)  # no adapter when nothing can fail over


async def test_streamed_reply_is_spoken_and_the_system_prompt_is_the_instructions(
    server: FakeOpenAIServer,
) -> None:
    server.script = Scripted(Say("Tonight's special is the truffle pizza, from our wood oven."))
    [events], _ = await converse(server, "What is the special tonight?")
    assert said(events) == "Tonight's special is the truffle pizza, from our wood oven."
    assert served(events) == [f"127.0.0.1:{server.port}"]
    [request] = server.requests
    assert request["model"] == "fake-model" and request["stream"] is True
    system = request["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(PROMPT)
    assert "Yes, within 5 km" in system["content"]  # the knowledge base is in the prompt
    assert last_user_text(request) == "What is the special tonight?"
    names = sorted(tool["function"]["name"] for tool in request["tools"])
    assert names == ["create_ticket", "end_call", "transfer_to_human"]


async def test_a_tool_call_from_the_model_files_a_ticket_and_the_model_hears_the_result(
    server: FakeOpenAIServer,
) -> None:
    def script(body: dict[str, Any]) -> Step:
        results = tool_results(body)
        if results:
            return Say(f"Done, {results[0]}. Anything else?")
        return CallTool(
            "create_ticket",
            {"kind": "order", "summary": "Two margheritas", "details": "delivery, Via Roma 3"},
            text="Let me note that.",
        )

    server.script = script
    [events], actions = await converse(server, "Two margheritas to Via Roma 3, please.")
    assert actions.tickets == [("order", "Two margheritas", "delivery, Via Roma 3")]
    calls = [ev.item for ev in events if isinstance(ev, FunctionCallEvent)]
    assert [(c.name, json.loads(c.arguments)["kind"]) for c in calls] == [
        ("create_ticket", "order")
    ]
    assert "Let me note that." in said(events)
    assert "ticket T1 created (order)" in said(events)  # the tool's output went back up
    assert len(server.requests) == 2
    assert server.requests[1]["messages"][-1]["role"] == "tool"


async def test_an_error_hands_the_rest_of_the_call_to_the_offline_responder(
    server: FakeOpenAIServer,
) -> None:
    server.script = Scripted(Say("Hello from the model."), Fail(500), Say("I am back."))
    async with conversation(server) as talk:
        changes: list[tuple[str, bool]] = []

        def on_change(event: AvailabilityChangedEvent) -> None:
            changes.append(
                ("openai" if isinstance(event.llm, openai.LLM) else "?", event.available)
            )

        talk.model.on("llm_availability_changed", on_change)
        first = await talk.say("Hi there")
        assert said(first) == "Hello from the model."
        second = await talk.say("Do you deliver?")
        assert "within 5 km" in said(second) and served(second) == [OFFLINE]
        # the adapter probes the model in the background; the model answers again
        for _ in range(100):
            if changes[-1:] == [("openai", True)]:
                break
            await asyncio.sleep(0.05)
        assert changes == [("openai", False), ("openai", True)]
        assert len(server.requests) == 3  # the failed turn and the probe
        # yet the responder keeps the call: a conversation does not switch voices
        third = await talk.say("Do you deliver to Via Roma?")
        assert "within 5 km" in said(third) and served(third) == [OFFLINE]
        assert len(server.requests) == 3  # the third turn never went to the model


async def test_a_model_that_stops_answering_is_replaced_within_the_timeout(
    server: FakeOpenAIServer,
) -> None:
    server.script = Scripted(Hang())
    began = time.perf_counter()
    [events], _ = await converse(server, "Do you deliver?", timeout_s=0.8)
    elapsed = time.perf_counter() - began
    assert "within 5 km" in said(events) and served(events) == [OFFLINE]
    assert elapsed < 3.0, elapsed  # the attempt timeout, not the plugin's 15 s connect


async def test_a_reply_cut_off_mid_stream_is_answered_by_the_responder(
    server: FakeOpenAIServer,
) -> None:
    server.script = Scripted(Drop("We deliver to"))
    [events], _ = await converse(server, "Do you deliver?")
    assert "within 5 km" in said(events), said(events)
    assert served(events)[-1] == OFFLINE


async def test_cloud_speech_that_fails_falls_back_to_whisper_and_piper(
    server: FakeOpenAIServer,
) -> None:
    # the fake serves no /audio endpoints here: the cloud STT and TTS get a real 404
    config = TenantConfig(stt="openai", tts="openai")
    providers = build_providers(config, llm_settings(server))
    assert isinstance(providers.stt, stt.FallbackAdapter)
    assert isinstance(providers.tts, TTSFallback)
    assert isinstance(providers.tts.members[1], OfflineTTS)

    frames = [frame async for frame in providers.tts.synthesize("Do you deliver?")]
    samples = np.concatenate([np.frombuffer(f.frame.data, dtype=np.int16) for f in frames])
    assert len(samples) > 0.5 * providers.tts.sample_rate and np.abs(samples).max() > 1000
    assert providers.tts.metrics_metadata["model_provider"] == "piper"

    pcm = speech_pcm("Do you deliver?")
    frame = rtc.AudioFrame(pcm, 16000, 1, len(pcm) // 2)
    event = await providers.stt.recognize(frame)
    assert "deliver" in event.alternatives[0].text.lower()
    assert providers.stt.metrics_metadata["model_provider"] == "faster-whisper"
    await providers.tts.aclose()
    await providers.stt.aclose()


def test_other_languages_keep_the_cloud_stt_alone() -> None:
    # whisper tiny.en would turn Italian into wrong English: no STT fallback there
    config = TenantConfig(stt="openai", language="it")
    providers = build_providers(config, Settings(openai_base_url="http://127.0.0.1:9/v1"))
    assert isinstance(providers.stt, openai.STT)


def test_who_served_a_line_survives_the_trip_to_the_sessions_row() -> None:
    sent = {"role": "agent", "text": "Yes.", "at": 1.0, "interrupted": False}
    sent |= {"llm": OFFLINE, "tts": "piper"}
    line = TranscriptLine.from_json(sent)
    assert (line.llm, line.tts, line.stt) == (OFFLINE, "piper", None)
    assert line.as_json() == sent
    caller = TranscriptLine.from_json({"role": "caller", "text": "Hi", "at": 2.0, "stt": 3})
    assert caller.stt is None  # not a provider name: dropped, the line kept
