"""A streamed reply reaches a whole-text TTS clause first: "Yes," goes before the model has
written its first sentence; later commas do not cut; sentences go as they complete."""

from __future__ import annotations

import asyncio

from livekit.agents import tts
from tests.support.fake_providers import FixedLatencyTTS

from frontdesk.agent.providers.clauses import FirstClauseTokenizer
from frontdesk.agent.session import caller_tts


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
