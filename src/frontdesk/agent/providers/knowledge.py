"""The offline knowledge-base responder's decisions: match a caller's words, name an intent.

Owns: the deterministic part of the offline "LLM" (`kb_llm.py`):
- matching by meaning: every FAQ entry is compared with the caller through three views (its
  question, its answer, both) and every sentence of the free knowledge text through two,
  embedded with the sentence-embedding model it is given (`embedder.py`; embedded once,
  when the knowledge base is built). A view's score is how far the caller's similarity to
  it stands above that view's baseline (mean and spread of its similarity to the fixed
  off-topic `BACKGROUND` texts: a z-score, which evens out views that are close to
  everything), plus a little for shared words (a light English tokeniser: stop words,
  suffix stripping, a few synonyms), which keeps names and rare words the model blurs.
  Under MATCH_THRESHOLD the caller hears that it does not know, and an offer to take a
  message.
- intents by meaning: the nearest of `INTENT_EXAMPLES` (English and Italian) names the
  intent (order, booking, message, callback, transfer, goodbye, complaint) when it is close
  enough and closer than the nearest plain question; fixed word rules (`classify`) decide
  goodbye and transfer first, and anything the examples leave open.
- the words a confirmation repeats (`taken_words`).
Same input, same output: no randomness, no clock.

What it is not: a language model. Measured in bench/kb_bench.py (docs/benchmarks.md).

Must not: import the agent framework, do I/O, load the model itself, or log what the
caller said.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from frontdesk.agent.backchannel import is_backchannel
from frontdesk.agent.providers.embedder import TextEmbedder, Vectors
from frontdesk.agent.providers.knowledge_texts import BACKGROUND, INTENT_EXAMPLES

TicketKind = Literal["order", "complaint", "message", "callback", "other"]
Intent = Literal["goodbye", "transfer", "ticket", "none"]

# Below this score the best entry is not an answer: "I don't know" is more honest. Chosen
# on the tuning half of bench/kb_questions.py (`python -m bench.kb_bench --tune`).
MATCH_THRESHOLD = 3.75
LEXICAL_WEIGHT = 3.0  # z-score points for a full word overlap
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
class Match:
    answer: str
    score: float
    source: Literal["faq", "text"]


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class _View:
    """One way an entry is compared with the caller: its question, its answer, both, or a
    sentence of the free text (as a passage and as if it were a question)."""

    answer: str
    text: str
    query: bool
    question_tokens: frozenset[str]
    answer_tokens: frozenset[str]
    source: Literal["faq", "text"]


def passages(text: str) -> list[str]:
    """The free knowledge text split in sentences (paragraphs first)."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        out.extend(s for s in _SENTENCE_END.split(" ".join(paragraph.split())) if s)
    return out


class KnowledgeBase:
    """The org's FAQ entries and knowledge text, embedded once, ready to be matched.

    Built when a worker builds the org's responder: every view is embedded then (the
    embedder's cache makes later calls of the same org free), with its baseline, the mean
    and spread of its similarity to `BACKGROUND`. A turn embeds the caller's words once.
    """

    def __init__(
        self, faq: Iterable[tuple[str, str]], text: str = "", *, embedder: TextEmbedder
    ) -> None:
        views: list[_View] = []
        for question, answer in faq:
            q_tok, a_tok = tokens(question), tokens(answer)
            views.append(_View(answer.strip(), question, True, q_tok, a_tok, "faq"))
            views.append(_View(answer.strip(), answer, False, q_tok, a_tok, "faq"))
            views.append(_View(answer.strip(), f"{question} {answer}", False, q_tok, a_tok, "faq"))
        for sentence in passages(text):
            s_tok = tokens(sentence)
            views.append(_View(sentence, sentence, False, frozenset(), s_tok, "text"))
            views.append(_View(sentence, sentence, True, frozenset(), s_tok, "text"))
        self._views = tuple(views)
        self._embedder = embedder
        self._answers = len({v.answer for v in views})
        background = embedder.embed(BACKGROUND, query=True)
        self._vectors = np.zeros((len(views), background.shape[1]), dtype=np.float32)
        for query in (True, False):
            rows = [i for i, v in enumerate(views) if v.query == query]
            if rows:
                self._vectors[rows] = embedder.embed([views[i].text for i in rows], query=query)
        against = self._vectors @ background.T
        self._mean = against.mean(axis=1) if views else against.sum(axis=1)
        self._spread = np.maximum(against.std(axis=1), 1e-3) if views else self._mean

    def __len__(self) -> int:
        return self._answers

    def embed_query(self, said: str) -> Vectors:
        vector: Vectors = self._embedder.embed([said], query=True)[0]
        return vector

    def best(self, said: str, vector: Vectors | None = None) -> Match | None:
        """The best entry when it clears MATCH_THRESHOLD, else None."""
        ranked = self.ranked(said, vector)
        if ranked and ranked[0].score >= MATCH_THRESHOLD:
            return ranked[0]
        return None

    def ranked(self, said: str, vector: Vectors | None = None) -> list[Match]:
        """Every answer with its score, best first. The score: how far above its baseline
        the caller's words are in meaning (z-score), plus LEXICAL_WEIGHT times their word
        overlap (which keeps names, numbers and rare words that the small model blurs)."""
        if not self._views or not said.strip():
            return []
        if vector is None:
            vector = self.embed_query(said)
        meaning = (self._vectors @ vector - self._mean) / self._spread
        asked = tokens(said)
        best: dict[str, Match] = {}
        for view, z in zip(self._views, meaning.tolist(), strict=True):
            score = z + LEXICAL_WEIGHT * _overlap(asked, view)
            known = best.get(view.answer)
            if known is None or score > known.score:
                best[view.answer] = Match(view.answer, score, view.source)
        return sorted(best.values(), key=lambda m: m.score, reverse=True)


