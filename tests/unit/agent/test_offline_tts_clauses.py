"""The offline voice speaks a sentence's first clause on its own, so a reply starts sooner:
the rule (pure), and the real piper voice (the first chunk arrives for the clause)."""

from __future__ import annotations

import pytest

from frontdesk.agent.providers.offline_tts import OfflineTTS, first_clause


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


def test_piper_gives_the_first_clause_as_its_own_chunk() -> None:
    voice = OfflineTTS()
    chunks = list(voice.piper_chunks("Yes, within 5 km, for 2 euros."))
    assert len(chunks) == 2
    first, second = (len(c.audio_int16_bytes) / 2 / 22050 for c in chunks)
    assert 0.1 < first < 0.8 and second > 1.0, (first, second)  # "Yes," then the rest
