"""Migrations: from empty, twice, recorded; forward-only; each file in its own transaction."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from frontdesk.errors import MigrationError
from frontdesk.store.migrate import Migration, available_migrations, migrate

pytestmark = pytest.mark.integration


def _versions(conninfo: str) -> list[tuple[int, str]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
    return [(int(v), str(n)) for v, n in rows]


def _tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_shipped_migrations_are_numbered_from_one() -> None:
    found = available_migrations()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    assert found[0].name == "initial"
    assert found[1].name == "row_level_security"


async def test_from_empty_twice_is_idempotent(empty_db: str) -> None:
    assert _tables(empty_db) == set()
    first = await migrate(empty_db)
    shipped = available_migrations()
    assert [m.version for m in first] == [m.version for m in shipped]
    assert _versions(empty_db) == [(m.version, m.name) for m in shipped]
    tables = _tables(empty_db)
    assert {
        "organizations",
        "agent_instances",
        "sip_numbers",
        "active_calls",
        "nodes",
        "sessions",
        "tickets",
        "customers",
        "users",
        "memberships",
        "number_assignments",
        "schema_migrations",
    } <= tables

    second = await migrate(empty_db)
    assert second == []
    assert _versions(empty_db) == [(m.version, m.name) for m in shipped]
    assert _tables(empty_db) == tables


async def test_a_new_migration_is_applied_on_top(empty_db: str) -> None:
    shipped = available_migrations()
    await migrate(empty_db)
    extra = Migration(len(shipped) + 1, "extra", "CREATE TABLE extra (id int PRIMARY KEY);")
    applied = await migrate(empty_db, [*shipped, extra])
    assert applied == [extra]
    assert "extra" in _tables(empty_db)
    assert _versions(empty_db)[-1] == (extra.version, "extra")


async def test_a_failing_migration_leaves_nothing_behind(empty_db: str) -> None:
    shipped = available_migrations()
    await migrate(empty_db)
    broken = Migration(
        len(shipped) + 1,
        "broken",
        "CREATE TABLE half_done (id int); SELECT no_such_function();",
    )
    with pytest.raises(MigrationError, match=r"broken\.sql failed and was rolled back"):
        await migrate(empty_db, [*shipped, broken])
    assert "half_done" not in _tables(empty_db)
    assert len(_versions(empty_db)) == len(shipped)


async def test_an_edited_migration_is_refused(empty_db: str) -> None:
    shipped = available_migrations()
    await migrate(empty_db)
    edited = Migration(shipped[0].version, shipped[0].name, shipped[0].sql + "\n-- edited\n")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await migrate(empty_db, [edited, *shipped[1:]])


async def test_a_database_newer_than_the_code_is_refused(empty_db: str) -> None:
    shipped = available_migrations()
    await migrate(empty_db)
    with pytest.raises(MigrationError, match="forward-only"):
        await migrate(empty_db, shipped[:-1])


async def test_unreachable_database_is_a_migration_error() -> None:
    with pytest.raises(MigrationError, match="cannot connect"):
        await migrate("host=/nonexistent-socket-dir dbname=x connect_timeout=1")


async def test_concurrent_migrations_take_turns(empty_db: str) -> None:
    results = await asyncio.gather(*(migrate(empty_db) for _ in range(4)))
    shipped = available_migrations()
    assert sorted(len(applied) for applied in results) == [0, 0, 0, len(shipped)]
    assert _versions(empty_db) == [(m.version, m.name) for m in shipped]
