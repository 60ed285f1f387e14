"""Managed PostgreSQL (Supabase and the like): the owner is not a superuser.

Runs on a cluster of its own, so that the tenant and operator roles do not exist yet and
the non-superuser owner creates them itself, as it would on a fresh managed database.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import errors
from tests.integration.store.support import (
    TEST_SERVER_OPTIONS,
    one,
    scratch_dir,
    seed_tenant,
)

from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import open_pool
from frontdesk.store.migrate import available_migrations, migrate
from frontdesk.store.tx import operator_tx, tenant_tx

pytestmark = pytest.mark.integration


@pytest.fixture
def managed() -> Iterator[str]:
    """A fresh cluster with a CREATEROLE, non-superuser login that owns database `app`."""
    base = Path(tempfile.mkdtemp(prefix="frontdesk-pgmanaged-", dir=scratch_dir()))
    server = EmbeddedPostgres.for_data_dir(base, TEST_SERVER_OPTIONS)
    server.ensure_running()
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE ROLE app_owner LOGIN CREATEROLE NOSUPERUSER")
            conn.execute("CREATE DATABASE app OWNER app_owner")
        yield server.conninfo("app", user="app_owner")
    finally:
        server.force_stop()
        shutil.rmtree(base, ignore_errors=True)


async def test_a_non_superuser_owner_migrates_and_isolates_tenants(managed: str) -> None:
    applied = await migrate(managed)
    assert len(applied) == len(available_migrations())
    assert await migrate(managed) == []
    pool = await open_pool(managed, max_size=2)
    try:
        async with pool.connection() as conn:
            cursor = await conn.execute(
                b"SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
            assert await cursor.fetchone() == (False, False)
        async with operator_tx(pool) as conn:
            await conn.execute(b"INSERT INTO nodes (id, max_calls) VALUES ('node-1', 10)")
            a = await seed_tenant(conn, "alpha", "+390551234567", "node-1")
            b = await seed_tenant(conn, "beta", "+390557654321", "node-1")
        async with tenant_tx(pool, a.org) as conn:
            cursor = await conn.execute(b"SELECT id FROM sip_numbers")
            assert await cursor.fetchall() == [(a.number,)]
            cursor = await conn.execute(
                b"UPDATE customers SET name = 'pwned' WHERE id = %s", (b.customer,)
            )
            assert cursor.rowcount == 0
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            async with tenant_tx(pool, a.org) as conn:
                await one(
                    conn,
                    b"INSERT INTO tickets (organization_id, subject) VALUES (%s, 'x') RETURNING id",
                    (b.org,),
                )
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(b"SELECT count(*) FROM sip_numbers")
            assert await cursor.fetchone() == (2,)
        # FORCE ROW LEVEL SECURITY: the owner itself, outside both roles, sees no row
        async with pool.connection() as conn:
            cursor = await conn.execute(b"SELECT count(*) FROM sip_numbers")
            assert await cursor.fetchone() == (0,)
    finally:
        await pool.close()
