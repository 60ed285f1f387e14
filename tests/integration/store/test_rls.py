"""Row-level security at the SQL level: tenant A against B's rows, for every tenant table.

Every attack runs as `frontdesk_tenant` with A set (`tenant_tx`), and must return nothing,
change nothing, or fail; the whole table is compared before and after as the owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from psycopg import errors
from tests.integration.store.support import Seed, Tenant

from frontdesk.store.engine import Connection, Pool, open_pool
from frontdesk.store.tx import operator_tx, tenant_tx

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Case:
    table: str
    key: str  # the column that identifies a seeded row
    ident: Callable[[Tenant], uuid.UUID]
    update: str  # a SET clause the tenant tries on B's row
    insert: str  # an INSERT into B's organization; params: org, a_user, b_number, b_session
    may_update: bool = False  # tenant holds the privilege: only RLS stands in the way
    may_delete: bool = False
    may_insert: bool = False

    def __str__(self) -> str:
        return self.table


CASES = [
    Case(
        "organizations",
        "id",
        lambda t: t.org,
        "name = 'pwned', active = false",
        "INSERT INTO organizations (slug, name) VALUES ('evil', 'Evil')",
    ),
    Case(
        "users",
        "id",
        lambda t: t.user,
        "email = 'pwned@evil.example'",
        "INSERT INTO users (email, password_hash) VALUES ('evil@evil.example', 'x')",
    ),
    Case(
        "memberships",
        "user_id",
        lambda t: t.user,
        "role = 'member'",
        "INSERT INTO memberships (user_id, organization_id, role)"
        " VALUES (%(a_user)s, %(org)s, 'owner')",
    ),
    Case(
        "agent_instances",
        "id",
        lambda t: t.agent,
        """config = '{"greeting": "pwned"}'""",
        "INSERT INTO agent_instances (organization_id) VALUES (%(org)s)",
        may_update=True,
    ),
    Case(
        "sip_numbers",
        "id",
        lambda t: t.number,
        "label = 'pwned', active = false",
        "INSERT INTO sip_numbers (phone_number, organization_id, assigned_by)"
        " VALUES ('+390550000009', %(org)s, 'evil')",
        may_update=True,
    ),
    Case(
        "number_assignments",
        "id",
        lambda t: t.assignment,
        "assigned_by = 'pwned'",
        "INSERT INTO number_assignments (phone_number, action, organization_id, assigned_by)"
        " VALUES ('+390550000009', 'add', %(org)s, 'evil')",
    ),
    Case(
        "sessions",
        "id",
        lambda t: t.session,
        "transcript = '[]'",
        "INSERT INTO sessions (organization_id, call_id_sip, called_number, node_id)"
        " VALUES (%(org)s, 'evil', '+390557654321', 'node-1')",
    ),
    Case(
        "active_calls",
        "id",
        lambda t: t.call,
        "node_id = 'node-1'",
        "INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,"
        " call_id_sip) VALUES (%(b_session)s, %(org)s, %(b_number)s, 'node-1', 'evil')",
    ),
    Case(
        "customers",
        "id",
        lambda t: t.customer,
        "name = 'pwned'",
        "INSERT INTO customers (organization_id, phone_number) VALUES (%(org)s, '+393339999999')",
        may_update=True,
        may_delete=True,
        may_insert=True,
    ),
    Case(
        "tickets",
        "id",
        lambda t: t.ticket,
        "subject = 'pwned'",
        "INSERT INTO tickets (organization_id, subject) VALUES (%(org)s, 'evil')",
        may_update=True,
        may_delete=True,
        may_insert=True,
    ),
]
TABLES = [case.table for case in CASES]


async def _snapshot(pool: Pool, table: str) -> Any:
    """The whole table as the owner sees it (RLS does not apply to the superuser)."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]')"
            f" FROM {table} t".encode()
        )
        row = await cursor.fetchone()
    assert row is not None
    return row[0]


