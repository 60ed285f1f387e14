"""The outbox: events written with what they announce, claimed and sent by any node.

Owns: the SQL of the `outbox` and `outbox_attempts` tables (migration 0008): `enqueue`
(inside the caller's transaction: the ticket's, or the summary's; one row per configured
channel, none when the business configured none), `claim_due` (FOR UPDATE SKIP LOCKED, in
the dispatcher's transaction, which holds the claim while it sends), `record_attempt`
(delivered, or the next attempt after a backoff, or `failed` once the retry window is
spent: decided in SQL against the database's clock), the webhook secret of a row at send
time, and the operator's list of failed deliveries and their retry.

Must not: send anything (frontdesk.notify does), or choose backoff delays (notify.policy).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from frontdesk.store.engine import Connection
from frontdesk.tenancy.config import TenantConfig, merge

Event = Literal["ticket.created", "call.ended", "test"]
Channel = Literal["email", "webhook"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One claimed outbox row: what to send, where, and how many times it was tried."""

    id: UUID
    organization_id: UUID
    sip_number_id: UUID | None
    event: str
    channel: str
    target: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FailedDelivery:
    id: UUID
    organization: str
    event: str
    channel: str
    target: str
    attempts: int
    created_at: datetime
    last_error: str


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an organization's (or number's) events go, from its merged config."""

    org_slug: str
    org_name: str
    phone_number: str | None
    label: str | None
    config: TenantConfig

    def targets(self) -> list[tuple[Channel, str]]:
        found: list[tuple[Channel, str]] = []
        if self.config.notify_email:
            found.append(("email", ", ".join(self.config.notify_email)))
        if self.config.webhook_url:
            found.append(("webhook", self.config.webhook_url))
        return found


async def destination(conn: Connection, org_id: UUID, number_id: UUID | None) -> Destination:
    """The organization's name and merged config (the number's override on top)."""
    cursor = await conn.execute(
        b"SELECT o.slug, o.name, coalesce(a.config, '{}') FROM organizations o"
        b" LEFT JOIN agent_instances a ON a.organization_id = o.id WHERE o.id = %s",
        (org_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        raise LookupError("no such organization")
    config = TenantConfig.model_validate(dict(row[2]))
    phone = label = None
    if number_id is not None:
        cursor = await conn.execute(
            b"SELECT phone_number, label, config_override FROM sip_numbers"
            b" WHERE id = %s AND organization_id = %s",
            (number_id, org_id),
        )
        number = await cursor.fetchone()
        if number is not None:
            phone, label = number[0], number[1]
            config = merge(config, dict(number[2] or {}))
    return Destination(row[0], row[1], phone, label, config)


async def enqueue(
    conn: Connection,
    event: Event,
    org_id: UUID,
    number_id: UUID | None,
    data: Mapping[str, Any],
    *,
    only: Channel | None = None,
    where: Destination | None = None,
) -> list[UUID]:
    """Write the event for each channel the business configured; return the delivery ids.

    Runs in the caller's transaction, as the tenant or the operator: the rows commit or
    vanish with what they announce. `data` is the event's own part of the payload (call,
    ticket, summary); the organization, the number and the time are added here. `where`:
    the destination when the caller has just read it (else it is read here).
    """
    if where is None:
        where = await destination(conn, org_id, number_id)
    targets = [t for t in where.targets() if only is None or t[0] == only]
    if not targets:
        return []
    payload = {
        "event": event,
        "organization": {"id": str(org_id), "slug": where.org_slug, "name": where.org_name},
        "number": (
            {"id": str(number_id), "phone_number": where.phone_number, "label": where.label}
            if where.phone_number is not None
            else None
        ),
        **data,
    }
    cursor = await conn.execute(
        b"INSERT INTO outbox (organization_id, sip_number_id, event, channel, target, payload)"
        b" SELECT %s, %s, %s, t.channel, t.target,"
        b"  %s::jsonb || jsonb_build_object('occurred_at', now())"
        b" FROM unnest(%s::text[], %s::text[]) AS t (channel, target) RETURNING id",
        (
            org_id,
            number_id,
            event,
            Jsonb(payload),
            [channel for channel, _ in targets],
            [target for _, target in targets],
        ),
    )
    return [row[0] for row in await cursor.fetchall()]


_CLAIM = b"""
SELECT id, organization_id, sip_number_id, event, channel, target, payload, attempts,
       created_at
FROM outbox
WHERE status = 'pending' AND next_attempt_at <= now()
ORDER BY next_attempt_at
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


