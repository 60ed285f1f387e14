"""Fake speech and language providers with fixed latencies, for tests and benchmarks.

Owns: three providers that subclass the agent framework's own interfaces (`stt.STT`,
`llm.LLM`, `tts.TTS`), so an `AgentSession` runs them exactly as it runs the real ones, and
a benchmark can subtract known provider time to see our own overhead:
- `ScriptedSTT`: the next scripted transcript per utterance, after `latency` (150 ms).
- `FixedLatencyLLM`: the first token after `first_token_latency` (250 ms), then the rest of
  a scripted reply word by word (or an echo of the caller's words when the script is
  spent); a scripted reply may carry function calls, which the session then executes.
- `FixedLatencyTTS`: the first audio after `first_audio_latency` (100 ms), then a quiet tone
  (or silence) of `seconds_per_char` per character of text, 16 kHz mono.
Each records what it was asked (`requests`), so a test can assert on the conversation.

Must not: be used in production wiring (`providers.factory` never builds them), touch the
network, or sleep anything but the scripted latencies.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Never

import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, llm, stt, tts, utils
from livekit.agents.language import LanguageCode
from livekit.agents.llm import ChatChunk, ChoiceDelta, FunctionToolCall
from livekit.agents.llm.tool_context import Tool, ToolChoice
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer

__all__ = [
    "FakeReply",
    "FakeToolCall",
    "FixedLatencyLLM",
    "FixedLatencyTTS",
    "ScriptedSTT",
]

FAKE_TTS_SAMPLE_RATE = 16_000


class ScriptedSTT(stt.STT[Never]):
    """Non-streaming STT: each recognised utterance returns the next scripted transcript."""

    def __init__(
        self,
        transcripts: Sequence[str] = (),
        *,
        latency: float = 0.150,
        language: str = "en",
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._script = list(transcripts)
        self._latency = latency
        self._language = language
        self.requests: list[float] = []  # seconds of audio per recognition

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "frontdesk-fake"

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        self.requests.append(frame.samples_per_channel / max(frame.sample_rate, 1))
        await asyncio.sleep(self._latency)
        text = self._script.pop(0) if self._script else ""
        lang = language if isinstance(language, str) else self._language
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("fake_stt_"),
            alternatives=[stt.SpeechData(language=LanguageCode(lang), text=text, confidence=1.0)],
        )


@dataclass(frozen=True)
class FakeToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FakeReply:
    """One scripted LLM turn: words to stream, then function calls (in one final chunk)."""

    text: str = ""
    tool_calls: tuple[FakeToolCall, ...] = ()


class FixedLatencyLLM(llm.LLM[Never]):
    """Streams scripted replies (or an echo) with a fixed time to first token."""

    def __init__(
        self,
        script: Sequence[FakeReply | str] = (),
        *,
        first_token_latency: float = 0.250,
        token_interval: float = 0.0,
        echo_prefix: str = "You said: ",
    ) -> None:
        super().__init__()
        self._script = [FakeReply(item) if isinstance(item, str) else item for item in script]
        self.first_token_latency = first_token_latency
        self.token_interval = token_interval
        self.echo_prefix = echo_prefix
        self.requests: list[llm.ChatContext] = []

    @property
    def model(self) -> str:
        return "fixed-latency"

    @property
    def provider(self) -> str:
        return "frontdesk-fake"

    def next_reply(self, chat_ctx: llm.ChatContext) -> FakeReply:
        self.requests.append(chat_ctx.copy())
        if self._script:
            return self._script.pop(0)
        users = [m for m in chat_ctx.messages() if m.role == "user"]
        heard = (users[-1].text_content or "") if users else ""
        return FakeReply(f"{self.echo_prefix}{heard}".strip())

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> _FixedLatencyStream:
        return _FixedLatencyStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )


class _FixedLatencyStream(llm.LLMStream):
    def __init__(
        self,
        fake: FixedLatencyLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(fake, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._fake = fake

    async def _run(self) -> None:
        reply = self._fake.next_reply(self._chat_ctx)
        request_id = utils.shortuuid("fake_llm_")
        await asyncio.sleep(self._fake.first_token_latency)
        pieces = reply.text.split(" ") if reply.text else []
        for index, piece in enumerate(pieces):
            if index and self._fake.token_interval > 0:
                await asyncio.sleep(self._fake.token_interval)
            token = piece if index == 0 else f" {piece}"
            self._event_ch.send_nowait(
                ChatChunk(id=request_id, delta=ChoiceDelta(role="assistant", content=token))
            )
        if reply.tool_calls:
            calls = [
                FunctionToolCall(
                    name=call.name,
                    arguments=json.dumps(call.arguments),
                    call_id=utils.shortuuid("fake_call_"),
                )
                for call in reply.tool_calls
            ]
            self._event_ch.send_nowait(
                ChatChunk(id=request_id, delta=ChoiceDelta(role="assistant", tool_calls=calls))
            )


class FixedLatencyTTS(tts.TTS[Never]):
    """Non-streaming TTS: first audio after a fixed latency, length proportional to text."""

    def __init__(
        self,
        *,
        first_audio_latency: float = 0.100,
        seconds_per_char: float = 0.06,
        tone_hz: float | None = 440.0,
        amplitude: float = 0.1,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=FAKE_TTS_SAMPLE_RATE,
            num_channels=1,
        )
        self.first_audio_latency = first_audio_latency
        self.seconds_per_char = seconds_per_char
        self.tone_hz = tone_hz
        self.amplitude = amplitude
        self.requests: list[str] = []

    @property
    def model(self) -> str:
        return "fixed-latency"

    @property
    def provider(self) -> str:
        return "frontdesk-fake"

    def pcm_for(self, text: str) -> bytes:
        """The 16-bit PCM this TTS speaks for a text (a tone, or silence)."""
        samples = round(len(text.strip()) * self.seconds_per_char * FAKE_TTS_SAMPLE_RATE)
        if self.tone_hz is None:
            return bytes(2 * samples)
        t = np.arange(samples, dtype=np.float64) / FAKE_TTS_SAMPLE_RATE
        wave = self.amplitude * 32767.0 * np.sin(2 * np.pi * self.tone_hz * t)
        return wave.astype("<i2").tobytes()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> _FixedLatencyChunkedStream:
        self.requests.append(text)
        return _FixedLatencyChunkedStream(tts=self, input_text=text, conn_options=conn_options)


class _FixedLatencyChunkedStream(tts.ChunkedStream):
    def __init__(
        self, *, tts: FixedLatencyTTS, input_text: str, conn_options: APIConnectOptions
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._fake = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("fake_tts_"),
            sample_rate=FAKE_TTS_SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=20,
        )
        await asyncio.sleep(self._fake.first_audio_latency)
        output_emitter.push(self._fake.pcm_for(self._input_text))
        output_emitter.flush()
