"""Which database frontdesk talks to, and the async connection pool to it.

Owns: resolving the target (`settings.database_url`, or the embedded server under
`settings.data_dir`, started when none runs and stopped only by whoever started it), and
opening / closing the psycopg_pool `AsyncConnectionPool` everything else borrows from.

Must not: hold queries, know the schema, or choose a tenant. Pool connections run as the login
(owner) role in autocommit mode; tenant and operator work goes through `frontdesk.store.tx`,
which switches role inside one transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeAlias

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from frontdesk.config import Settings
from frontdesk.errors import StoreError
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.migrate import migrate

Connection: TypeAlias = psycopg.AsyncConnection[TupleRow]
Pool: TypeAlias = AsyncConnectionPool[Connection]

_APPLICATION = "frontdesk"
#: the database frontdesk uses on the embedded server (`postgres` stays for maintenance)
EMBEDDED_DATABASE = "frontdesk"


@dataclass(frozen=True)
class Target:
    """Where the database is: a conninfo, and the embedded server if that is what it is."""

    conninfo: str
    embedded: EmbeddedPostgres | None


def resolve_target(settings: Settings) -> Target:
    """`settings.database_url` if set, else the embedded server (started if none runs).

    Blocking (the embedded server may take ~1 s to start): call it from a thread in async code.
    """
    if settings.database_url:
        return Target(settings.database_url, None)
    server = EmbeddedPostgres.for_data_dir(settings.data_dir)
    server.ensure_running()
    try:
        return Target(server.ensure_database(EMBEDDED_DATABASE), server)
    except psycopg.Error as exc:
        server.stop()
        raise StoreError(f"cannot prepare the embedded database: {exc}") from exc


async def open_pool(
    conninfo: str, *, min_size: int = 1, max_size: int = 10, wait_s: float = 10.0
) -> Pool:
    """An open pool of autocommit connections to `conninfo`.

    `wait_s` bounds both the first connection and every later checkout.
    """
    # one direct attempt first: the pool would retry a wrong database name or a refused
    # connection until the timeout and then report only the timeout
    try:
        probe = await psycopg.AsyncConnection.connect(conninfo, connect_timeout=max(1, int(wait_s)))
    except psycopg.OperationalError as exc:
        raise StoreError(f"cannot connect to the database: {exc}") from exc
    await probe.close()
    pool: Pool = AsyncConnectionPool(
        conninfo,
        kwargs={"autocommit": True, "application_name": _APPLICATION},
        min_size=min_size,
        max_size=max_size,
        open=False,
        timeout=wait_s,
        check=AsyncConnectionPool.check_connection,
        name=_APPLICATION,
    )
    try:
        await pool.open(wait=True, timeout=wait_s)
    except PoolTimeout as exc:
        await pool.close()
        raise StoreError(f"cannot connect to the database within {wait_s:g} s") from exc
    return pool


@asynccontextmanager
async def open_database(
    settings: Settings, *, run_migrations: bool = True, max_size: int = 10
) -> AsyncIterator[Pool]:
    """The database of `settings`, migrated, as an open pool; cleaned up on exit.

    With the embedded server, it is started if none runs and stopped at exit only if this
    call started it and no other process is connected to it (a CLI command beside a running
    `frontdesk run` leaves it running, whichever of the two started it).
    """
    target = await asyncio.to_thread(resolve_target, settings)
    try:
        if run_migrations:
            await migrate(target.conninfo)
        pool = await open_pool(target.conninfo, max_size=max_size)
        try:
            yield pool
        finally:
            await pool.close()
    finally:
        if target.embedded is not None:
            await asyncio.to_thread(target.embedded.stop)
