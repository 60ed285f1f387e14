"""A streamed reply reaches a whole-text TTS clause first: "Yes," goes before the model has
written its first sentence; later commas do not cut; sentences go as they complete. And the
session's adapters (STT cut at short pauses, TTS by clause) close what they wrap."""

from __future__ import annotations

import asyncio

from livekit.agents import stt, tts
from tests.support.fake_providers import FixedLatencyTTS, ScriptedSTT

from frontdesk.agent.providers.clauses import FirstClauseTokenizer
from frontdesk.agent.session import caller_stt, caller_tts
from frontdesk.config import load_settings


async def pieces_after_each_token(tokens: list[str]) -> list[list[str]]:
    """What the tokenizer has let go after each streamed token (the LLM's deltas)."""
    stream = FirstClauseTokenizer().stream()
    out: list[str] = []
    seen: list[list[str]] = []

    async def read() -> None:
        async for data in stream:
            out.append(data.token)

    reader = asyncio.create_task(read())
    for token in tokens:
        stream.push_text(token)
        await asyncio.sleep(0)
        seen.append(list(out))
    stream.end_input()
    await reader
    seen.append(list(out))
    return seen


async def test_the_first_clause_goes_before_the_first_sentence_is_complete() -> None:
    tokens = ["Yes", ",", " we", " deliver", " within", " 5", " km", ",", " for", " 2",
              " euros", ".", " Anything", " else", "?"]  # fmt: skip
    seen = await pieces_after_each_token(tokens)
    first_out = next(i for i, pieces in enumerate(seen) if pieces)
    assert seen[first_out] == ["Yes,"]
    assert first_out < tokens.index(" euros")  # before the sentence's end was written
    assert seen[-1] == ["Yes,", "we deliver within 5 km, for 2 euros.", "Anything else?"]


async def test_no_clause_no_cut_and_numbers_are_not_clauses() -> None:
    seen = await pieces_after_each_token(["We", " have", " 5,000", " pizzas", ".", " Bye", "."])
    assert seen[-1] == ["We have 5,000 pizzas.", "Bye."]  # as the framework's own cuts


async def test_a_whole_text_tts_is_wrapped_a_streaming_one_is_not() -> None:
    wrapped = caller_tts(FixedLatencyTTS())
    assert isinstance(wrapped, tts.StreamAdapter)
    assert isinstance(wrapped._sentence_tokenizer, FirstClauseTokenizer)
    assert caller_tts(wrapped) is wrapped  # already streaming


class _ClosableTTS(FixedLatencyTTS):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_closing_the_sessions_tts_closes_the_one_it_wraps() -> None:
    """The worker closes the session's providers at a call's end (a cloud client's
    sockets); the adapter it sees must pass that on."""
    inner = _ClosableTTS()
    await caller_tts(inner).aclose()
    assert inner.closed


class _ClosableSTT(ScriptedSTT):
    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_the_stt_is_cut_at_short_pauses_and_closed_with_the_session() -> None:
    inner = _ClosableSTT()
    adapted = caller_stt(inner, load_settings(None, agent_stt_pause=0.2))
    assert isinstance(adapted, stt.StreamAdapter) and adapted.capabilities.streaming
    await adapted.aclose()
    assert inner.closed
