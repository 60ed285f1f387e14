"""Where a reply is cut for a TTS that speaks whole pieces of text (piper, OpenAI's speech).

Owns: `first_clause` (a sentence's opening clause, "Yes," or "Certo,", as a piece of its
own) and `FirstClauseTokenizer`, the sentence tokenizer that `agent.session.caller_tts`
gives the framework's `tts.StreamAdapter`. A language model streams its reply token by
token; the framework's default tokenizer holds the text until a whole sentence (and the
start of the next) has arrived, so the caller hears nothing until the model has written
the first sentence. This one lets the reply's first clause go to the TTS as soon as the
text after it has begun, then cuts at sentences (blingfire, as the framework does).

Must not: synthesise anything, or cut later clauses (each piece costs a TTS request and a
seam in the voice: only the first one buys time).
"""

from __future__ import annotations

import re

from livekit.agents import tokenize
from livekit.agents.tokenize import BufferedSentenceStream, SentenceStream

__all__ = ["FirstClauseTokenizer", "first_clause"]

_CLAUSE_END = re.compile(r"[,;:](?=\s)")
_SENTENCE_END = re.compile(r"[.!?](?=\s)")


def first_clause(text: str, min_rest_words: int = 3) -> list[str]:
    """`text` as [first clause, the rest] when a clause ends early in its first sentence
    and at least `min_rest_words` words follow it; else [text]."""
    match = _CLAUSE_END.search(text)
    if match is None:
        return [text]
    head, rest = text[: match.end()].strip(), text[match.end() :].strip()
    if not any(c.isalpha() for c in head) or len(rest.split()) < min_rest_words:
        return [text]
    if _SENTENCE_END.search(head):  # the comma is past the first sentence
        return [text]
    return [head, rest]


class FirstClauseTokenizer(tokenize.SentenceTokenizer):
    """Sentences, but a reply's first clause is a piece of its own (see the module)."""

    def __init__(self) -> None:
        self._sentences = tokenize.blingfire.SentenceTokenizer(retain_format=True)

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return self._sentences.tokenize(text, language=language)

    def stream(self, *, language: str | None = None) -> SentenceStream:
        first_pending = True

        def split(text: str) -> list[str]:
            # called again on what is left each time a piece goes: the clause is cut once
            nonlocal first_pending
            pieces = self._sentences.tokenize(text, language=language)
            if first_pending and pieces:
                head = first_clause(pieces[0], min_rest_words=1)
                if len(head) == 2:  # the clause, and the start of what follows it
                    first_pending = False
                    return [*head, *pieces[1:]]
            if len(pieces) > 1:
                first_pending = False  # a whole sentence goes first: nothing left to gain
            return pieces

        # pieces are sentences the tokenizer already joined up to 20 characters; only the
        # clause may be shorter (min_token_len 1)
        return BufferedSentenceStream(tokenizer=split, min_token_len=1, min_ctx_len=10)
