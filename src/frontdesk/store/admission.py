"""Admission: one atomic decision per INVITE over three nested limits, exact across nodes.

Owns: the `CallDecider` of a node with a database: route the dialled number (over the
routing snapshot), then admit or refuse in ONE short transaction, and release the slot
exactly once when the call ends; this node's row in `nodes`, its heartbeat, and reaping
the calls of nodes that stopped heartbeating (a crashed node frees its slots through the
others, a restarted node reaps its own rows first).

Why the decision is exact (no over-admission under any interleaving, on one node or many):
`frontdesk_admit` (migration 0004) decides in one transaction that first takes, always
in this order, a row lock on this node's `nodes` row and then on the organization's row
(`SELECT … FOR UPDATE`). Two admissions for the same organization, from any node, run one
after the other, and so do two admissions on the same node. Under READ COMMITTED each
count statement taken after the locks sees every `active_calls` row committed by whoever
held them before, and nobody else can insert a row counted against the same organization
or node until this transaction ends. A number belongs to exactly one organization, so the
org lock covers the number's count too. The order node → organization is the same
everywhere, so the locks cannot deadlock, and they are held only while the function runs
on the server (not across client round trips). The levels are checked in their nesting
order (number, org, node), so a refusal names the innermost limit that is full.
Releases (`DELETE`) take no lock: a concurrent release can only make a count briefly too
high (a conservative refusal), never too low. Counts come from `active_calls` rows, never
from counters that could drift.

Cost: four round trips (BEGIN, SET LOCAL ROLE, the function, COMMIT), with the locks held
only during the function; measured before this, with eight round trips under the node's
lock, admission serialised the node at ~300 calls/s. (psycopg's pipeline mode would make
it one round trip; tried, it left connections aborted under load: not used yet.)

Must not: speak SIP (it returns `Admitted`/`Refused`; each front answers for a reason).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass

import psycopg
from psycopg_pool import PoolTimeout

from frontdesk.calls.decision import Admitted, Decision, InviteFacts, RefusalReason, Refused
from frontdesk.calls.routing import Route, RoutingDecider
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx

log = logging.getLogger(__name__)

_DB_ERRORS = (psycopg.Error, OSError, PoolTimeout)

#: what `frontdesk_admit` may answer besides 'admitted', by the reason it names: the SQL
#: names are the enum's values (a test reads the function back from the database)
ADMISSION_VERDICTS: dict[str, RefusalReason] = {
    reason.value: reason
    for reason in (
        RefusalReason.NUMBER_CHANGED,
        RefusalReason.ORG_SUSPENDED,
        RefusalReason.NUMBER_INACTIVE,
        RefusalReason.LIMIT_NUMBER,
        RefusalReason.LIMIT_ORG,
        RefusalReason.LIMIT_NODE,
    )
}

_REAP = b"""
WITH dead AS (
    SELECT id FROM nodes
    WHERE id <> %(me)s AND heartbeat_at < now() - make_interval(secs => %(ttl)s)
), gone AS (
    DELETE FROM active_calls WHERE node_id IN (SELECT id FROM dead) RETURNING session_id
)
UPDATE sessions SET outcome = 'failed', reason = 'node-lost', ended_at = now()
WHERE id IN (SELECT session_id FROM gone) AND outcome = 'in-progress'
RETURNING id
"""
_REAP_OWN = b"""
WITH gone AS (DELETE FROM active_calls WHERE node_id = %(me)s RETURNING session_id)
UPDATE sessions SET outcome = 'failed', reason = 'node-restart', ended_at = now()
WHERE id IN (SELECT session_id FROM gone) AND outcome = 'in-progress'
RETURNING id
"""


@dataclass(frozen=True, slots=True)
class Slot:
    """An admitted call's claim on the limits, until it is released."""

    session_id: uuid.UUID
    route: Route


