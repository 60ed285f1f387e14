"""`SessionRecorder`: one `sessions` row per call attempt, written without ever blocking a call.

Owns: turning the edge's finished `CallRecord`s into `sessions` rows. `submit` only
appends to an in-memory queue (the edge calls it from its event loop); `run`, a task the
node owns, writes what is queued in batches, one transaction per batch as the operator.
When the database is unreachable, rows stay queued (bounded) and are written when it
returns, so an outage loses no history; the oldest rows go first only if the queue would
exceed `max_queued`, and that is counted. On a node whose admission writes an answered
call's end with the release of its slot (`store.releases`, one statement), the recorder is
made with `ends_written_by_release` and skips those records: one writer per row end.
Must not: decide anything about calls.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from frontdesk.calls.record import CallRecord
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx

log = logging.getLogger(__name__)

_OUTCOMES = {"answered": "completed", "rejected": "rejected", "cancelled": "cancelled"}
# an admitted call's row was inserted by admission (in progress): it is completed here
_INSERT = b"""
INSERT INTO sessions (id, organization_id, sip_number_id, call_id_sip, caller_number,
                      called_number, node_id, started_at, answered_at, ended_at, outcome,
                      reason, reject_status, transcript, recording_path)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET answered_at = EXCLUDED.answered_at,
    ended_at = greatest(EXCLUDED.ended_at, sessions.started_at), outcome = EXCLUDED.outcome,
    reason = EXCLUDED.reason, reject_status = EXCLUDED.reject_status,
    transcript = EXCLUDED.transcript, recording_path = EXCLUDED.recording_path
"""
_BATCH = 500


def _time(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def session_row(record: CallRecord, node_id: str) -> tuple[Any, ...]:
    outcome = _OUTCOMES.get(record.outcome, "failed")
    ended = record.ended_at or record.started_at
    answered = record.answered_at if outcome in ("completed", "failed") else None
    owner = record.owner
    called = (owner.called_e164 if owner else "") or record.called or "(none)"
    return (
        record.session_id or uuid.uuid4(),
        owner.org_id if owner else None,
        owner.number_id if owner else None,
        record.call_id or "(none)",
        record.caller[:128],
        called[:128],
        node_id,
        _time(record.started_at),
        _time(answered),
        _time(max(ended, record.answered_at or record.started_at)),
        outcome,
        (record.reason or "unknown")[:200],
        record.status if outcome == "rejected" else None,
        Jsonb([line.as_json() for line in record.transcript]),
        record.recording_path,
    )


class SessionRecorder:
    def __init__(
        self,
        pool: Pool,
        node_id: str,
        *,
        max_queued: int = 100_000,
        retry_s: float = 1.0,
        ends_written_by_release: bool = False,
    ) -> None:
        self._pool = pool
        self._skip_released = ends_written_by_release
        self._node_id = node_id
        self._queue: deque[tuple[Any, ...]] = deque()
        self._max_queued = max_queued
        self._retry_s = retry_s
        self._wake = asyncio.Event()
        self._writing = asyncio.Lock()  # run() and flush() may overlap: one batch at a time
        self.written = 0
        self.dropped = 0
        self.failures = 0

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, record: CallRecord) -> None:
        if self._skip_released and record.session_id is not None and record.outcome == "answered":
            return  # its release wrote the end (store.releases)
        if len(self._queue) >= self._max_queued:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(session_row(record, self._node_id))
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: write queued rows; keep them while the database is away."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                if not await self._flush_batch():
                    await asyncio.sleep(self._retry_s)

    async def flush(self) -> None:
        """Write everything queued now (used at shutdown); raises if the database is away."""
        while self._queue:
            if not await self._flush_batch():
                raise ConnectionError("the database is unreachable: sessions still queued")

    async def _flush_batch(self) -> bool:
        async with self._writing:
            if not self._queue:
                return True
            return await self._write_batch()

    async def _write_batch(self) -> bool:
        batch = [self._queue[i] for i in range(min(_BATCH, len(self._queue)))]
        try:
            async with operator_tx(self._pool) as conn, conn.cursor() as cursor:
                await cursor.executemany(_INSERT, batch)
        except (psycopg.Error, OSError) as exc:
            self.failures += 1
            log.warning("writing %d sessions failed (kept for retry): %s", len(batch), exc)
            return False
        except Exception:  # a bug or a bad row must not stop the recorder for good
            self.failures += 1
            log.exception("writing %d sessions failed; dropping them", len(batch))
            for _ in batch:
                self._queue.popleft()
            self.dropped += len(batch)
            return True
        for _ in batch:
            self._queue.popleft()
        self.written += len(batch)
        return True