async def claim_due(conn: Connection, limit: int) -> list[Delivery]:
    """Lock up to `limit` due rows no other dispatcher holds (in the caller's transaction)."""
    cursor = await conn.execute(_CLAIM, (limit,))
    return [Delivery(*row) for row in await cursor.fetchall()]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery: Delivery
    ok: bool
    detail: str
    duration_ms: float
    retry_in_s: float  # the wait before the next attempt when this one failed


_ATTEMPTS = b"""
INSERT INTO outbox_attempts (outbox_id, organization_id, node_id, ok, detail, duration_ms)
SELECT a.id, a.org, %s, a.ok, a.detail, a.ms
FROM unnest(%s::uuid[], %s::uuid[], %s::boolean[], %s::text[], %s::float8[])
    AS a (id, org, ok, detail, ms)
"""
_DELIVERED = b"""
UPDATE outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = now(),
    last_error = NULL
WHERE id = ANY(%s::uuid[])
"""
# failed: wait, unless the next attempt would fall outside the retry window
_RETRY = b"""
UPDATE outbox o SET attempts = o.attempts + 1, last_error = r.detail,
    next_attempt_at = now() + make_interval(secs => r.delay),
    status = CASE WHEN now() + make_interval(secs => r.delay)
                  > o.window_started_at + make_interval(secs => %s)
                  THEN 'failed' ELSE 'pending' END
FROM unnest(%s::uuid[], %s::text[], %s::float8[]) AS r (id, detail, delay)
WHERE o.id = r.id
"""


async def record_attempts(
    conn: Connection, results: Sequence[AttemptResult], node_id: str, window_s: float
) -> None:
    """Store each attempt and its row's next state (in the claiming transaction): three
    statements per batch, whatever its size."""
    await conn.execute(
        _ATTEMPTS,
        (
            node_id,
            [r.delivery.id for r in results],
            [r.delivery.organization_id for r in results],
            [r.ok for r in results],
            [r.detail[:2000] for r in results],
            [r.duration_ms for r in results],
        ),
    )
    delivered = [r.delivery.id for r in results if r.ok]
    if delivered:
        await conn.execute(_DELIVERED, (delivered,))
    failed = [r for r in results if not r.ok]
    if failed:
        await conn.execute(
            _RETRY,
            (
                window_s,
                [r.delivery.id for r in failed],
                [r.detail[:2000] for r in failed],
                [r.retry_in_s for r in failed],
            ),
        )


async def webhook_secret(conn: Connection, org_id: UUID, number_id: UUID | None) -> str | None:
    """The secret that signs a webhook now (the number's, else the organization's)."""
    secret = (await destination(conn, org_id, number_id)).config.webhook_secret
    return None if secret is None else secret.get_secret_value()


async def list_failed(conn: Connection, limit: int = 100) -> list[FailedDelivery]:
    """Failed deliveries, newest first (the operator's list in /admin)."""
    cursor = await conn.execute(
        b"SELECT x.id, o.slug, x.event, x.channel, x.target, x.attempts, x.created_at,"
        b" coalesce(x.last_error, '') FROM outbox x JOIN organizations o"
        b" ON o.id = x.organization_id WHERE x.status = 'failed'"
        b" ORDER BY x.created_at DESC LIMIT %s",
        (limit,),
    )
    return [FailedDelivery(*row) for row in await cursor.fetchall()]


async def retry(conn: Connection, delivery_id: UUID) -> bool:
    """Send a failed delivery again now, with a fresh retry window; False if not failed."""
    cursor = await conn.execute(
        b"UPDATE outbox SET status = 'pending', next_attempt_at = now(),"
        b" window_started_at = now()"
        b" WHERE id = %s AND status = 'failed' RETURNING id",
        (delivery_id,),
    )
    return await cursor.fetchone() is not None


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    id: UUID
    event: str
    channel: str
    status: str
    attempts: int
    created_at: datetime
    last_error: str


async def recent(conn: Connection, limit: int = 20) -> list[DeliveryStatus]:
    """The latest deliveries visible in this transaction (a tenant's: its own)."""
    cursor = await conn.execute(
        b"SELECT id, event, channel, status, attempts, created_at, coalesce(last_error, '')"
        b" FROM outbox ORDER BY created_at DESC LIMIT %s",
        (limit,),
    )
    return [DeliveryStatus(*row) for row in await cursor.fetchall()]


async def get_status(conn: Connection, delivery_id: UUID) -> DeliveryStatus | None:
    cursor = await conn.execute(
        b"SELECT id, event, channel, status, attempts, created_at, coalesce(last_error, '')"
        b" FROM outbox WHERE id = %s",
        (delivery_id,),
    )
    row = await cursor.fetchone()
    return None if row is None else DeliveryStatus(*row)