async def _count(conn: Connection, query: str, params: tuple[Any, ...] = ()) -> int:
    cursor = await conn.execute(query.encode(), params)
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_tenant_cannot_see_other_tenants_rows(pool: Pool, seed: Seed, case: Case) -> None:
    query = f"SELECT count(*) FROM {case.table} WHERE {case.key} = %s"
    async with tenant_tx(pool, seed.a.org) as conn:
        assert await _count(conn, query, (case.ident(seed.b),)) == 0
        assert await _count(conn, query, (case.ident(seed.a),)) == 1
        assert await _count(conn, f"SELECT count(*) FROM {case.table}") == 1


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_tenant_cannot_update_other_tenants_rows(pool: Pool, seed: Seed, case: Case) -> None:
    before = await _snapshot(pool, case.table)
    query = f"UPDATE {case.table} SET {case.update} WHERE {case.key} = %s"
    if case.may_update:
        async with tenant_tx(pool, seed.a.org) as conn:
            cursor = await conn.execute(query.encode(), (case.ident(seed.b),))
            assert cursor.rowcount == 0
    else:
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            async with tenant_tx(pool, seed.a.org) as conn:
                await conn.execute(query.encode(), (case.ident(seed.b),))
    assert await _snapshot(pool, case.table) == before


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_tenant_cannot_delete_other_tenants_rows(pool: Pool, seed: Seed, case: Case) -> None:
    before = await _snapshot(pool, case.table)
    query = f"DELETE FROM {case.table} WHERE {case.key} = %s"
    if case.may_delete:
        async with tenant_tx(pool, seed.a.org) as conn:
            cursor = await conn.execute(query.encode(), (case.ident(seed.b),))
            assert cursor.rowcount == 0
    else:
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
            async with tenant_tx(pool, seed.a.org) as conn:
                await conn.execute(query.encode(), (case.ident(seed.b),))
    assert await _snapshot(pool, case.table) == before


@pytest.mark.parametrize("case", CASES, ids=str)
async def test_tenant_cannot_insert_into_other_tenant(pool: Pool, seed: Seed, case: Case) -> None:
    before = await _snapshot(pool, case.table)
    params = {
        "org": seed.b.org,
        "a_user": seed.a.user,
        "b_number": seed.b.number,
        "b_session": seed.b.session,
    }
    expected = "row-level security" if case.may_insert else "permission denied"
    with pytest.raises(errors.InsufficientPrivilege, match=expected):
        async with tenant_tx(pool, seed.a.org) as conn:
            await conn.execute(case.insert.encode(), params)
    assert await _snapshot(pool, case.table) == before


@pytest.mark.parametrize("table", ["customers", "tickets"])
async def test_tenant_cannot_move_its_rows_to_another_tenant(
    pool: Pool, seed: Seed, table: str
) -> None:
    row_id = seed.a.customer if table == "customers" else seed.a.ticket
    before = await _snapshot(pool, table)
    with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
        async with tenant_tx(pool, seed.a.org) as conn:
            await conn.execute(
                f"UPDATE {table} SET organization_id = %s WHERE id = %s".encode(),
                (seed.b.org, row_id),
            )
    assert await _snapshot(pool, table) == before