def _overlap(asked: frozenset[str], view: _View) -> float:
    if not asked:
        return 0.0
    return max(
        similarity(asked, view.question_tokens),
        similarity(asked, view.question_tokens | view.answer_tokens),
        len(asked & view.answer_tokens) / len(asked),
    )


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


# --- intents by meaning ----------------------------------------------------------------------

_TICKETS: dict[str, Classified] = {
    "order": Classified("ticket", "order", "order"),
    "booking": Classified("ticket", "other", "booking request"),
    "message": Classified("ticket", "message", "message"),
    "callback": Classified("ticket", "callback", "callback request"),
    "complaint": Classified("ticket", "complaint", "complaint"),
    "transfer": Classified("transfer"),
    "goodbye": Classified("goodbye"),
}
# The nearest example of an intent must be this close (cosine) and this much closer than
# the nearest plain question; otherwise the word rules of `classify` decide.
# A question ("can I get a pizza brought to my place?") needs more: most questions are for
# the knowledge base.
INTENT_MIN_SIMILARITY = 0.86
INTENT_MARGIN = 0.01
QUESTION_INTENT_MIN_SIMILARITY = 0.88
QUESTION_INTENT_MARGIN = 0.03


class IntentExamples:
    """`INTENT_EXAMPLES`, embedded once per process: the nearest example names the intent."""

    def __init__(self, embedder: TextEmbedder) -> None:
        names: list[str] = []
        texts: list[str] = []
        for name, examples in INTENT_EXAMPLES.items():
            names.extend([name] * len(examples))
            texts.extend(examples)
        self._names = tuple(names)
        self._vectors = embedder.embed(texts, query=True)

    def nearest(self, vector: Vectors) -> dict[str, float]:
        """Each intent's best cosine similarity to the caller's words."""
        best: dict[str, float] = {}
        for name, value in zip(self._names, (self._vectors @ vector).tolist(), strict=True):
            best[name] = max(best.get(name, -1.0), value)
        return best


def understand(text: str, vector: Vectors, examples: IntentExamples) -> Classified:
    """The intent of one utterance: the word rules first for what they are sure of
    (goodbye, transfer), then the nearest examples by meaning, then the word rules."""
    by_words = classify(text)
    if by_words.intent in ("goodbye", "transfer") or is_backchannel(text):
        # an acknowledgement ("okay", "yeah", "right") sits close to every example by
        # meaning (nearest: "OK, have a nice day"): it is no request, and no goodbye
        return by_words
    near = examples.nearest(vector)
    question = near.pop("question")
    name, value = max(near.items(), key=lambda item: item[1])
    asking = is_question(text)
    least = QUESTION_INTENT_MIN_SIMILARITY if asking else INTENT_MIN_SIMILARITY
    margin = QUESTION_INTENT_MARGIN if asking else INTENT_MARGIN
    # ending the call on a lone word by meaning alone ("Up." is nearest a goodbye) would
    # hang up on a caller whisper misheard; a bare "bye" is caught by the word rules
    lone_goodbye = name == "goodbye" and len(words(text)) < 2
    if value >= least and value - question >= margin and not lone_goodbye:
        return _TICKETS[name]
    if by_words.intent == "ticket" and not asking:
        return by_words
    if question > value:
        return Classified("none")
    return by_words


_LEADING_FILLER = re.compile(
    r"^(?:(?:hi|hello|hey|yes|yeah|ok|okay|so|um|uh|well|please)\b[,.!]?\s*)+", re.I
)
_LEADING_REQUEST = re.compile(
    r"^(?:(?:i|we)(?:\s+want|\s+wanted|\s+need|\s+would like|'d like|’d like)(?:\s+to)?\s+|"
    r"(?:can|could|may)\s+(?:i|we)\s+(?:please\s+)?|(?:i|we)(?:'ll| will)\s+)?"
    r"(?:order|get|have|book|reserve|leave|place|make|take|complain about|call me back|"
    r"ring me|call me)?\s*"
    r"(?:a message|a note|an order|a booking|a reservation|a complaint|a callback)?\s*"
    r"(?:(?:for|to|about|that)\s+(?=\S))?",
    re.I,
)


def taken_words(details: str, limit: int = 100) -> str:
    """The caller's request without its request phrasing, for a confirmation that repeats
    what was taken: "I want to order two pizzas for delivery" → "two pizzas for delivery"."""
    said = " ".join(details.split()).strip(" .,!?")
    said = _LEADING_FILLER.sub("", said)
    rest = _LEADING_REQUEST.sub("", said, count=1).strip(" .,:;!?")
    rest = _LEADING_FILLER.sub("", rest).strip(" .,:;!?")
    rest = re.sub(r"[,\s]+please$", "", rest, flags=re.I)
    if not rest:
        return ""
    if len(rest) > limit:
        rest = rest[:limit].rsplit(" ", 1)[0] + "…"
    return rest
