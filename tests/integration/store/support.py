"""Helpers for the store tests: the session server handle, and seeding two tenants."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import Connection

TEMPLATE = "frontdesk_template"
TEST_SERVER_OPTIONS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion in a private loop on another thread.

    Session fixtures are synchronous; a thread keeps their event loop apart from the
    per-test loops pytest-asyncio manages.
    """
    result: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


def scratch_dir() -> str | None:
    """tmpfs when there is one: CREATE DATABASE copies files, ~15 ms there, ~300 ms on disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


@dataclass
class PgServer:
    """The session's server and what its start cost."""

    server: EmbeddedPostgres
    start_seconds: float

    def conninfo(self, dbname: str = "postgres") -> str:
        return self.server.conninfo(dbname)

    def create_database(self, name: str, template: str = "template0") -> str:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self.conninfo(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class Tenant:
    """The ids of one seeded organization's rows, one per tenant table."""

    org: uuid.UUID
    user: uuid.UUID
    agent: uuid.UUID
    number: uuid.UUID
    phone: str
    session: uuid.UUID
    call: uuid.UUID
    customer: uuid.UUID
    ticket: uuid.UUID
    assignment: uuid.UUID


@dataclass(frozen=True)
class Seed:
    a: Tenant
    b: Tenant
    operator_user: uuid.UUID


async def one(conn: Connection, query: bytes, params: tuple[Any, ...]) -> uuid.UUID:
    cursor = await conn.execute(query, params)
    row = await cursor.fetchone()
    assert row is not None
    value = row[0]
    assert isinstance(value, uuid.UUID)
    return value


async def seed_tenant(conn: Connection, slug: str, phone: str, node: str) -> Tenant:
    """An organization with a row in every tenant table (run as the owner)."""
    org = await one(
        conn,
        b"INSERT INTO organizations (slug, name) VALUES (%s, %s) RETURNING id",
        (slug, f"Org {slug}"),
    )
    user = await one(
        conn,
        b"INSERT INTO users (email, password_hash) VALUES (%s, 'x') RETURNING id",
        (f"owner@{slug}.example",),
    )
    await conn.execute(
        b"INSERT INTO memberships (user_id, organization_id, role) VALUES (%s, %s, 'owner')",
        (user, org),
    )
    agent = await one(
        conn,
        b"INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s) RETURNING id",
        (org, Jsonb({"greeting": f"Hello from {slug}"})),
    )
    number = await one(
        conn,
        b"INSERT INTO sip_numbers (phone_number, organization_id, label, assigned_by)"
        b" VALUES (%s, %s, 'main', 'test') RETURNING id",
        (phone, org),
    )
    session = await one(
        conn,
        b"INSERT INTO sessions (organization_id, sip_number_id, call_id_sip, caller_number,"
        b" called_number, node_id) VALUES (%s, %s, %s, '+393330000000', %s, %s) RETURNING id",
        (org, number, f"call-{slug}@pbx", phone, node),
    )
    call = await one(
        conn,
        b"INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,"
        b" call_id_sip) VALUES (%s, %s, %s, %s, %s) RETURNING id",
        (session, org, number, node, f"call-{slug}@pbx"),
    )
    customer = await one(
        conn,
        b"INSERT INTO customers (organization_id, phone_number, name) VALUES (%s, %s, %s)"
        b" RETURNING id",
        (org, "+393330000000", f"Caller of {slug}"),
    )
    ticket = await one(
        conn,
        b"INSERT INTO tickets (organization_id, session_id, customer_id, subject)"
        b" VALUES (%s, %s, %s, 'Call me back') RETURNING id",
        (org, session, customer),
    )
    assignment = await one(
        conn, b"SELECT id FROM number_assignments WHERE sip_number_id = %s", (number,)
    )
    return Tenant(org, user, agent, number, phone, session, call, customer, ticket, assignment)
