"""Provider factories with fake speech and language providers, for agent worker processes.

Owns: factories with the signature the worker loads by name
(`agent_provider_factory="tests.support.agent_fakes:<name>"`, see
`frontdesk.agent.worker.load_factory`), built from the fakes of
`tests.support.fake_providers` (which subclass the framework's own interfaces) and the
real Silero VAD, so turn-taking and barge-in are the product's own:
- `fixed_latency_providers`: the issue's reference set for measuring our own overhead:
  STT 150 ms (always the same transcript), LLM first token 250 ms (echoes the caller),
  TTS first audio 100 ms (a quiet tone, 60 ms per character).
- `instant_providers`: the same with zero provider latency (what is left is endpointing
  plus our own overhead).
- `failing_llm_providers`: an LLM whose every request raises (a crashing provider).
- `preload`: the worker runs it once at start (the VAD model loads before the first call).
Parameters come from the factory's name, never from the environment.

Must not: be named by production settings, touch the network, or read the environment.
"""

from __future__ import annotations

from typing import Any, Never

from livekit.agents import APIConnectOptions, llm
from livekit.agents.llm.tool_context import Tool, ToolChoice
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from tests.support.fake_providers import FixedLatencyLLM, FixedLatencyTTS, ScriptedSTT

from frontdesk.agent.providers.factory import Providers
from frontdesk.agent.providers.vad import load_vad
from frontdesk.agent.spec import CallSpec
from frontdesk.config import Settings

__all__ = [
    "FIXED_TRANSCRIPT",
    "LLM_FIRST_TOKEN",
    "STT_LATENCY",
    "TTS_FIRST_AUDIO",
    "FailingLLM",
    "failing_llm_providers",
    "fixed_latency_providers",
    "instant_providers",
    "preload",
]

STT_LATENCY = 0.150
LLM_FIRST_TOKEN = 0.250
TTS_FIRST_AUDIO = 0.100
FIXED_TRANSCRIPT = "I would like to know when you are open."
_SCRIPT_LENGTH = 10_000  # transcripts per call: far more turns than any call takes


class FailingLLM(llm.LLM[Never]):
    """An LLM whose every request raises (not an APIError, so the framework does not
    retry it: a provider bug, not a network hiccup). Records each request."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[llm.ChatContext] = []

    @property
    def model(self) -> str:
        return "failing"

    @property
    def provider(self) -> str:
        return "frontdesk-fake"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> _FailingStream:
        self.requests.append(chat_ctx.copy())
        return _FailingStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _FailingStream(llm.LLMStream):
    def __init__(
        self,
        fake: FailingLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(fake, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._fake = fake

    async def _run(self) -> Never:
        raise RuntimeError("the fake LLM failed (scripted)")


def _scripted_stt(latency: float) -> ScriptedSTT:
    return ScriptedSTT([FIXED_TRANSCRIPT] * _SCRIPT_LENGTH, latency=latency)


def fixed_latency_providers(spec: CallSpec, settings: Settings) -> Providers:
    """STT 150 ms, LLM first token 250 ms (echo), TTS first audio 100 ms, real VAD."""
    return Providers(
        stt=_scripted_stt(STT_LATENCY),
        llm=FixedLatencyLLM(first_token_latency=LLM_FIRST_TOKEN),
        tts=FixedLatencyTTS(first_audio_latency=TTS_FIRST_AUDIO),
        vad=load_vad(settings.agent_vad_min_silence),
    )


def instant_providers(spec: CallSpec, settings: Settings) -> Providers:
    """The fixed-latency set with every provider latency at zero."""
    return Providers(
        stt=_scripted_stt(0.0),
        llm=FixedLatencyLLM(first_token_latency=0.0),
        tts=FixedLatencyTTS(first_audio_latency=0.0),
        vad=load_vad(settings.agent_vad_min_silence),
    )


def failing_llm_providers(spec: CallSpec, settings: Settings) -> Providers:
    """The fixed-latency set with an LLM that raises on every request."""
    return Providers(
        stt=_scripted_stt(STT_LATENCY),
        llm=FailingLLM(),
        tts=FixedLatencyTTS(first_audio_latency=TTS_FIRST_AUDIO),
        vad=load_vad(settings.agent_vad_min_silence),
    )


def preload(settings: Settings) -> None:
    """Load the VAD and turn models once per worker, before the first call."""
    from frontdesk.agent.providers.turn_model import load_smart_turn

    load_vad(settings.agent_vad_min_silence)
    load_vad(settings.agent_turn_model_silence)
    load_smart_turn()
