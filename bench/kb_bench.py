"""How well the offline responder understands callers: right answers, right "I don't know"s,
intents, and what matching adds to a turn.

    python -m bench.kb_bench [--tune]

Runs the questions of `bench/kb_questions.py` (written before tuning) against the two demo
knowledge bases (`frontdesk.cli.demo`), through the real `KnowledgeBase` and `understand` of
the offline responder, with its embedding model. Reports, for the tuning part and the
held-out part (index % 3 == 2 of each list) separately and together:
- right-answer rate: answerable questions (paraphrased, Italian, misheard by whisper) whose
  best match is the right entry and clears the threshold;
- right "I don't know" rate: unanswerable questions under the threshold;
- intent accuracy on `INTENTS`;
- matching time per turn (embedding the caller's words + scoring + intent), median / p95,
  and the build time of a knowledge base (first time, then from the cache);
- the same rates for the word-overlap matcher this replaced, as a baseline.
`--tune` sweeps MATCH_THRESHOLD on the tuning part only and prints the rates per value.

Prints a Markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

from bench import kb_questions as Q
from frontdesk.agent.providers import knowledge as K
from frontdesk.agent.providers.embedder import MODEL_ID, load_embedder
from frontdesk.agent.providers.fixed_vectors import seed_fixed_vectors
from frontdesk.cli.demo import DEMO_ORGS

_LABEL = {"order": "order", "other": "booking", "message": "message", "callback": "callback",
          "complaint": "complaint"}  # fmt: skip


def split(items: list[Q.Question]) -> tuple[list[Q.Question], list[Q.Question]]:
    tune = [q for i, q in enumerate(items) if i % 3 != 2]
    held = [q for i, q in enumerate(items) if i % 3 == 2]
    return tune, held


def intent_label(c: K.Classified) -> str:
    return _LABEL.get(c.kind or "", "none") if c.intent == "ticket" else c.intent


Scorer = Callable[[str, str], tuple[float, str | None]]  # (org, said) -> (score, answer)


def rates(questions: list[Q.Question], scorer: Scorer, threshold: float) -> tuple[float, float]:
    answerable = [q for q in questions if q[2] is not None]
    unanswerable = [q for q in questions if q[2] is None]
    right = 0
    for org, said, fragment in answerable:
        score, answer = scorer(org, said)
        right += bool(answer and fragment and fragment in answer and score >= threshold)
    declined = sum(scorer(org, said)[0] < threshold for org, said, _ in unanswerable)
    return (
        right / len(answerable) if answerable else float("nan"),
        declined / len(unanswerable) if unanswerable else float("nan"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="sweep the threshold (tuning part)")
    args = parser.parse_args()

    started = time.perf_counter()
    embedder = load_embedder()
    load_s = time.perf_counter() - started
    seed_fixed_vectors(embedder)  # as a worker does at start
    configs = {org.slug: org.config for org in DEMO_ORGS}
    build_ms: list[float] = []
    kbs: dict[str, K.KnowledgeBase] = {}
    for _round in range(2):  # the second build of each org comes from the embedder's cache
        for slug, config in configs.items():
            t0 = time.perf_counter()
            kbs[slug] = K.KnowledgeBase(
                ((e.question, e.answer) for e in config.knowledge_base),
                config.knowledge_text,
                embedder=embedder,
            )
            build_ms.append((time.perf_counter() - t0) * 1000)
    intents = K.IntentExamples(embedder)

    cache: dict[tuple[str, str], tuple[float, str | None]] = {}
    turn_ms: list[float] = []
    turn_cpu_ms: list[float] = []

    def semantic(org: str, said: str) -> tuple[float, str | None]:
        if (org, said) not in cache:
            t0, c0 = time.perf_counter(), time.thread_time()
            vector = embedder.embed([said], query=True)[0]  # first time: not cached
            ranked = kbs[org].ranked(said, vector)
            K.understand(said, vector, intents)
            turn_ms.append((time.perf_counter() - t0) * 1000)
            turn_cpu_ms.append((time.thread_time() - c0) * 1000)
            cache[(org, said)] = (ranked[0].score, ranked[0].answer) if ranked else (-99.0, None)
        return cache[(org, said)]

    lexical_kbs = {slug: _LexicalBaseline(c) for slug, c in configs.items()}

    def lexical(org: str, said: str) -> tuple[float, str | None]:
        return lexical_kbs[org].best(said)

    answerable = Q.PARAPHRASES + Q.MISHEARD
    a_tune, a_held = split(Q.PARAPHRASES)
    m_tune, m_held = split(Q.MISHEARD)
    u_tune, u_held = split(Q.UNANSWERABLE)
    tune = a_tune + m_tune + u_tune
    held = a_held + m_held + u_held
    everything = answerable + Q.UNANSWERABLE

    if args.tune:
        print("threshold | answered right (tuning) | declined right (tuning)")
        for threshold in np.arange(2.0, 6.01, 0.25):
            right, declined = rates(tune, semantic, float(threshold))
            print(f"{threshold:.2f} | {right:.1%} | {declined:.1%}")
        return

    th = K.MATCH_THRESHOLD
    rows = [
        ("tuning part", tune),
        ("held-out part", held),
        ("all", everything),
        ("  of which misheard by whisper", Q.MISHEARD),
        ("  of which Italian", [q for q in everything if _italian(q[1])]),
    ]
    intent_right = sum(
        intent_label(K.understand(s, embedder.embed([s], query=True)[0], intents)) == want
        for s, want in Q.INTENTS
    )
    lexical_intents = sum(intent_label(K.classify(s)) == want for s, want in Q.INTENTS)
    print(f"### Offline responder: understanding ({datetime.now(UTC):%Y-%m-%d})\n")
    print(f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python "
          f"{platform.python_version()}; model {MODEL_ID} on 1 thread. Command: "
          f"`python -m bench.kb_bench`.\n")  # fmt: skip
    print(f"{len(answerable)} answerable questions ({len(Q.MISHEARD)} as whisper mishears "
          f"them), {len(Q.UNANSWERABLE)} unanswerable, {len(Q.INTENTS)} intents; "
          f"threshold {th} (chosen on the tuning part).\n")  # fmt: skip
    print("| set | questions | answered right | declined right | word matcher (before): "
          "answered / declined |")  # fmt: skip
    print("|---|---|---|---|---|")
    for name, questions in rows:
        right, declined = rates(questions, semantic, th)
        l_right, l_declined = rates(questions, lexical, K_LEXICAL_THRESHOLD)
        print(f"| {name} | {len(questions)} | {_pct(right)} | {_pct(declined)} | "
              f"{_pct(l_right)} / {_pct(l_declined)} |")  # fmt: skip
    turn_ms.sort()
    p95 = turn_ms[int(0.95 * (len(turn_ms) - 1))]
    print(f"\nIntents right: {intent_right}/{len(Q.INTENTS)} "
          f"(word rules alone: {lexical_intents}/{len(Q.INTENTS)}).\n")  # fmt: skip
    print(f"Matching per turn (embed the caller's words, score, intent): median "
          f"{statistics.median(turn_ms):.1f} ms, p95 {p95:.1f} ms over {len(turn_ms)} turns "
          f"(CPU time of the turn: median {statistics.median(turn_cpu_ms):.1f} ms; the wall "
          f"time includes waiting for the 2 cores shared with other work). "
          f"Model load {load_s * 1000:.0f} ms (with its SHA-256 check); knowledge base "
          f"build: first {build_ms[0]:.0f} / {build_ms[1]:.0f} ms, again from the cache "
          f"{build_ms[2]:.1f} / {build_ms[3]:.1f} ms.")  # fmt: skip


def _pct(rate: float) -> str:
    return "–" if math.isnan(rate) else f"{rate:.1%}"  # NaN: no question of that kind


def _italian(text: str) -> bool:
    return any(w in text.lower().split() for w in ("avete", "fate", "c'è", "dove", "quanto",
               "qual", "dov'è", "vi", "parlate", "si"))  # fmt: skip


K_LEXICAL_THRESHOLD = 0.5


class _LexicalBaseline:
    """The word-overlap matcher the responder used before (cosine of token sets)."""

    def __init__(self, config: object) -> None:
        from frontdesk.tenancy.config import TenantConfig

        assert isinstance(config, TenantConfig)
        self._faq = [(K.tokens(e.question), K.tokens(e.answer), e.answer)
                     for e in config.knowledge_base]  # fmt: skip
        self._text = [(K.tokens(s), s) for s in K.passages(config.knowledge_text)]

    def best(self, said: str) -> tuple[float, str | None]:
        asked = K.tokens(said)
        best: tuple[float, str | None] = (0.0, None)
        for q_tok, a_tok, answer in self._faq:
            score = max(K.similarity(asked, q_tok), 0.8 * K.similarity(asked, q_tok | a_tok))
            best = max(best, (score, answer), key=lambda b: b[0])
        for s_tok, sentence in self._text:
            covered = len(asked & s_tok) / len(asked) if asked else 0.0
            best = max(best, (0.8 * covered, sentence), key=lambda b: b[0])
        return best


if __name__ == "__main__":
    main()
