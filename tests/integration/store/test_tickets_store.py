"""The tickets migration and frontdesk.store.tickets on the real PostgreSQL: closed tickets
become done, a ticket takes its call's numbers, the assignee is a member of the ticket's
organization whoever writes, and the tenants' search function sees only the transaction's
organization (none without one, for operators too: they search directly).
"""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors
from tests.integration.store.support import Seed, one, seed_tenant

from frontdesk.store import tickets as store
from frontdesk.store.engine import Pool
from frontdesk.store.history import InvalidFilter
from frontdesk.store.migrate import available_migrations, migrate
from frontdesk.store.tx import operator_tx, tenant_tx

pytestmark = pytest.mark.integration


async def test_closed_tickets_become_done(empty_db: str) -> None:
    shipped = available_migrations()
    cut = next(i for i, m in enumerate(shipped) if m.name == "tickets")
    await migrate(empty_db, shipped[:cut])
    async with await psycopg.AsyncConnection.connect(empty_db, autocommit=True) as conn:
        await conn.execute(b"INSERT INTO nodes (id, max_calls) VALUES ('n', 1)")
        tenant = await seed_tenant(conn, "alpha", "+390551234567", "n")
        await conn.execute(
            b"UPDATE tickets SET status = 'closed', closed_at = now() WHERE id = %s",
            (tenant.ticket,),
        )
    await migrate(empty_db)
    async with await psycopg.AsyncConnection.connect(empty_db, autocommit=True) as conn:
        row = await (
            await conn.execute(
                b"SELECT status, done_at IS NOT NULL, caller_number, called_number,"
                b" sip_number_id FROM tickets WHERE id = %s",
                (tenant.ticket,),
            )
        ).fetchone()
    # existing tickets also got their call's numbers
    assert row == ("done", True, "+393330000000", "+390551234567", tenant.number)


async def test_a_ticket_takes_its_calls_numbers(pool: Pool, seed: Seed) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        ticket = await one(
            conn,
            b"INSERT INTO tickets (organization_id, session_id, subject)"
            b" VALUES (%s, %s, 'Two pizzas') RETURNING id",
            (seed.a.org, seed.a.session),
        )
        detail = await store.get_ticket(conn, None, ticket)
    assert detail is not None
    assert detail.row.caller == "+393330000000" and detail.row.called == seed.a.phone
    assert detail.row.number_label == "main" and detail.row.status == "open"


async def test_the_assignee_is_a_member_of_the_tickets_organization(pool: Pool, seed: Seed) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        assert await store.change_ticket(
            conn, None, seed.a.ticket, store.TicketChange(assignee_id=seed.a.user)
        )
        with pytest.raises(store.FieldErrors) as refused:
            await store.change_ticket(
                conn, None, seed.a.ticket, store.TicketChange(assignee_id=seed.b.user)
            )
        assert "assignee" in refused.value.errors
        # another organization's ticket is not found
        assert not await store.change_ticket(
            conn, None, seed.b.ticket, store.TicketChange(status="done")
        )
    # the foreign key holds even for the operator writing SQL directly
    with pytest.raises(errors.ForeignKeyViolation):
        async with operator_tx(pool) as conn:
            await conn.execute(
                b"UPDATE tickets SET assignee_id = %s WHERE id = %s",
                (seed.b.user, seed.a.ticket),
            )
    # a membership that ends unassigns its tickets
    async with operator_tx(pool) as conn:
        await conn.execute(
            b"DELETE FROM memberships WHERE user_id = %s AND organization_id = %s",
            (seed.a.user, seed.a.org),
        )
        row = await (
            await conn.execute(b"SELECT assignee_id FROM tickets WHERE id = %s", (seed.a.ticket,))
        ).fetchone()
    assert row == (None,)


async def test_search_function_sees_only_the_transactions_organization(
    pool: Pool, seed: Seed
) -> None:
    call = b"SELECT frontdesk_search_tickets('%%call me%%', NULL, NULL, NULL, NULL, NULL, NULL,"
    call += b" NULL, NULL, 50)"
    async with tenant_tx(pool, seed.a.org) as conn:
        found = [r[0] for r in await (await conn.execute(call)).fetchall()]
    assert found == [seed.a.ticket]  # B's ticket says the same words
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(b"SET LOCAL ROLE frontdesk_tenant")  # no organization set
        assert await (await conn.execute(call)).fetchall() == []
    async with operator_tx(pool) as conn:  # its owner: no organization, no rows
        assert await (await conn.execute(call)).fetchall() == []


async def test_search_pages_under_rls(pool: Pool, seed: Seed) -> None:
    """A page filled from the newest tickets, and one that needs the whole search."""
    async with tenant_tx(pool, seed.a.org) as conn:
        for i in range(5):
            await conn.execute(
                b"INSERT INTO tickets (organization_id, subject, body, created_at)"
                b" VALUES (%s, %s, 'pizza', now() - make_interval(mins => %s))",
                (seed.a.org, f"Order {i}", i),
            )
        flt = store.ticket_filter(search="PIZZ")
        first = await store.list_tickets(conn, seed.a.org, flt, limit=2)
        assert [r.summary for r in first.rows] == ["Order 0", "Order 1"]
        rest = await store.list_tickets(conn, seed.a.org, flt, limit=2, cursor=first.next_cursor)
        last = await store.list_tickets(conn, seed.a.org, flt, limit=2, cursor=rest.next_cursor)
        assert [r.summary for r in rest.rows + last.rows] == ["Order 2", "Order 3", "Order 4"]
        assert last.next_cursor is None
        none = await store.list_tickets(conn, seed.a.org, store.ticket_filter(search="zzz"))
        assert none.rows == []
    async with operator_tx(pool) as conn:
        every = await store.list_tickets(conn, None, store.ticket_filter(search="call me"))
    assert {r.ticket_id for r in every.rows} == {seed.a.ticket, seed.b.ticket}


def test_filters_are_checked_before_any_sql() -> None:
    for kwargs, name in [
        ({"status": "closed"}, "status"),
        ({"kind": "pizza"}, "kind"),
        ({"caller": "12a"}, "caller"),
        ({"search": "ab"}, "q"),
        ({"search": "x" * 201}, "q"),
    ]:
        with pytest.raises(InvalidFilter) as bad:
            store.ticket_filter(**kwargs)  # type: ignore[arg-type]
        assert bad.value.field == name
    assert store.ticket_filter(search="  two   pizzas ").search == "two pizzas"
    assert uuid.UUID(int=0) == store.ticket_filter(number_id=uuid.UUID(int=0)).number_id
