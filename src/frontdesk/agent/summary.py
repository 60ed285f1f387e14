"""The post-call summary: a few sentences and structured fields for every answered call.

Owns: `summarise_offline` (pure: from the call's transcript, the tickets the agent filed and
the end reason; used when the org's `llm` is `offline-kb`, which is not a language model,
and as the fallback when a model's request fails), `summarise_with_llm` (one chat request
to the org's OpenAI-compatible model, JSON out), and `PostCallSummaries`, the node's task
that takes each finished answered call off the edge (its `submit` only queues), makes the
summary, and in ONE transaction stores it on the sessions row (`summary`, `summary_data`)
and writes the `call.ended` event to the outbox: the event exists exactly when the summary
does. A database outage keeps the calls queued (bounded) until it returns.

Structured fields (`summary_data`): intent (the first ticket's kind, else `enquiry`,
`transfer` or `none`), outcome (`ticket`, `transferred`, `answered`, `no-speech`,
`cut-off`), caller_name and callback_number when the caller gave them, the end reason, the
tickets (id, kind, subject) and the source (`transcript`, `llm`, `transcript-fallback`).

Why from the transcript and tickets rather than the knowledge-base responder's state: the
responder lives in a worker process that is gone by the time the call is summarised, while
its every decision is already in the transcript (what it said) and the tickets (what it
filed); both fronts store them the same way.

Must not: run on the call's path (everything here happens after the hang-up), or log
transcripts or caller numbers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from frontdesk.calls.record import CallRecord
from frontdesk.config import Settings
from frontdesk.store import outbox
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx, tenant_tx
from frontdesk.tenancy.config import TenantConfig

log = logging.getLogger(__name__)

MAX_SUMMARY = 600
# the same default as the live agent's (agent/providers/factory.py, not imported here: it
# pulls the agent framework into the edge process)
DEFAULT_LLM_MODEL = "gpt-4.1-mini"
_LLM_TIMEOUT_S = 20.0

_NAME = re.compile(r"\b(?i:my name is|my name.s|this is|it.s)\s+([A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)")
_DIGITS = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_PHRASE = {
    "order": "placed an order",
    "complaint": "made a complaint",
    "message": "left a message",
    "callback": "asked to be called back",
    "other": "left a request",
}


@dataclass(frozen=True, slots=True)
class TicketFacts:
    id: str
    kind: str
    subject: str
    details: str = ""


@dataclass(frozen=True, slots=True)
class CallSummary:
    text: str
    data: dict[str, Any] = field(default_factory=dict)


def _caller_lines(transcript: Sequence[Mapping[str, Any]]) -> list[str]:
    return [
        str(e.get("text", "")).strip()
        for e in transcript
        if e.get("role") in ("caller", "user") and str(e.get("text", "")).strip()
    ]


def _callback_number(lines: Sequence[str]) -> str | None:
    for line in lines:
        for match in _DIGITS.finditer(line):
            digits = re.sub(r"[^\d+]", "", match.group())
            if len(digits.lstrip("+")) >= 6:
                return digits
    return None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def summarise_offline(
    transcript: Sequence[Mapping[str, Any]],
    tickets: Sequence[TicketFacts],
    reason: str,
    customer_name: str | None = None,
) -> CallSummary:
    """The summary that needs no model: what the caller said, what the agent filed."""
    lines = _caller_lines(transcript)
    name = customer_name or next((m.group(1) for line in lines if (m := _NAME.search(line))), None)
    transferred = "transfer" in reason
    who = name or "The caller"
    sentences: list[str] = []
    for ticket in tickets:
        phrase = _PHRASE.get(ticket.kind, _PHRASE["other"])
        sentences.append(f"{who} {phrase}: {_clip(ticket.subject, 200).rstrip('.')}.")
        who = "They"
    if not tickets and lines:
        more = len(lines) - 1
        tail = f" ({more} more thing{'s' if more > 1 else ''} said)" if more else ""
        sentences.append(f'{who} said: "{_clip(lines[0], 160)}"{tail}.')
    if transferred:
        sentences.append("The call was transferred to a person.")
    if not lines and reason in ("node-lost", "node-restart"):
        sentences.append("The call was cut off when its node stopped; its transcript is lost.")
    elif not lines:
        sentences.append("The caller said nothing the agent understood.")
    if tickets:
        intent, outcome = tickets[0].kind, "ticket"
    elif transferred:
        intent, outcome = "transfer", "transferred"
    elif lines:
        intent, outcome = "enquiry", "answered"
    elif reason in ("node-lost", "node-restart"):
        intent, outcome = "none", "cut-off"
    else:
        intent, outcome = "none", "no-speech"
    data: dict[str, Any] = {
        "intent": intent,
        "outcome": outcome,
        "caller_name": name,
        "callback_number": _callback_number(lines),
        "end_reason": reason,
        "tickets": [{"id": t.id, "kind": t.kind, "subject": t.subject} for t in tickets],
        "source": "transcript",
    }
    return CallSummary(_clip(" ".join(sentences), MAX_SUMMARY), data)


_LLM_INSTRUCTIONS = (
    "You summarise a phone call a business's receptionist agent just took, for the business."
    " Answer with one JSON object with the keys: summary (at most three short sentences,"
    " what the caller wanted and what was done), intent (one of order, complaint, message,"
    " callback, enquiry, transfer, other), outcome (one of ticket, transferred, answered,"
    " no-speech), caller_name (or null), callback_number (or null, only if the caller gave"
    " one)."
)


async def summarise_with_llm(
    transcript: Sequence[Mapping[str, Any]],
    tickets: Sequence[TicketFacts],
    reason: str,
    config: TenantConfig,
    settings: Settings,
    customer_name: str | None = None,
) -> CallSummary:
    """One request to the org's OpenAI-compatible model; the offline summary if it fails."""
    import openai  # only nodes whose orgs use a model pay for the import

    offline = summarise_offline(transcript, tickets, reason, customer_name)
    conversation = "\n".join(
        f"{e.get('role', '?')}: {e.get('text', '')}" for e in transcript if e.get("text")
    )
    filed = "\n".join(f"- {t.kind}: {t.subject} {t.details}".rstrip() for t in tickets)
    key = settings.openai_api_key
    try:
        client = openai.AsyncOpenAI(
            api_key=key.get_secret_value() if key is not None else "none",
            base_url=settings.openai_base_url,
            timeout=_LLM_TIMEOUT_S,
            max_retries=1,
        )
        async with client:
            reply = await client.chat.completions.create(
                model=config.llm_model or DEFAULT_LLM_MODEL,
                messages=[
                    {"role": "system", "content": _LLM_INSTRUCTIONS},
                    {
                        "role": "user",
                        "content": f"Transcript:\n{conversation or '(nothing)'}\n\n"
                        f"Tickets filed:\n{filed or '(none)'}\n\nEnd: {reason}",
                    },
                ],
                response_format={"type": "json_object"},
                temperature=0,
            )
        answer = json.loads(reply.choices[0].message.content or "{}")
        if not isinstance(answer, dict) or not str(answer.get("summary", "")).strip():
            raise ValueError("the model's answer has no summary")
    except Exception as exc:  # any failure of a remote model: the offline summary stands
        log.warning("post-call summary by the model failed (%s); using the transcript's", exc)
        return CallSummary(offline.text, {**offline.data, "source": "transcript-fallback"})
    data = dict(offline.data)
    for item in ("intent", "outcome", "caller_name", "callback_number"):
        value = answer.get(item)
        if isinstance(value, str) and value.strip():
            data[item] = _clip(value, 200)
    data["source"] = "llm"
    return CallSummary(_clip(str(answer["summary"]), MAX_SUMMARY), data)


