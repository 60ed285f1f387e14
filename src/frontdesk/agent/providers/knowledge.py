"""The offline knowledge-base responder's decisions: match a caller's words, name an intent.

Owns: the pure, deterministic part of the offline "LLM" (`kb_llm.py`): tokenising with light
normalisation (lower case, accents kept, a small English stop list, suffix stripping and a
handful of synonyms folded onto one stem), ranking the org's FAQ entries (cosine of the
two token sets) and the sentences of its free knowledge text (the share of the question's
tokens they cover), and classifying an utterance as goodbye, transfer request, or a
ticket (order, complaint, message, callback, booking). Same input, same output: no
randomness, no clock, no model.

What it is not: a language model. It understands nothing; it finds the entry whose words
overlap most with what the caller said, and a threshold keeps it from answering when the
overlap is poor (the caller then hears that it does not know, and an offer to take a message).
Intent phrases are English; entries in another language still match word for word.

Must not: import the agent framework, do I/O, or log what the caller said.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

TicketKind = Literal["order", "complaint", "message", "callback", "other"]
Intent = Literal["goodbye", "transfer", "ticket", "none"]

# Below this cosine score the best entry is not an answer: "I don't know" is more honest.
MATCH_THRESHOLD = 0.5
# A ticket request with fewer content words than this asks for the details first.
MIN_TICKET_WORDS = 2

_WORD = re.compile(r"[0-9a-zà-öø-ÿ]+(?:'[a-z]+)?", re.IGNORECASE)


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_WORDS = _wordset(
    """a about above after again all also am an and any anything are as at be because been
    being both but by can could did do does doing don't down during each else few for from
    further had has have having he her here hers herself him himself his how i i'd i'll i'm
    i've if in into is it it's its itself just let's me might more most must my myself no nor
    not now of off on once only or other our ours ourselves out over own please really same
    shall she should so some such than thank thanks that that's the their theirs them
    themselves then there these they this those through to too under until up us very was we
    were what what's when which while who whom why will with would you you're your yours
    yourself yourselves hi hello hey okay ok yes yeah well like want wanted know tell get got
    need one"""
)

# Words folded onto one stem so that differently phrased questions meet (applied after
# suffix stripping). Small on purpose: each line is a pair a caller really mixes up.
SYNONYMS = {
    "hour": "open",
    "close": "open",
    "clos": "open",
    "opening": "open",
    "time": "open",
    "delivery": "deliver",
    "cost": "price",
    "charge": "price",
    "much": "price",
    "fee": "price",
    "located": "address",
    "locat": "address",
    "location": "address",
    "where": "address",
    "street": "address",
    "park": "parking",
    "book": "reserv",
    "booking": "reserv",
    "reservation": "reserv",
    "reserve": "reserv",
    "table": "reserv",
    "appointment": "reserv",
    "gluten": "glutenfree",
    "celiac": "glutenfree",
    "coeliac": "glutenfree",
    "vegan": "vegetarian",
    "card": "pay",
    "cash": "pay",
    "payment": "pay",
}

_QUESTION_START = _wordset(
    "what when where how do does is are can could which who why will would may"
)


def _stem(word: str) -> str:
    """A light English suffix stripper: enough to meet plural and -ing/-ed forms."""
    if len(word) <= 3:
        return word
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)] + keep
            if suffix == "es" and not base.endswith(("ch", "sh", "x", "ss", "z")):
                base = word[:-1]  # "prices" -> "price", but "boxes" -> "box"
            return base
    return word


def words(text: str) -> list[str]:
    """The lower-case words of a text, apostrophes kept inside words ("i'd")."""
    return [m.group(0).lower().replace("’", "'") for m in _WORD.finditer(text.replace("’", "'"))]


def tokens(text: str) -> frozenset[str]:
    """Content tokens: stop words removed, stemmed, synonyms folded."""
    out: set[str] = set()
    for word in words(text):
        if word in STOP_WORDS:
            continue
        stem = _stem(word)
        out.add(SYNONYMS.get(word, SYNONYMS.get(stem, stem)))
    return frozenset(out)


def similarity(query: frozenset[str], candidate: frozenset[str]) -> float:
    """Cosine similarity of two token sets: 1.0 for the same set, 0.0 for no overlap."""
    if not query or not candidate:
        return 0.0
    return len(query & candidate) / math.sqrt(len(query) * len(candidate))


@dataclass(frozen=True)
class Entry:
    """One answerable item: an FAQ entry, or one sentence of the free knowledge text."""

    answer: str
    question_tokens: frozenset[str]
    answer_tokens: frozenset[str]
    source: Literal["faq", "text"]


@dataclass(frozen=True)
class Match:
    answer: str
    score: float
    source: Literal["faq", "text"]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class KnowledgeBase:
    """The org's FAQ entries and knowledge text, ready to be matched against."""

    def __init__(self, faq: Iterable[tuple[str, str]], text: str = "") -> None:
        entries: list[Entry] = [
            Entry(answer.strip(), tokens(question), tokens(answer), "faq")
            for question, answer in faq
        ]
        for paragraph in re.split(r"\n\s*\n", text):
            for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
                if sentence and tokens(sentence):
                    entries.append(Entry(sentence, frozenset(), tokens(sentence), "text"))
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, query: str) -> Match | None:
        """The best-matching entry, or None when nothing reaches MATCH_THRESHOLD."""
        asked = tokens(query)
        best: Match | None = None
        for entry in self._entries:
            # An FAQ question is what callers ask; its answer counts a little less.
            score = max(
                similarity(asked, entry.question_tokens),
                0.8 * similarity(asked, entry.question_tokens | entry.answer_tokens),
            )
            if entry.source == "text":
                # A sentence is long and says many things: what counts is how much of the
                # question it covers (the 0.8 keeps a full FAQ match ahead of it).
                covered = len(asked & entry.answer_tokens) / len(asked) if asked else 0.0
                score = 0.8 * covered
            if score >= MATCH_THRESHOLD and (best is None or score > best.score):
                best = Match(entry.answer, score, entry.source)
        return best


