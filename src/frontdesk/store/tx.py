"""Transactions as a tenant or as the operator: the only way code reads or writes tenant data.

Owns: borrowing a pool connection, opening one transaction, and inside it `SET LOCAL ROLE`
to `frontdesk_tenant` (with `frontdesk.org_id` set by `set_config(…, true)`) or to
`frontdesk_operator`. Both settings end with the transaction, so a connection goes back to
the pool as the plain login role with no tenant set, whatever happened inside.

Must not: filter rows itself. Row-level security (migration 0002) decides what a tenant sees;
this module only says who is asking.

Threat model: these roles protect against our own code forgetting a tenant filter. A caller
able to run arbitrary SQL as `frontdesk_tenant` could call set_config itself; SQL text is
never built from user input here (parameters only).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final
from uuid import UUID

from frontdesk.store.engine import Connection, Pool

TENANT_ROLE: Final = "frontdesk_tenant"
OPERATOR_ROLE: Final = "frontdesk_operator"


@asynccontextmanager
async def tenant_tx(
    pool: Pool, org_id: UUID, actor: str | None = None
) -> AsyncIterator[Connection]:
    """One transaction as organization `org_id`: RLS shows and accepts its rows only.

    Commits when the block ends normally, rolls back when it raises. `actor` names who
    acts, for the configuration audit (a tenant's edits of its numbers).
    """
    if not isinstance(org_id, UUID):
        raise TypeError(f"org_id must be a UUID, not {type(org_id).__name__}")
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(b"SET LOCAL ROLE frontdesk_tenant")
        await conn.execute(b"SELECT set_config('frontdesk.org_id', %s, true)", (str(org_id),))
        if actor is not None:
            await conn.execute(b"SELECT set_config('frontdesk.actor', %s, true)", (actor,))
        yield conn


@asynccontextmanager
async def operator_tx(
    pool: Pool, actor: str | None = None, wait_s: float | None = None
) -> AsyncIterator[Connection]:
    """One transaction as the operator: every organization's rows.

    `actor` ("cli:root", "user:ops@example.com") is recorded by the audit triggers for the
    changes that carry no actor column of their own (a number's removal).
    """
    async with pool.connection(timeout=wait_s) as conn, conn.transaction():
        await conn.execute(b"SET LOCAL ROLE frontdesk_operator")
        if actor is not None:
            await conn.execute(b"SELECT set_config('frontdesk.actor', %s, true)", (actor,))
        yield conn
