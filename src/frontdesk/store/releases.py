"""Releases: an ended call's slot freed and its session's end recorded, in one statement.

Owns: this node's queue of ended admissions and the loop that writes them in batches. One
statement per batch (`_RELEASE`) deletes the calls' `active_calls` rows and, in the same
statement, writes their `sessions` rows' end (outcome, reason, times, transcript,
recording): the LiveKit front's `close_session` shape (store/slots.py), for a batch. A
slot is never free while its session still reads in progress, nor the other way round,
whatever fails between the two.

Three kinds of end:
- a call that happened, with its finished `CallRecord`: the slot goes and the row is
  written from the record (`session_row`, the session recorder's own columns; the
  recorder of a node whose releases write the ends skips these records);
- a slot freed without a record (the INVITE was cancelled, or no RTP port was left, after
  admission): the slot goes; the row's end is the refusal the recorder writes;
- a `void` end (admitted after its INVITE had been answered 503, or whose setup was
  stopped): the slot goes and its in-progress row is deleted (no call happened).

Why not inside the admission turn (store/admission.py), which carried the DELETE before:
ending a session fires migration 0007's rollup trigger (upserts of one hot row per hour,
outcome and reason). Inside the turn, whose transaction holds the organizations' locks,
measured at 200 calls/s, turns waited on the session recorder for the rollup rows
(INVITE→200 p50 465 ms) and deadlocked with it. Here the end runs in its own transaction,
which holds no admission lock and waits for none: admission locks its rows `FOR NO KEY
UPDATE` (migration 0014), which does not conflict with the `FOR KEY SHARE` that a rollup
row's foreign key check takes on its organization.

Exactly once: the slot of a call is queued once (`Admission.release` pops it); a batch
that fails is kept, in order, and retried until the database takes it (a DELETE that finds
no row, or an upsert of the same values, changes nothing, so a batch that committed before
its connection broke may be sent again). Releases are never on a call's critical path: a
caller of `queue` is told when the first attempt is back, not made to wait for retries.

Must not: decide admission, or hold a connection between batches.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from frontdesk.calls.record import CallRecord
from frontdesk.store.engine import Pool
from frontdesk.store.sessions import session_row

log = logging.getLogger(__name__)

_DB_ERRORS = (psycopg.Error, OSError, PoolTimeout)
# a row the database refuses: not worth a retry, but its slot must still be freed
_BAD_ROW = (psycopg.errors.IntegrityError, psycopg.errors.DataError)
_BATCH = 500
_ROLE = b"SET LOCAL ROLE frontdesk_operator"

# `written`: ends with a record. The row's times stay after the admission's `started_at`
# (the database's clock) whatever the node's clock says. Data-modifying CTEs all run to
# completion, on the statement's one snapshot; the sessions row of a void end is deleted
# only when this statement freed its slot (a reaped node's row keeps the reaper's verdict).
_RELEASE = b"""
WITH ended AS (
    SELECT * FROM unnest(
        %(ids)s::uuid[], %(void)s::boolean[], %(written)s::boolean[], %(orgs)s::uuid[],
        %(numbers)s::uuid[], %(call_ids)s::text[], %(callers)s::text[], %(called)s::text[],
        %(started)s::timestamptz[], %(answered)s::timestamptz[], %(ended)s::timestamptz[],
        %(outcomes)s::text[], %(reasons)s::text[], %(statuses)s::integer[],
        %(transcripts)s::jsonb[], %(recordings)s::text[]
    ) AS e(id, void, written, org, number, call_id, caller, called, started, answered,
           ended, outcome, reason, status, transcript, recording)
), gone AS (
    DELETE FROM active_calls a USING ended e WHERE a.session_id = e.id
    RETURNING a.session_id
), voided AS (
    DELETE FROM sessions s USING ended e
    WHERE s.id = e.id AND e.void AND s.outcome = 'in-progress'
      AND s.id IN (SELECT session_id FROM gone)
    RETURNING s.id
), closed AS (
    INSERT INTO sessions AS s (id, organization_id, sip_number_id, call_id_sip,
                               caller_number, called_number, node_id, started_at,
                               answered_at, ended_at, outcome, reason, reject_status,
                               transcript, recording_path)
    SELECT e.id, e.org, e.number, e.call_id, e.caller, e.called, %(node)s, e.started,
           e.answered, e.ended, e.outcome, e.reason, e.status, e.transcript, e.recording
    FROM ended e WHERE e.written
    ON CONFLICT (id) DO UPDATE SET answered_at = greatest(EXCLUDED.answered_at, s.started_at),
        ended_at = greatest(EXCLUDED.ended_at, s.started_at), outcome = EXCLUDED.outcome,
        reason = EXCLUDED.reason, reject_status = EXCLUDED.reject_status,
        transcript = EXCLUDED.transcript, recording_path = EXCLUDED.recording_path
    RETURNING s.id
)
SELECT count(*) FROM gone
"""


@dataclass(eq=False, slots=True)
class _End:
    session_id: uuid.UUID
    void: bool
    row: tuple[Any, ...] | None  # `session_row` of the finished call, when there is one
    done: asyncio.Future[None] | None


class SlotReleases:
    """The node's releases: `queue` an end; a task of this object writes the batches."""

    def __init__(self, pool: Pool, node_id: str, *, retry_s: float = 0.2) -> None:
        self._pool = pool
        self._node_id = node_id
        self._retry_s = retry_s
        self._queue: list[_End] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self.freed = 0  # slots this node freed (a DELETE that found its row)
        self.failures = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def queue(
        self, session_id: uuid.UUID, *, record: CallRecord | None = None, void: bool = False
    ) -> asyncio.Future[None]:
        """Free the slot of `session_id` (and end its row from `record`, or delete it when
        `void`); the future is done when the first attempt is back."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        row = None if record is None or void else session_row(record, self._node_id)
        self._queue.append(_End(session_id, void, row, done))
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"slot releases {self._node_id}"
            )
        return done

    async def aclose(self) -> None:
        """Stop writing (what is still queued is dropped: the node's rows are reaped)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.wait({runner}, timeout=1.0)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
            batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            ok = await self._write(batch)
            for end in batch:
                if end.done is not None and not end.done.done():
                    end.done.set_result(None)  # the caller goes on; a retry is ours
                end.done = None
            if not ok:
                self._queue[:0] = batch
                await asyncio.sleep(self._retry_s)

    async def _write(self, batch: list[_End]) -> bool:
        try:
            # one Query message, one implicit transaction, one round trip (the admission
            # turn's shape: values quoted on the client, see store/admission.py)
            async with self._pool.connection() as conn:
                cursor = psycopg.AsyncClientCursor(conn)
                async with cursor:
                    await cursor.execute(_ROLE + b"; " + _RELEASE, _params(batch, self._node_id))
                    cursor.nextset()
                    row = await cursor.fetchone()
        except _BAD_ROW as exc:  # a bug: free the slots, leave the rows to the reaper/recorder
            self.failures += 1
            log.error("ending %d session(s) refused, freeing their slots only: %s", len(batch), exc)
            for end in batch:
                end.row = None
            return False
        except _DB_ERRORS as exc:
            self.failures += 1
            log.warning("releasing %d slot(s) failed (kept for retry): %s", len(batch), exc)
            return False
        self.freed += int(row[0]) if row is not None else 0
        return True


def _params(batch: list[_End], node_id: str) -> dict[str, Any]:
    """The batch as the statement's arrays (a record-less end: NULLs, not written)."""
    rows = [end.row for end in batch]

    def column(index: int) -> list[Any]:
        return [row[index] if row is not None else None for row in rows]

    # session_row's columns: id, org, number, call_id, caller, called, node, started,
    # answered, ended, outcome, reason, status, transcript, recording
    return {
        "node": node_id,
        "ids": [end.session_id for end in batch],
        "void": [end.void for end in batch],
        "written": [row is not None for row in rows],
        "orgs": column(1),
        "numbers": column(2),
        "call_ids": column(3),
        "callers": column(4),
        "called": column(5),
        "started": column(7),
        "answered": column(8),
        "ended": column(9),
        "outcomes": column(10),
        "reasons": column(11),
        "statuses": column(12),
        "transcripts": [row[13] if row is not None else Jsonb(None) for row in rows],
        "recordings": column(14),
    }
