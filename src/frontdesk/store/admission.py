"""Admission: one atomic decision per INVITE over three nested limits, exact across nodes.

Owns: the `CallDecider` of a node with a database: route the dialled number (over the
routing snapshot), then admit or refuse, and release the slot exactly once when the call
ends; the deadline on each of those waits; this node's row in `nodes`, its heartbeat, and
reaping the calls of nodes that stopped heartbeating (a crashed node frees its slots
through the others, a restarted node reaps its own rows first).

Batches ("turns"). INVITEs that arrive together are decided together: `decide` queues its
request and one loop (`_run`) sends everything queued as ONE simple-protocol Query message
on one connection: `SET LOCAL ROLE frontdesk_operator; SELECT frontdesk_admit_many(<the
queued requests>)`. Releases are not part of a turn: they end the session and free its slot
in one statement of their own (`store.releases`). PostgreSQL runs the statements of one
Query message as one implicit transaction, so a turn is one round trip and one transaction
instead of four (BEGIN / SET LOCAL ROLE / the function / COMMIT). Measured on the shared
2-core machine (2026-12-03, other work running): a turn of one INVITE costs about what the
old four-round-trip transaction did (3-5 ms there), a turn of twenty 0.2-0.6 ms per INVITE.
While a turn is on the wire the next requests queue, so a turn carries as many as arrived
during the previous one: one INVITE at low rates (no batching window to wait for), tens at a
burst. Parameters are bound on the client (psycopg's ClientCursor quotes them with libpq's
escaping); the text fields from the network are trimmed to the columns' limits and stripped
of NULs first, so one bad request cannot fail the statement of a whole batch.

Why a batch is exact (no over-admission under any interleaving, on one node or many):
`frontdesk_admit_many` (migration 0010, its locks made `FOR NO KEY UPDATE` by 0014) first
takes, always in this order, a row lock on this node's `nodes` row, then on every
organization of the batch in ascending id order (`SELECT … ORDER BY id FOR NO KEY UPDATE`;
two such locks on one row conflict, while the `FOR KEY SHARE` of a foreign-key check by a
release or the session recorder does not wait for them). Two turns that share an
organization, from any node, run one after the other, and so do two turns of the same node.
Under READ COMMITTED the counts taken after the locks see every `active_calls` row committed
by whoever held them before, and nobody else can insert a row counted against the same
organizations or node until this transaction ends. A number belongs to exactly one
organization (checked under the lock: a number moved since the snapshot is
`number-changed`), so the org lock covers the number's count too. Inside the batch the
requests are decided one after the other, in arrival order, each admission adding one to the
number, org and node counts the next request sees: exactly what consecutive single
admissions would have decided. The lock order (own node, then organizations ascending) is
the same everywhere and no one takes a node lock after an organization lock, so turns cannot
deadlock; the locks are held only while the function runs on the server. The levels are
checked in their nesting order (number, org, node), so a refusal names the innermost limit
that is full. Releases take no lock: a concurrent release can only make a count briefly too
high (a conservative refusal), never too low. Counts come from `active_calls` rows, never
from counters that could drift. Every refusal is decided by a fresh count in the database
(no refusal is answered from a cache).

Routing decides 404/480 (`calls.routing`), once: the function does not refuse for an
inactive number or a suspended organization, it answers `number-changed` when the rows no
longer match the snapshot; the snapshot is then reloaded (within the deadline) and routing
decides again on it. Only when the rows change again during that second look
is the call refused `number-changed`.

Deadlines. Every request has `db_deadline` seconds from `decide` to its verdict (the pool
wait, the connection and the statement all count). Past it the call is refused `database-
unavailable` (the edge answers 503 + Retry-After) and the request is marked expired: if its
turn still comes back with `admitted` (the database was slow, not gone), the slot is
released at once and its sessions row deleted (the edge records the refusal), so a late
decision never becomes a 200 nobody waits for. The wait is never a cancellation of the
query (see `store.deadline`); a turn that has not come back after `abandon_after` seconds
is left to finish by itself (it still releases whatever it admitted), and the next turn
takes another connection. A turn that fails releases everything it asked for (the
transaction may have committed before the connection broke: releasing a slot that was never
taken is a no-op); releases are retried until the database takes them (`store.releases`).

Why not psycopg's pipeline mode (it would also make a turn one round trip, and was tried
before this: it left connections aborted under load). Not reproduced here; what libpq
documents explains it: after one failed command every later command of the pipeline is
answered PIPELINE_ABORTED up to the next sync point, and the connection stays in pipeline
mode, unusable for anything else, until the client has read every pending result. A
caller cancelled by its deadline in the middle of that (or a pool handing the connection
on) finds it aborted. A single simple-protocol Query message keeps no such state on the
client: it completes, or the connection is given back broken and the pool discards it.
Server-side binding is given up for it (no parameters in the simple protocol), which is
why the values are quoted on the client.

Must not: speak SIP (it returns `Admitted`/`Refused`; each front answers for a reason).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import PoolTimeout

from frontdesk.calls.decision import (
    Admitted,
    CallOwner,
    Decision,
    InviteFacts,
    RefusalReason,
    Refused,
)
from frontdesk.calls.record import CallRecord
from frontdesk.calls.routing import Route, RoutingDecider
from frontdesk.store.deadline import Deadlines
from frontdesk.store.engine import Connection, Pool
from frontdesk.store.releases import SlotReleases
from frontdesk.store.routing import load_routing_table
from frontdesk.store.tx import operator_tx

log = logging.getLogger(__name__)

_DB_ERRORS = (psycopg.Error, OSError, PoolTimeout)

#: what the SQL admission functions may answer besides 'admitted', by the reason it names:
#: the SQL names are the enum's values (a test reads the functions back from the
#: database). `frontdesk_admit_many` answers number-changed and the limits; org-suspended
#: and number-inactive come only from 0004's `frontdesk_admit`, kept for the previous
#: version's nodes and called by nothing here.
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
_CHANGED = RefusalReason.NUMBER_CHANGED.value

#: the reasons a call gets when its node died under it (its row is ended by another node,
#: or by the same node starting again), never by the node that carried it
REAPED_REASONS = ("node-lost", "node-restart")

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

_ROLE = b"SET LOCAL ROLE frontdesk_operator"
_ADMIT = (
    b"SELECT frontdesk_admit_many(%(node)s, %(node_max)s, %(ids)s::uuid[], %(orgs)s::uuid[],"
    b" %(numbers)s::uuid[], %(call_ids)s::text[], %(callers)s::text[], %(called)s::text[])"
)
_PROBE = b"SELECT NULL"

_EXPIRED = "expired"
_FAILED = "failed"


def _text(value: str, limit: int) -> str:
    """A network string as the columns take it: no NUL, at most `limit` characters."""
    return value.replace("\x00", "")[:limit]


@dataclass(frozen=True, slots=True)
class Slot:
    """An admitted call's claim on the limits, until it is released."""

    session_id: uuid.UUID
    route: Route


