"""A call's slot closed once across processes: the LiveKit front's release, in SQL.

Owns: `close_session` / `close_by_call_id` (one statement: `DELETE … RETURNING` on
`active_calls` decides who closed the call, and only that caller ends its `sessions` row),
`mark_answered`, and `rows_to_reconcile` (a node's rows old enough to be judged against
what LiveKit carries). A job process, the worker's reconciler and the web app's webhook
may all try to close the same call; whoever deletes the row wins, the others change
nothing. Within one process `Admission.release` is once-only per Call-ID; across
processes only the database can decide, so the LiveKit front closes through here.

Must not: decide admission (store.admission does) or talk to LiveKit.
"""

from __future__ import annotations

import uuid
from typing import Any

from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx

# data-modifying CTEs always run to completion, so the DELETE counts even when the
# sessions row was already ended (a node reaped it meanwhile)
_CLOSE = b"""
WITH gone AS (
    DELETE FROM active_calls WHERE %s RETURNING session_id
), ended AS (
    UPDATE sessions SET
        outcome = CASE WHEN answered_at IS NULL THEN %%(unanswered)s ELSE %%(answered)s END,
        reason = %%(reason)s,
        ended_at = greatest(now(), coalesce(answered_at, started_at))
    WHERE id IN (SELECT session_id FROM gone) AND outcome = 'in-progress'
    RETURNING id
)
SELECT session_id FROM gone
"""
_BY_SESSION = _CLOSE % b"session_id = %(key)s"
_BY_CALL_ID = _CLOSE % b"call_id_sip = %(key)s"

_MARK_ANSWERED = b"""
UPDATE sessions SET answered_at = greatest(now(), started_at)
WHERE id = %s AND answered_at IS NULL AND outcome = 'in-progress'
"""


def _params(key: object, reason: str, answered: str, unanswered: str) -> dict[str, Any]:
    return {"key": key, "reason": reason[:200], "answered": answered, "unanswered": unanswered}


async def close_session(
    pool: Pool,
    session_id: uuid.UUID,
    reason: str,
    *,
    answered: str = "completed",
    unanswered: str = "cancelled",
    wait_s: float = 2.0,
) -> bool:
    """Free the call's slot and end its session; True only for the caller that did it."""
    async with operator_tx(pool, wait_s=wait_s) as conn:
        cursor = await conn.execute(_BY_SESSION, _params(session_id, reason, answered, unanswered))
        return bool(await cursor.fetchall())


async def close_by_call_id(
    pool: Pool,
    call_id: str,
    reason: str,
    *,
    answered: str = "completed",
    unanswered: str = "cancelled",
) -> list[uuid.UUID]:
    """The same, found by SIP Call-ID (LiveKit's `sip.callIDFull`); returns what it closed."""
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(_BY_CALL_ID, _params(call_id, reason, answered, unanswered))
        return [row[0] for row in await cursor.fetchall()]


async def mark_answered(pool: Pool, session_id: uuid.UUID) -> None:
    """The agent is up (LiveKit SIP sends 200 OK once it hears the agent's track)."""
    async with operator_tx(pool) as conn:
        await conn.execute(_MARK_ANSWERED, (session_id,))


_ROWS = b"""
SELECT a.session_id, a.call_id_sip FROM active_calls a
WHERE a.node_id = ANY(%s) AND a.started_at < now() - make_interval(secs => %s)
"""


async def rows_to_reconcile(
    pool: Pool, node_ids: list[str], grace_s: float
) -> list[tuple[uuid.UUID, str]]:
    """(session id, SIP Call-ID) of the nodes' live rows older than `grace_s`."""
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(_ROWS, (node_ids, grace_s))
        return list(await cursor.fetchall())