class Admission:
    """The node's `CallDecider`: routing, then the atomic admission transaction."""

    def __init__(
        self,
        pool: Pool,
        routing: RoutingDecider,
        *,
        node_id: str,
        node_max_calls: int,
        node_ttl: float,
        db_timeout: float = 1.0,
    ) -> None:
        self._pool = pool
        self._routing = routing
        self.node_id = node_id
        self._node_max = node_max_calls
        self._ttl = node_ttl
        self._db_timeout = db_timeout
        self._slots: dict[str, Slot] = {}  # by SIP Call-ID, while the call holds a slot
        self._unreleased: set[uuid.UUID] = set()  # released while the database was away
        self.reaped = 0
        self.released = 0

    # ------------------------------------------------------------------ node life
    async def register(self) -> int:
        """Upsert this node and reap what a previous run of it left; return rows reaped."""
        async with operator_tx(self._pool) as conn:
            await conn.execute(
                b"INSERT INTO nodes (id, max_calls) VALUES (%s, %s) ON CONFLICT (id) DO UPDATE"
                b" SET max_calls = EXCLUDED.max_calls, started_at = now(), heartbeat_at = now()",
                (self.node_id, self._node_max),
            )
            cursor = await conn.execute(_REAP_OWN, {"me": self.node_id})
            reaped = len(await cursor.fetchall())
        if reaped:
            log.warning("reaped %d call(s) left by this node's previous run", reaped)
        self.reaped += reaped
        return reaped

    async def run_heartbeat(self) -> None:
        """Until cancelled: heartbeat, reap dead nodes' calls, retry failed releases."""
        interval = max(self._ttl / 3, 0.2)
        while True:
            try:
                await self.heartbeat_once()
            except _DB_ERRORS as exc:
                log.warning("heartbeat failed (database away?): %s", exc)
            await asyncio.sleep(interval)

    async def heartbeat_once(self) -> None:
        async with operator_tx(self._pool, wait_s=self._db_timeout) as conn:
            await conn.execute(
                b"UPDATE nodes SET heartbeat_at = now() WHERE id = %s", (self.node_id,)
            )
            cursor = await conn.execute(_REAP, {"me": self.node_id, "ttl": self._ttl})
            reaped = len(await cursor.fetchall())
            if self._unreleased:
                pending = list(self._unreleased)
                await conn.execute(
                    b"DELETE FROM active_calls WHERE session_id = ANY(%s)", (pending,)
                )
                self._unreleased.difference_update(pending)
                self.released += len(pending)
        if reaped:
            log.warning("reaped %d call(s) of nodes silent for over %g s", reaped, self._ttl)
            self.reaped += reaped

    # ------------------------------------------------------------------ decisions
    async def decide(self, facts: InviteFacts) -> Decision:
        routed = self._routing.table.route(facts.called, facts.caller)
        if isinstance(routed, Refused):
            return routed
        session_id = uuid.uuid4()
        admitted = Admitted(route=routed, session_id=session_id, greeting=routed.config.greeting)
        try:
            refusal = await self._admit(facts, routed, session_id)
        except _DB_ERRORS as exc:
            log.warning("admission failed, refusing the call: %s", exc)
            return Refused(RefusalReason.DATABASE_UNAVAILABLE)
        if refusal is not None:  # recorded under the number's organization
            return Refused(refusal, admitted.owner)
        self._slots[facts.call_id] = Slot(session_id, routed)
        return admitted

    async def _admit(
        self, facts: InviteFacts, route: Route, session_id: uuid.UUID
    ) -> RefusalReason | None:
        """The decision (`frontdesk_admit`) in one transaction and one round trip."""
        entry = route.entry
        async with operator_tx(self._pool, wait_s=self._db_timeout) as conn:
            cursor = await conn.execute(
                b"SELECT frontdesk_admit(%s, %s, %s, %s, %s, %s, %s, %s)",
                (session_id, entry.org_id, entry.number_id, self.node_id, self._node_max,
                 facts.call_id or "(none)", route.caller[:128], route.called),
            )  # fmt: skip
            row = await cursor.fetchone()
        verdict = row[0] if row is not None else RefusalReason.NUMBER_CHANGED.value
        if verdict == "admitted":
            return None
        return ADMISSION_VERDICTS[verdict]

    async def release(self, facts: InviteFacts, reason: str) -> None:
        """Free the call's slot: exactly once, however often or late this is called."""
        slot = self._slots.pop(facts.call_id, None)
        if slot is None:
            return
        try:
            async with operator_tx(self._pool, wait_s=self._db_timeout) as conn:
                await conn.execute(
                    b"DELETE FROM active_calls WHERE session_id = %s", (slot.session_id,)
                )
            self.released += 1
        except _DB_ERRORS as exc:  # the heartbeat loop retries it when the database is back
            log.warning("releasing call %s failed, will retry: %s", facts.call_id, exc)
            self._unreleased.add(slot.session_id)

    @property
    def live_slots(self) -> int:
        return len(self._slots)
