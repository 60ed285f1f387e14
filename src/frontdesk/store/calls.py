"""Read views of calls for operators: what is live now, and the recent history.

Owns: two queries (over `active_calls` and `sessions`), as the operator (every tenant).
Tenant-scoped views come with the dashboards and go through `tenant_tx`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from frontdesk.store.engine import Connection


@dataclass(frozen=True, slots=True)
class LiveCall:
    call_id: str
    org_slug: str
    number: str
    node_id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class PastCall:
    started_at: datetime
    org_slug: str | None
    called: str
    caller: str
    outcome: str
    reason: str | None
    reject_status: int | None
    duration: timedelta | None
    node_id: str


async def live_calls(conn: Connection) -> list[LiveCall]:
    cursor = await conn.execute(
        b"SELECT a.call_id_sip, o.slug, n.phone_number, a.node_id, a.started_at"
        b" FROM active_calls a JOIN organizations o ON o.id = a.organization_id"
        b" JOIN sip_numbers n ON n.id = a.sip_number_id ORDER BY a.started_at"
    )
    return [LiveCall(*row) for row in await cursor.fetchall()]


async def recent_calls(conn: Connection, limit: int = 20) -> list[PastCall]:
    cursor = await conn.execute(
        b"SELECT s.started_at, o.slug, s.called_number, s.caller_number, s.outcome, s.reason,"
        b" s.reject_status, s.duration, s.node_id FROM sessions s"
        b" LEFT JOIN organizations o ON o.id = s.organization_id"
        b" ORDER BY s.started_at DESC LIMIT %s",
        (limit,),
    )
    return [PastCall(*row) for row in await cursor.fetchall()]