# -- the node's task ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FinishedCall:
    """What the summary needs of a finished answered call (copied off the CallRecord)."""

    session_id: UUID
    org_id: UUID
    number_id: UUID | None
    call_id: str
    caller: str
    called: str
    reason: str
    started_at: float
    answered_at: float | None
    ended_at: float | None
    transcript: tuple[Mapping[str, Any], ...]

    @classmethod
    def from_record(cls, record: CallRecord) -> FinishedCall | None:
        owner, session = record.owner, record.session_id
        if record.outcome != "answered" or session is None or owner is None:
            return None
        return cls(
            session_id=session,
            org_id=UUID(owner.org_id),
            number_id=UUID(owner.number_id) if owner.number_id else None,
            call_id=record.call_id,
            caller=record.caller,
            called=owner.called_e164 or record.called,
            reason=record.reason,
            started_at=record.started_at,
            answered_at=record.answered_at,
            ended_at=record.ended_at,
            transcript=tuple(line.as_json() for line in record.transcript),
        )


_SWEEP_EVERY_S = 30.0
_SWEEP_AFTER_S = 30.0  # the call's own node has had this long
_SWEEP_WINDOW_S = 3600.0  # older calls are left without a summary
_SWEEP_BATCH = 50
# the predicate repeats sessions_unsummarised_idx's (migration 0008), so the index serves it
_UNSUMMARISED = b"""
SELECT id, organization_id, sip_number_id, call_id_sip, caller_number, called_number, reason,
       started_at, answered_at, ended_at, transcript
FROM sessions
WHERE summary IS NULL AND organization_id IS NOT NULL
  AND (answered_at IS NOT NULL OR reason IN ('node-lost', 'node-restart'))
  AND outcome <> 'in-progress'
  AND ended_at < now() - make_interval(secs => %s)
  AND ended_at > now() - make_interval(secs => %s)
ORDER BY ended_at
LIMIT %s
"""


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat()