# --- intents -------------------------------------------------------------------------------

_BARE_GOODBYES = frozenset(
    {
        "no",
        "nope",
        "no thanks",
        "no thank you",
        "no that's all",
        "no that's it",
        "no that is all",
        "that's it",
        "that's all",
        "that is all",
        "that's everything",
        "nothing else",
        "no nothing else",
        "i'm good",
        "i'm fine",
        "all good",
    }
)
_GOODBYE_PHRASES = (
    "goodbye",
    "good bye",
    "bye",
    "that's all",
    "that is all",
    "nothing else",
    "that's everything",
    "have a nice day",
    "hang up",
)
_TRANSFER_WORDS = frozenset(
    {"human", "operator", "transfer", "representative", "receptionist", "agent"}
)
_TRANSFER_PEOPLE = frozenset({"person", "someone", "somebody", "manager", "staff", "colleague"})
_TRANSFER_VERBS = frozenset({"speak", "talk", "connect", "put", "reach", "transfer"})

_COMPLAINT_WORDS = _wordset(
    """complaint complain complaining unhappy disappointed disappointing terrible awful
    horrible rude refund broken wrong cold burnt burned dirty unacceptable angry worst"""
)
_ORDER_WORDS = frozenset({"order", "ordering", "buy", "purchase", "takeaway", "pickup"})
_BOOKING_WORDS = frozenset({"book", "booking", "reserve", "reservation", "appointment", "table"})
_WANT_PHRASES = ("i want", "i'd like", "i would like", "i need", "can i have", "could i have",
                 "can i get", "could i get", "i'll have", "i will have", "we want", "we'd like",
                 "we would like")  # fmt: skip
_QUANTITIES = _wordset("a an one two three four five six seven eight nine ten dozen couple some")
_INFO_WORDS = frozenset({"know", "ask", "information", "info", "check", "find", "question"})
_CALLBACK_PHRASES = ("call me back", "call back", "callback", "ring me", "return my call",
                     "call me later", "call me tomorrow")  # fmt: skip
_MESSAGE_PHRASES = ("leave a message", "take a message", "leave him a message",
                    "leave her a message", "pass on a message", "pass a message", "message for",
                    "tell him", "tell her", "let him know", "let her know")  # fmt: skip


@dataclass(frozen=True)
class Classified:
    """What an utterance asks for. `kind`/`label` only for tickets."""

    intent: Intent
    kind: TicketKind | None = None
    label: str = ""  # human wording of the ticket ("order", "booking request", ...)


def _phrase_in(text: str, phrases: Sequence[str]) -> bool:
    padded = f" {text} "
    return any(f" {phrase} " in padded for phrase in phrases)


def is_question(text: str) -> bool:
    ws = words(text)
    return bool(ws) and (ws[0] in _QUESTION_START or text.rstrip().endswith("?"))


def classify(text: str) -> Classified:
    """The intent of one utterance, by fixed phrases and keywords (first match wins)."""
    ws = words(text)
    joined = " ".join(ws)
    wordset = frozenset(ws)
    if joined in _BARE_GOODBYES or _phrase_in(joined, _GOODBYE_PHRASES):
        return Classified("goodbye")
    if wordset & _TRANSFER_WORDS or (wordset & _TRANSFER_PEOPLE and wordset & _TRANSFER_VERBS):
        return Classified("transfer")
    if _phrase_in(joined, _CALLBACK_PHRASES):
        return Classified("ticket", "callback", "callback request")
    if _phrase_in(joined, _MESSAGE_PHRASES) or "message" in wordset:
        return Classified("ticket", "message", "message")
    if wordset & _COMPLAINT_WORDS:
        return Classified("ticket", "complaint", "complaint")
    if wordset & _BOOKING_WORDS and (_phrase_in(joined, _WANT_PHRASES) or not is_question(text)):
        return Classified("ticket", "other", "booking request")
    if wordset & _ORDER_WORDS and not is_question(text):
        return Classified("ticket", "order", "order")
    if _phrase_in(joined, _WANT_PHRASES) and wordset & _QUANTITIES and not wordset & _INFO_WORDS:
        return Classified("ticket", "order", "order")
    if wordset & _ORDER_WORDS and _phrase_in(joined, _WANT_PHRASES):
        return Classified("ticket", "order", "order")
    return Classified("none")


_REQUEST_WORDS = _wordset(
    """order message leave take call back callback complaint complain make place book booking
    reservation appointment"""
)
_FOLDED = frozenset(SYNONYMS.values())


def content_words(text: str) -> int:
    """How many words carry content once the request phrasing is gone."""
    meaningful = [w for w in tokens(text) if w not in _REQUEST_WORDS and w not in _FOLDED]
    counted = [w for w in words(text) if w.isdigit() or w in _QUANTITIES - {"a", "an", "some"}]
    return len(meaningful) + len(counted)


def summary_line(label: str, utterance: str, limit: int = 80) -> str:
    """A short ticket title: its kind, then the caller's words cut at a word boundary."""
    said = " ".join(utterance.split())
    if len(said) > limit:
        said = said[:limit].rsplit(" ", 1)[0] + "…"
    return f"{label.capitalize()}: {said}" if said else label.capitalize()