@dataclass(eq=False, slots=True)
class _Ask:
    """One INVITE waiting for its turn's verdict."""

    facts: InviteFacts
    route: Route
    session_id: uuid.UUID
    verdict: asyncio.Future[str]
    expired: bool = False
    timer: asyncio.TimerHandle | None = None


@dataclass(eq=False, slots=True)
class _Turn:
    asks: list[_Ask]
    probes: list[asyncio.Future[None]] = field(default_factory=list)


class Admission:
    """The node's `CallDecider`: routing, then the batched atomic admission."""

    def __init__(
        self,
        pool: Pool,
        routing: RoutingDecider,
        *,
        node_id: str,
        node_max_calls: int,
        node_ttl: float,
        db_timeout: float = 1.0,
        abandon_after: float = 10.0,
        retry_s: float = 0.2,
    ) -> None:
        self._pool = pool
        self._routing = routing
        self.node_id = node_id
        self._node_max = node_max_calls
        self._ttl = node_ttl
        self._deadline = db_timeout
        self._abandon_after = max(abandon_after, db_timeout)
        self._retry_s = retry_s
        self._slots: dict[str, Slot] = {}  # by SIP Call-ID, while the call holds a slot
        self._asks: list[_Ask] = []
        self._releases = SlotReleases(pool, node_id, retry_s=retry_s)
        self._probes: list[asyncio.Future[None]] = []
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._conn: Connection | None = None  # the turns' connection, borrowed from the pool
        self._late_turns: set[asyncio.Task[bool]] = set()
        self._private: set[Connection] = set()  # turn connections not from the pool
        self._reloads = Deadlines("routing reload")
        self._turn_began: float | None = None
        self._last_turn_ok = True
        self.reaped = 0
        self.turns = 0
        self.late_admissions = 0  # admitted after their INVITE had been refused 503

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
        """Until cancelled: heartbeat and reap dead nodes' calls."""
        interval = max(self._ttl / 3, 0.2)
        while True:
            try:
                await self.heartbeat_once()
            except _DB_ERRORS as exc:
                log.warning("heartbeat failed (database away?): %s", exc)
            await asyncio.sleep(interval)

    async def heartbeat_once(self) -> None:
        async with operator_tx(self._pool, wait_s=self._deadline) as conn:
            await conn.execute(
                b"UPDATE nodes SET heartbeat_at = now() WHERE id = %s", (self.node_id,)
            )
            cursor = await conn.execute(_REAP, {"me": self.node_id, "ttl": self._ttl})
            reaped = len(await cursor.fetchall())
        if reaped:
            log.warning("reaped %d call(s) of nodes silent for over %g s", reaped, self._ttl)
            self.reaped += reaped

    async def aclose(self) -> None:
        """Stop the turn loop and give its connection back (queued work is dropped)."""
        tasks = [t for t in (self._runner, *self._late_turns) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1.0)
        await self._reloads.aclose()
        await self._releases.aclose()
        await self._give_back(self._conn)
        self._conn = None

    # ------------------------------------------------------------------ decisions
    async def decide(self, facts: InviteFacts) -> Decision:
        routed = self._routing.table.route(facts.called, facts.caller)
        if isinstance(routed, Refused):
            return routed
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._deadline
        verdict = await self._ask(facts, routed, deadline)
        if verdict == _CHANGED:  # the rows changed under the snapshot: routing decides anew
            try:
                routed = await self._reroute(facts, deadline)
            except _DB_ERRORS as exc:
                log.warning("routing reload failed, refusing the call: %s", exc)
                return Refused(RefusalReason.DATABASE_UNAVAILABLE)
            if isinstance(routed, Refused):
                return routed
            verdict = await self._ask(facts, routed, deadline)
        if verdict == "admitted":
            slot = self._slots[facts.call_id]
            return Admitted(
                route=routed, session_id=slot.session_id, greeting=routed.config.greeting
            )
        reason = ADMISSION_VERDICTS.get(verdict)
        if reason is not None:  # recorded under the number's organization
            owner = CallOwner(routed.entry.org_id, routed.entry.number_id, routed.called)
            return Refused(reason, owner)
        # past the deadline, or the database failed the turn
        return Refused(RefusalReason.DATABASE_UNAVAILABLE)

    async def _reroute(self, facts: InviteFacts, deadline: float) -> Route | Refused:
        remaining = deadline - asyncio.get_running_loop().time()
        country = self._routing.table.default_country
        table = await self._reloads.run(load_routing_table(self._pool, country), remaining)
        self._routing.swap(table)
        return table.route(facts.called, facts.caller)

    async def _ask(self, facts: InviteFacts, route: Route, deadline: float) -> str:
        """Queue one request for the next turn; its verdict, or `expired` at the deadline."""
        loop = asyncio.get_running_loop()
        ask = _Ask(facts, route, uuid.uuid4(), loop.create_future())
        ask.timer = loop.call_at(deadline, self._expire, ask)
        self._asks.append(ask)
        self._kick()
        try:
            return await ask.verdict
        except asyncio.CancelledError:  # the INVITE's setup was stopped: keep no slot
            self._expire(ask)
            if ask.verdict.done() and ask.verdict.result() == "admitted":
                slot = self._slots.pop(facts.call_id, None)
                if slot is not None:
                    self._releases.queue(slot.session_id, void=True)
            raise

    def _expire(self, ask: _Ask) -> None:
        if not ask.verdict.done():
            ask.expired = True
            ask.verdict.set_result(_EXPIRED)

    async def release(
        self, facts: InviteFacts, reason: str, record: CallRecord | None = None
    ) -> None:
        """Free the call's slot, and end its session from `record` in the same statement:
        exactly once, however often or late this is called.

        Returns when the batch that carried it is back (freed, or kept for a retry while
        the database is away).
        """
        slot = self._slots.pop(facts.call_id, None)
        if slot is None:
            return
        await asyncio.shield(self._releases.queue(slot.session_id, record=record))

    @property
    def released(self) -> int:
        """Slots this node has freed in the database."""
        return self._releases.freed

    async def database_ready(self) -> bool:
        """True when a round trip through the turn loop completes within the deadline."""
        if self._turn_began is not None:
            late = asyncio.get_running_loop().time() - self._turn_began > self._deadline
            if late:
                return False
        probe: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._probes.append(probe)
        self._kick()
        done, _ = await asyncio.wait({probe}, timeout=self._deadline)
        if not done:
            probe.cancel()
            return False
        return self._last_turn_ok

    @property
    def live_slots(self) -> int:
        return len(self._slots)

    # ------------------------------------------------------------------ turns
    def _kick(self) -> None:
        self._wake.set()
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name=f"admission turns {self.node_id}"
            )

    async def _run(self) -> None:
        """Until cancelled: one turn at a time, each carrying everything queued."""
        loop = asyncio.get_running_loop()
        while True:
            if not (self._asks or self._probes):
                self._wake.clear()
                await self._wake.wait()
            asks = [ask for ask in self._asks if not ask.expired]
            turn = _Turn(asks, self._probes)
            self._asks, self._probes = [], []
            if not (turn.asks or turn.probes):
                continue
            task = loop.create_task(self._turn(turn), name="admission turn")
            self._turn_began = loop.time()
            try:
                done, _ = await asyncio.wait({task}, timeout=self._abandon_after)
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                self._turn_began = None
            if not done:  # hung: let it finish by itself; the next turn gets a new connection
                log.error(
                    "an admission turn has waited %g s for the database: left to finish alone",
                    self._abandon_after,
                )
                self._late_turns.add(task)
                task.add_done_callback(self._late_turns.discard)
                self._conn = None
                continue
            if not task.result():
                await asyncio.sleep(self._retry_s)

    async def _turn(self, turn: _Turn) -> bool:
        """Send one turn, apply its verdicts; False when the database failed it."""
        conn = self._conn
        sent = False
        try:
            if conn is None:
                conn = self._conn = await self._connect()
            sent = True
            verdicts = await self._exchange(conn, turn)
        except (*_DB_ERRORS, ValueError) as exc:
            self._last_turn_ok = False
            log.warning("admission turn failed (%d requests): %s", len(turn.asks), exc)
            if conn is not None:
                if self._conn is conn:
                    self._conn = None
                await self._give_back(conn)
            self._failed(turn, sent)
            return False
        finally:
            self.turns += 1
        self._last_turn_ok = True
        if conn is not self._conn:  # abandoned meanwhile: the loop has another connection
            await self._give_back(conn)
        for probe in turn.probes:
            if not probe.done():
                probe.set_result(None)
        for ask, verdict in zip(turn.asks, verdicts, strict=True):
            self._settle(ask, verdict)
        return True

    async def _exchange(self, conn: Connection, turn: _Turn) -> list[str]:
        """The turn's one Query message: role, then admissions; one transaction."""
        statements = [_ROLE]
        params: dict[str, Any] = {}
        if turn.asks:
            statements.append(_ADMIT)
            params.update(
                node=self.node_id,
                node_max=self._node_max,
                ids=[ask.session_id for ask in turn.asks],
                orgs=[ask.route.entry.org_id for ask in turn.asks],
                numbers=[ask.route.entry.number_id for ask in turn.asks],
                call_ids=[_text(ask.facts.call_id, 512) or "(none)" for ask in turn.asks],
                callers=[_text(ask.route.caller, 128) for ask in turn.asks],
                called=[_text(ask.route.called, 128) for ask in turn.asks],
            )
        else:
            statements.append(_PROBE)
        cursor = psycopg.AsyncClientCursor(conn)
        async with cursor:
            await cursor.execute(b"; ".join(statements), params)
            cursor.nextset()
            row = await cursor.fetchone()
        verdicts: list[str] = list(row[0]) if turn.asks and row is not None else []
        if len(verdicts) != len(turn.asks):
            raise ValueError(f"admission returned {len(verdicts)} verdicts for {len(turn.asks)}")
        return verdicts

    def _settle(self, ask: _Ask, verdict: str) -> None:
        if ask.timer is not None:
            ask.timer.cancel()
        if verdict == "admitted":
            if ask.expired:  # its INVITE was answered 503 already: free the slot at once
                self.late_admissions += 1
                log.warning("admission came back after its deadline: slot released")
                self._releases.queue(ask.session_id, void=True)
                return
            self._slots[ask.facts.call_id] = Slot(ask.session_id, ask.route)
        if not ask.verdict.done():
            ask.verdict.set_result(verdict)

    def _failed(self, turn: _Turn, sent: bool) -> None:
        """Answer the turn's requests 503. When it was sent, its outcome is unknown:
        release what it asked for (the commit may have happened before the connection
        broke; freeing a slot never taken changes nothing)."""
        for ask in turn.asks:
            if ask.timer is not None:
                ask.timer.cancel()
            if sent:
                self._releases.queue(ask.session_id, void=True)
            if not ask.verdict.done():
                ask.verdict.set_result(_FAILED)
        for probe in turn.probes:
            if not probe.done():
                probe.set_result(None)

    async def _connect(self) -> Connection:
        """A connection for the turns: the pool's, or after a failure a direct one.

        After an outage the pool reconnects with a growing back-off (1, 2, 4 … s between
        attempts), so it can hand out nothing for seconds after the database is back; a
        turn that follows a failed one connects directly instead (within the deadline),
        and keeps that connection until it fails or `aclose`.
        """
        if self._last_turn_ok or not isinstance(self._pool.conninfo, str):
            return await self._pool.getconn(timeout=self._deadline)
        conn: Connection = await psycopg.AsyncConnection.connect(
            self._pool.conninfo,
            autocommit=True,
            application_name="frontdesk-admission",
            connect_timeout=max(2, math.ceil(self._deadline)),
        )
        self._private.add(conn)
        return conn

    async def _give_back(self, conn: Connection | None) -> None:
        if conn is None:
            return
        if conn in self._private:
            self._private.discard(conn)
            await conn.close()
            return
        try:
            await self._pool.putconn(conn)
        except Exception as exc:  # a closed pool, a broken connection: nothing to keep
            log.debug("returning the admission connection failed: %s", exc)
