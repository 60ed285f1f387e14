"""The fixed-latency fakes keep their promised timings and scripts, through the real APIs."""

from __future__ import annotations

import time

import numpy as np
from livekit import rtc
from livekit.agents import Agent, AgentSession, function_tool, llm
from livekit.agents.voice.run_result import ChatMessageEvent, FunctionCallEvent
from tests.support.fake_providers import (
    FakeReply,
    FakeToolCall,
    FixedLatencyLLM,
    FixedLatencyTTS,
    ScriptedSTT,
)


def speech_frame(seconds: float, rate: int = 16_000) -> rtc.AudioFrame:
    samples = int(seconds * rate)
    return rtc.AudioFrame(bytes(2 * samples), rate, 1, samples)


async def test_scripted_stt_returns_each_transcript_after_its_latency() -> None:
    fake = ScriptedSTT(["first", "second"], latency=0.15)
    texts = []
    for _ in range(3):
        started = time.perf_counter()
        event = await fake.recognize(speech_frame(0.5))
        assert time.perf_counter() - started >= 0.15
        texts.append(event.alternatives[0].text)
    assert texts == ["first", "second", ""]
    assert fake.requests == [0.5, 0.5, 0.5]


class TicketAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="test")
        self.kinds: list[str] = []

    @function_tool
    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        """File a ticket."""
        self.kinds.append(kind)
        return "ok"


async def test_fixed_latency_llm_streams_script_then_echoes_and_calls_tools() -> None:
    fake = FixedLatencyLLM(
        [
            FakeReply(
                "Noting it.",
                (FakeToolCall("create_ticket", {"kind": "order", "summary": "s", "details": "d"}),),
            ),
            "Done, anything else?",
        ],
        first_token_latency=0.25,
    )
    agent = TicketAgent()
    async with AgentSession(llm=fake) as session:
        await session.start(agent)
        started = time.perf_counter()
        first = await session.run(user_input="two pizzas")
        assert time.perf_counter() - started >= 0.5  # two LLM turns of 250 ms each
        second = await session.run(user_input="hello there")
    assert agent.kinds == ["order"]
    assert any(isinstance(ev, FunctionCallEvent) for ev in first.events)
    replies = [
        ev.item.text_content
        for result in (first, second)
        for ev in result.events
        if isinstance(ev, ChatMessageEvent)
    ]
    assert replies == ["Noting it.", "Done, anything else?", "You said: hello there"]
    assert len(fake.requests) == 3


async def test_fixed_latency_llm_time_to_first_token() -> None:
    fake = FixedLatencyLLM(["one two three"], first_token_latency=0.25)
    ctx = llm.ChatContext()
    ctx.add_message(role="user", content="hi")
    started = time.perf_counter()
    async with fake.chat(chat_ctx=ctx) as stream:
        chunks = [chunk async for chunk in stream]
        first_at = time.perf_counter() - started
    assert first_at >= 0.25
    assert "".join(c.delta.content or "" for c in chunks if c.delta) == "one two three"


async def test_fixed_latency_tts_first_audio_and_length() -> None:
    fake = FixedLatencyTTS(first_audio_latency=0.1, seconds_per_char=0.05)
    text = "Hello there, caller."
    started = time.perf_counter()
    frames = []
    first_at = None
    async for audio in fake.synthesize(text):
        if first_at is None:
            first_at = time.perf_counter() - started
        frames.append(audio.frame)
    assert first_at is not None and 0.1 <= first_at < 0.5
    frame = rtc.combine_audio_frames(frames)
    assert frame.sample_rate == 16_000
    assert abs(frame.duration - len(text) * 0.05) < 0.021
    samples = np.frombuffer(bytes(frame.data), dtype="<i2")
    assert samples.max() > 1000  # a tone, not silence
    assert fake.requests == [text]
    silent = FixedLatencyTTS(tone_hz=None)
    assert not any(silent.pcm_for("abc"))
