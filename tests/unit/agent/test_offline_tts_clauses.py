"""A reply's first clause is a piece of its own, so it starts sooner: the rule (pure), and the
real piper voice speaking the clause alone and the rest whole."""

from __future__ import annotations

import pytest

from frontdesk.agent.providers.clauses import first_clause
from frontdesk.agent.providers.offline_tts import OfflineTTS


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("Yes, within 5 km, for 2 euros.", ["Yes,", "within 5 km, for 2 euros."]),
        ("Thank you for calling Pizzeria Da Mario, the oldest pizzeria in Florence.",
         ["Thank you for calling Pizzeria Da Mario,", "the oldest pizzeria in Florence."]),
        ("We have 5,000 pizzas.", ["We have 5,000 pizzas."]),  # a number, not a clause
        ("Yes, please.", ["Yes, please."]),  # too little follows to be worth it
        ("Hello. Yes, we are open today.", ["Hello. Yes, we are open today."]),
        ("Goodbye!", ["Goodbye!"]),
    ],
)  # fmt: skip
def test_first_clause(text: str, parts: list[str]) -> None:
    assert first_clause(text) == parts


def test_piper_speaks_a_clause_alone_quickly_and_a_piece_whole() -> None:
    voice = OfflineTTS()
    (clause,) = voice.piper_chunks("Yes,")
    (rest,) = voice.piper_chunks("within 5 km, for 2 euros.")  # not cut again here
    seconds = [len(c.audio_int16_bytes) / 2 / 22050 for c in (clause, rest)]
    assert 0.1 < seconds[0] < 0.8 and seconds[1] > 1.0, seconds