class PostCallSummaries:
    """Summarise each answered call after its hang-up; store it and announce `call.ended`."""

    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        on_enqueued: Callable[[], None] | None = None,
        max_queued: int = 10_000,
        concurrency: int = 4,
        retry_s: float = 1.0,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._on_enqueued = on_enqueued
        self._queue: deque[FinishedCall] = deque()
        self._max_queued = max_queued
        self._concurrency = concurrency
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self.done = 0
        self.dropped = 0
        self.failures = 0

    def submit(self, record: CallRecord) -> None:
        """From the edge's event loop: queue an answered call (others are ignored)."""
        call = FinishedCall.from_record(record)
        if call is None:
            return
        if len(self._queue) >= self._max_queued:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(call)
        self._wake.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def run(self, sweep_every_s: float = _SWEEP_EVERY_S) -> None:
        """Until cancelled: summarise what is queued, a few calls at a time, and sweep."""
        async with asyncio.TaskGroup() as group:
            for index in range(self._concurrency):
                group.create_task(self._worker(), name=f"post-call summary {index}")
            group.create_task(self._sweeper(sweep_every_s), name="post-call summary sweep")

    async def _sweeper(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.sweep()
            except (psycopg.Error, OSError) as exc:
                log.warning("post-call summary sweep waits for the database: %s", exc)
            except Exception:
                log.exception("post-call summary sweep failed")

    async def sweep(self, older_than_s: float = _SWEEP_AFTER_S) -> int:
        """Summarise the recent calls nobody summarised (their node died, or lost its
        queue): answered calls, and admitted calls reaped from a dead node. Returns how many.
        """
        async with operator_tx(self._pool) as conn:
            cursor = await conn.execute(
                _UNSUMMARISED, (older_than_s, _SWEEP_WINDOW_S, _SWEEP_BATCH)
            )
            found = await cursor.fetchall()
        done = 0
        for row in found:
            session_id, org_id, number_id, call_id, caller, called, reason = row[:7]
            started, answered, ended, transcript = row[7:]
            await self.summarise(
                FinishedCall(
                    session_id=session_id,
                    org_id=org_id,
                    number_id=number_id,
                    call_id=call_id,
                    caller=caller,
                    called=called,
                    reason=reason or "unknown",
                    started_at=started.timestamp(),
                    answered_at=None if answered is None else answered.timestamp(),
                    ended_at=None if ended is None else ended.timestamp(),
                    transcript=tuple(transcript or ()),
                )
            )
            done += 1
        return done

    async def _worker(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            call = self._queue.popleft()
            try:
                await self.summarise(call)
                self.done += 1
            except (psycopg.Error, OSError) as exc:
                self.failures += 1
                log.warning("post-call summary of %s waits for the database: %s", call.call_id, exc)
                self._queue.appendleft(call)
                await asyncio.sleep(self._retry_s)
            except Exception:
                self.failures += 1
                log.exception("post-call summary of %s failed; skipped", call.call_id)

    async def summarise(self, call: FinishedCall) -> CallSummary:
        """Make the call's summary; store it and write `call.ended` in one transaction.

        Reads (tickets, the caller's customer record, where events go) are one transaction
        as the call's organization; a model's request, if any, runs between the two.
        """
        async with tenant_tx(self._pool, call.org_id) as conn:
            cursor = await conn.execute(
                b"SELECT id, kind, subject, body FROM tickets WHERE session_id = %s"
                b" ORDER BY created_at",
                (call.session_id,),
            )
            tickets = [TicketFacts(str(r[0]), r[1], r[2], r[3]) for r in await cursor.fetchall()]
            name = None
            if call.caller.startswith("+"):
                cursor = await conn.execute(
                    b"SELECT name FROM customers WHERE phone_number = %s", (call.caller,)
                )
                found = await cursor.fetchone()
                name = found[0] if found is not None and found[0] else None
            where = await outbox.destination(conn, call.org_id, call.number_id)
        config = where.config
        if config.llm == "openai":
            summary = await summarise_with_llm(
                call.transcript, tickets, call.reason, config, self._settings, name
            )
        else:
            summary = summarise_offline(call.transcript, tickets, call.reason, name)
        duration = (
            call.ended_at - call.answered_at
            if call.ended_at is not None and call.answered_at is not None
            else None
        )
        event = {
            "call": {
                "session_id": str(call.session_id),
                "call_id": call.call_id,
                "caller": call.caller,
                "called": call.called,
                "started_at": _iso(call.started_at),
                "answered_at": _iso(call.answered_at),
                "ended_at": _iso(call.ended_at),
                "duration_s": None if duration is None else round(duration, 1),
                "end_reason": call.reason,
            },
            "summary": summary.text,
            "summary_data": summary.data,
            "tickets": summary.data.get("tickets", []),
        }
        async with operator_tx(self._pool) as conn:
            cursor = await conn.execute(
                # `summary IS NULL`: a call summarised twice (its node and a sweep, at
                # once) is stored and announced once; the loser's UPDATE finds no row
                b"UPDATE sessions SET summary = %s, summary_data = %s WHERE id = %s"
                b" AND organization_id = %s AND summary IS NULL RETURNING id",
                (summary.text, Jsonb(summary.data), call.session_id, call.org_id),
            )
            stored = await cursor.fetchone() is not None
            queued = (
                await outbox.enqueue(
                    conn, "call.ended", call.org_id, call.number_id, event, where=where
                )
                if stored
                else []
            )
        if queued and self._on_enqueued is not None:
            self._on_enqueued()
        return summary