@pytest.mark.parametrize("table", ["agent_instances", "sip_numbers"])
async def test_tenant_cannot_reassign_owned_rows(pool: Pool, seed: Seed, table: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        async with tenant_tx(pool, seed.a.org) as conn:
            await conn.execute(f"UPDATE {table} SET organization_id = %s".encode(), (seed.b.org,))


async def test_tenant_works_on_its_own_rows(pool: Pool, seed: Seed) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        for query, row_id in [
            (
                "UPDATE sip_numbers SET label = 'front desk', active = false WHERE id = %s",
                seed.a.number,
            ),
            (
                """UPDATE agent_instances SET config = '{"greeting": "Hi"}' WHERE id = %s""",
                seed.a.agent,
            ),
            ("UPDATE customers SET name = 'Mario' WHERE id = %s", seed.a.customer),
            (
                "UPDATE tickets SET status = 'done', done_at = now() WHERE id = %s",
                seed.a.ticket,
            ),
        ]:
            cursor = await conn.execute(query.encode(), (row_id,))
            assert cursor.rowcount == 1, query
        cursor = await conn.execute(
            b"INSERT INTO customers (organization_id, phone_number) VALUES (%s, '+393331111111')"
            b" RETURNING id",
            (seed.a.org,),
        )
        row = await cursor.fetchone()
        assert row is not None
        cursor = await conn.execute(b"DELETE FROM customers WHERE id = %s", (row[0],))
        assert cursor.rowcount == 1
        cursor = await conn.execute(b"DELETE FROM tickets WHERE id = %s", (seed.a.ticket,))
        assert cursor.rowcount == 1
    async with pool.connection() as conn:
        cursor = await conn.execute(
            b"SELECT label, active FROM sip_numbers WHERE id = %s", (seed.a.number,)
        )
        assert await cursor.fetchone() == ("front desk", False)


async def test_tenant_never_reads_password_hashes_nor_nodes(pool: Pool, seed: Seed) -> None:
    for query in [
        "SELECT password_hash FROM users",
        "SELECT * FROM users",
        "SELECT * FROM nodes",
        "SELECT * FROM schema_migrations",
    ]:
        with pytest.raises(errors.InsufficientPrivilege):
            async with tenant_tx(pool, seed.a.org) as conn:
                await conn.execute(query.encode())


@pytest.mark.parametrize("table", TABLES)
async def test_no_tenant_set_sees_nothing(db: str, seed: Seed, table: str) -> None:
    # one connection: the second transaction runs where a tenant was set before, when the
    # setting reads '' rather than NULL
    single = await open_pool(db, max_size=1)
    try:
        async with tenant_tx(single, seed.a.org) as conn:
            assert await _count(conn, f"SELECT count(*) FROM {table}") == 1
        for _ in range(2):
            async with single.connection() as conn, conn.transaction():
                await conn.execute(b"SET LOCAL ROLE frontdesk_tenant")
                assert await _count(conn, f"SELECT count(*) FROM {table}") == 0
    finally:
        await single.close()


@pytest.mark.parametrize("table", TABLES)
async def test_unknown_tenant_sees_nothing(pool: Pool, seed: Seed, table: str) -> None:
    async with tenant_tx(pool, uuid.uuid4()) as conn:
        assert await _count(conn, f"SELECT count(*) FROM {table}") == 0


@pytest.mark.parametrize("table", TABLES)
async def test_operator_sees_everything(pool: Pool, seed: Seed, table: str) -> None:
    async with pool.connection() as conn:
        total = await _count(conn, f"SELECT count(*) FROM {table}")
    assert total >= 2
    async with operator_tx(pool) as conn:
        assert await _count(conn, f"SELECT count(*) FROM {table}") == total


async def test_operator_changes_any_tenant(pool: Pool, seed: Seed) -> None:
    async with operator_tx(pool, actor="cli:test") as conn:
        cursor = await conn.execute(
            b"UPDATE sip_numbers SET label = 'ops' WHERE organization_id IN (%s, %s)",
            (seed.a.org, seed.b.org),
        )
        assert cursor.rowcount == 2


async def test_transactions_leave_the_connection_clean(db: str, seed: Seed) -> None:
    single = await open_pool(db, max_size=1)
    try:
        async with tenant_tx(single, seed.a.org):
            pass
        with pytest.raises(RuntimeError):
            async with operator_tx(single) as conn:
                raise RuntimeError("boom")
        async with single.connection() as conn:
            cursor = await conn.execute(
                b"SELECT current_user, coalesce(current_setting('frontdesk.org_id', true), '')"
            )
            assert await cursor.fetchone() == ("postgres", "")
    finally:
        await single.close()


async def test_tenant_tx_rolls_back_on_error(pool: Pool, seed: Seed) -> None:
    with pytest.raises(RuntimeError):
        async with tenant_tx(pool, seed.a.org) as conn:
            await conn.execute(
                b"UPDATE customers SET name = 'lost' WHERE id = %s", (seed.a.customer,)
            )
            raise RuntimeError("boom")
    async with pool.connection() as conn:
        cursor = await conn.execute(b"SELECT name FROM customers WHERE id = %s", (seed.a.customer,))
        assert await cursor.fetchone() == ("Caller of alpha",)


async def test_tenant_id_must_be_a_uuid(pool: Pool, seed: Seed) -> None:
    with pytest.raises(TypeError):
        async with tenant_tx(pool, str(seed.a.org)):  # type: ignore[arg-type]
            pass


async def test_every_table_with_tenant_data_is_forced_and_covered(pool: Pool) -> None:
    # a new tenant table must come with RLS and with its attack cases here
    async with pool.connection() as conn:
        cursor = await conn.execute(
            b"SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            b" JOIN pg_namespace n ON n.oid = c.relnamespace"
            b" WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        tables = {
            str(name): (bool(on), bool(forced)) for name, on, forced in await cursor.fetchall()
        }
    protected = sorted(name for name, flags in tables.items() if flags == (True, True))
    # the analytics summaries (0007) are derived from sessions by triggers: their attack
    # cases live beside their queries, in test_history.py
    derived = ["session_stats_hourly", "session_stats_hourly_all"]
    # the outbox (0008): its attack cases live in test_outbox.py
    notifications = ["outbox", "outbox_attempts"]
    # the configuration audit (0011): its attack cases live in tests/web/test_onboarding.py
    audit = ["config_audit"]
    assert protected == sorted([*TABLES, *derived, *notifications, *audit])
    # the web app's own tables hold no tenant data a tenant reads (login sessions, token
    # digests, failed-login counters): no tenant grant at all, checked below
    web_only = ["api_tokens", "login_failures", "user_links", "web_sessions"]
    assert sorted(set(tables) - set(protected)) == sorted(["nodes", "schema_migrations", *web_only])
    async with pool.connection() as conn:
        for table in web_only:
            cursor = await conn.execute(
                b"SELECT has_table_privilege('frontdesk_tenant', %s, 'SELECT')", (table,)
            )
            assert await cursor.fetchone() == (False,), table
