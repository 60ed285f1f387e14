"""One real embedded PostgreSQL for the test session; a fresh, migrated database per test.

The server starts once (initdb + start: ~0.45 s on tmpfs, ~0.8 s on disk) in a private
temporary directory (tmpfs when there is one) and is stopped at the end of the session. A
template database is migrated once; each test gets a copy of it (CREATE DATABASE … TEMPLATE,
~15 ms on tmpfs) that is dropped afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tests.integration.store.support import (
    TEMPLATE,
    TEST_SERVER_OPTIONS,
    PgServer,
    Seed,
    one,
    run_async,
    scratch_dir,
    seed_tenant,
)

from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import Pool, open_pool
from frontdesk.store.migrate import migrate


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    base = Path(tempfile.mkdtemp(prefix="frontdesk-pgtest-", dir=scratch_dir()))
    # durability buys nothing in a throw-away test cluster, and CREATE DATABASE checkpoints
    server = EmbeddedPostgres.for_data_dir(base, TEST_SERVER_OPTIONS)
    began = time.perf_counter()
    assert server.ensure_running(), "a server was already running in a fresh directory"
    handle = PgServer(server, time.perf_counter() - began)
    try:
        handle.create_database(TEMPLATE)
        run_async(migrate(handle.conninfo(TEMPLATE)))
        yield handle
    finally:
        server.force_stop()  # even if a test leaked a connection: no stray server
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def empty_db(pg: PgServer) -> Iterator[str]:
    """The conninfo of a new, empty (unmigrated) database."""
    name = f"empty_{uuid.uuid4().hex[:12]}"
    conninfo = pg.create_database(name)
    yield conninfo
    pg.drop_database(name)


@pytest.fixture
def db(pg: PgServer) -> Iterator[str]:
    """The conninfo of a new database with every migration applied."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    conninfo = pg.create_database(name, template=TEMPLATE)
    yield conninfo
    pg.drop_database(name)


@pytest.fixture
async def pool(db: str) -> AsyncIterator[Pool]:
    pool = await open_pool(db, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def seed(pool: Pool) -> Seed:
    """Organizations A and B, each with a row in every tenant table, and an operator user."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(b"INSERT INTO nodes (id, max_calls) VALUES ('node-1', 10)")
        a = await seed_tenant(conn, "alpha", "+390551234567", "node-1")
        b = await seed_tenant(conn, "beta", "+390557654321", "node-1")
        operator = await one(
            conn,
            b"INSERT INTO users (email, password_hash, is_operator)"
            b" VALUES ('ops@example.com', 'x', true) RETURNING id",
            (),
        )
    return Seed(a, b, operator)
