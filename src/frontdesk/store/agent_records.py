"""What the voice agent reads and writes about a call: the caller's customer record, tickets.

Owns: the customer lookup by caller number and the ticket insert, both as the call's
organization (`tenant_tx`), so row-level security holds for the agent as for the pages.
The ticket's `ticket.created` event goes to the outbox in the ticket's own transaction.
Must not: know about SIP or the agent's framework; callers pass plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args
from uuid import UUID

from psycopg.types.json import Jsonb

from frontdesk.store import outbox
from frontdesk.store.engine import Pool
from frontdesk.store.tx import operator_tx, tenant_tx

TicketKind = Literal["order", "complaint", "message", "callback", "other"]
TICKET_KINDS: frozenset[str] = frozenset(get_args(TicketKind))
MAX_SUBJECT = 500
MAX_BODY = 20_000


@dataclass(frozen=True, slots=True)
class TicketCall:
    """The call a ticket comes from, as its `ticket.created` event tells it."""

    call_id: str
    caller: str
    called: str
    number_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Customer:
    id: UUID
    name: str
    notes: str
    data: dict[str, Any]


async def find_customer(pool: Pool, org_id: UUID, phone_e164: str) -> Customer | None:
    """The organization's customer with this phone number, if it has one."""
    async with tenant_tx(pool, org_id) as conn:
        cursor = await conn.execute(
            b"SELECT id, name, notes, data FROM customers WHERE phone_number = %s",
            (phone_e164,),
        )
        row = await cursor.fetchone()
    if row is None:
        return None
    return Customer(id=row[0], name=row[1], notes=row[2], data=dict(row[3] or {}))


async def create_ticket(
    pool: Pool,
    org_id: UUID,
    *,
    kind: str,
    subject: str,
    body: str,
    session_id: UUID | None,
    customer_id: UUID | None,
    call: TicketCall | None = None,
) -> UUID:
    """Insert one ticket for the organization; returns its id.

    An unknown kind becomes "other" and text is trimmed to the column limits, because the
    words come from a caller through a model: the ticket is worth more than a refusal.
    An empty subject is refused (ValueError), as the table would. The `ticket.created`
    event (for the channels the business configured) commits or vanishes with the ticket.
    """
    kind = kind.strip().lower()
    if kind not in TICKET_KINDS:
        kind = "other"
    subject = " ".join(subject.split())[:MAX_SUBJECT]
    if not subject:
        raise ValueError("a ticket needs a summary")
    async with tenant_tx(pool, org_id) as conn:
        cursor = await conn.execute(
            b"INSERT INTO tickets (organization_id, session_id, customer_id, kind, subject,"
            b" body) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (org_id, session_id, customer_id, kind, subject, body[:MAX_BODY]),
        )
        row = await cursor.fetchone()
        assert row is not None
        ticket_id: UUID = row[0]
        event = {
            "call": {
                "session_id": None if session_id is None else str(session_id),
                "call_id": call.call_id if call else None,
                "caller": call.caller if call else None,
                "called": call.called if call else None,
            },
            "ticket": {
                "id": str(ticket_id),
                "kind": kind,
                "subject": subject,
                "details": body[:MAX_BODY],
                "status": "open",
            },
        }
        number_id = call.number_id if call else None
        await outbox.enqueue(conn, "ticket.created", org_id, number_id, event)
    return ticket_id


async def store_transcript(pool: Pool, session_id: UUID, transcript: list[dict[str, Any]]) -> None:
    """Put a call's transcript on its session row (the LiveKit front, at session close)."""
    async with operator_tx(pool) as conn:
        await conn.execute(
            b"UPDATE sessions SET transcript = %s WHERE id = %s", (Jsonb(transcript), session_id)
        )
