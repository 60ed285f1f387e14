"""The routing snapshot from the database, and the watcher that keeps it fresh.

Owns: reading every number with its organization and agent config into a
`RoutingTable` (one query, as the operator: routing is for all tenants), and
`RoutingWatcher`, which LISTENs on `frontdesk_routing` (migration 0003's triggers notify
it on any change to numbers, organizations or agent configs) and swaps a freshly loaded
snapshot in, so a change made on any node or by the CLI takes effect everywhere within a
fraction of a second while a routing decision itself costs no database round trip.
Connecting and each reload have a deadline (`store.deadline`): on a hung database the
watcher logs, starts over and keeps serving the snapshot it has.
Must not: decide routes (`frontdesk.calls.routing` does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from pydantic import ValidationError

from frontdesk.calls.routing import NumberEntry, RoutingTable
from frontdesk.errors import StoreError
from frontdesk.store.deadline import Deadlines
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx
from frontdesk.tenancy.config import TenantConfig

log = logging.getLogger(__name__)

CHANNEL = "frontdesk_routing"
_DEBOUNCE_S = 0.05  # a CLI command may change several rows: reload once
_RETRY_S = 1.0

# two queries in one transaction (one snapshot): each org's config is decoded once, not
# once per number
_ORGS = b"""
SELECT o.id, o.slug, o.active, o.max_concurrent_calls, coalesce(a.config, '{}'::jsonb)
FROM organizations o LEFT JOIN agent_instances a ON a.organization_id = o.id
"""
_NUMBERS = b"""
SELECT id, phone_number, active, label, config_override, max_concurrent_calls, organization_id
FROM sip_numbers
"""


async def load_routing_table(pool: Pool, default_country: str) -> RoutingTable:
    async with operator_tx(pool) as conn:
        await conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        orgs = await (await conn.execute(_ORGS)).fetchall()
        numbers = await (await conn.execute(_NUMBERS)).fetchall()
    by_id: dict[Any, tuple[str, bool, int | None, TenantConfig]] = {}
    for org_id, slug, active, max_calls, config in orgs:
        try:
            by_id[org_id] = (slug, active, max_calls, TenantConfig.model_validate(config))
        except ValidationError as exc:  # written by an older version, or by hand
            log.error("organization %s has an invalid agent config: %s", slug, exc)
    entries: list[NumberEntry] = []
    for number_id, phone, active, label, override, max_calls, org_id in numbers:
        org = by_id.get(org_id)
        if org is None:
            continue  # its organization's config is invalid: the number stays unknown
        slug, org_active, org_max, org_config = org
        entries.append(
            NumberEntry(
                number_id=str(number_id),
                phone_number=phone,
                org_id=str(org_id),
                org_slug=slug,
                number_active=active,
                org_active=org_active,
                org_config=org_config,
                override=override or {},
                max_concurrent_calls=max_calls,
                org_max_concurrent_calls=org_max,
                label=label,
            )
        )
    return RoutingTable(entries, default_country)


async def _close(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.close()  # connected after the watcher had given up on it


async def _drop(table: RoutingTable) -> None:
    """A snapshot loaded after its deadline is not installed: a newer one may be."""


class RoutingWatcher:
    """LISTEN for routing changes and hand each new snapshot to `on_change`."""

    def __init__(
        self,
        pool: Pool,
        default_country: str,
        on_change: Callable[[RoutingTable], None],
        *,
        deadline: float = 5.0,
    ) -> None:
        self._pool = pool
        self._country = default_country
        self._on_change = on_change
        # connecting and each reload: past it the watcher starts over (a hung database
        # must not leave it waiting forever with an old snapshot and no error in the log)
        self._deadline = deadline
        self._waits = Deadlines("routing watcher")
        self.reloads = 0
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled: listen, reload on every notification, reconnect on failure."""
        try:
            while True:
                try:
                    await self._listen()
                except asyncio.CancelledError:
                    raise
                except (psycopg.Error, OSError) as exc:  # DatabaseTimeout is an OSError
                    self.listening.clear()
                    log.warning("routing watcher lost its connection (%s); retrying", exc)
                    await asyncio.sleep(_RETRY_S)
        finally:
            await self._waits.aclose()

    async def _listen(self) -> None:
        conninfo = self._pool.conninfo
        if not isinstance(conninfo, str):
            raise StoreError("the routing watcher needs a pool opened with a plain conninfo")
        conn = await self._waits.run(
            psycopg.AsyncConnection.connect(conninfo, autocommit=True),
            self._deadline,
            on_late=_close,
        )
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}".encode())
            # anything changed while we were not listening is picked up by this load
            await self._reload()
            self.listening.set()
            async for _ in conn.notifies():
                await asyncio.sleep(_DEBOUNCE_S)
                await self._reload()

    async def _reload(self) -> None:
        table = await self._waits.run(
            load_routing_table(self._pool, self._country), self._deadline, on_late=_drop
        )
        self.reloads += 1
        self._on_change(table)
        log.info("routing reloaded: %d numbers", len(table))
