"""The configuration audit (`config_audit`): who changed which fields, when, before and after.

Owns: `record_change`, which the writers of settings (store/orgs.py, store/numbers.py, the
onboarding of users) call inside the transaction of the change (so the change and its row
commit or roll back together), keeping only the fields that changed and masking write-only
values (`WRITE_ONLY`, a webhook secret: "(changed)"); and `org_changes`, an organization's
rows, newest first, as the transaction may see them (RLS: a tenant sees its own).

The actor is the caller's word when given, else the transaction's `frontdesk.actor`
(set by `operator_tx` and `tenant_tx`), else "unknown".

Must not: open a transaction of its own, or write a row when nothing changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from psycopg.types.json import Jsonb

from frontdesk.store.engine import Connection
from frontdesk.tenancy.config import WRITE_ONLY

Entity = Literal["organization", "agent", "number", "user"]
MASK: Final = "(changed)"


@dataclass(frozen=True)
class ConfigChange:
    """One audit row."""

    entity: str
    entity_key: str
    fields: tuple[str, ...]
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    actor: str
    changed_at: datetime


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The keys whose value differs (a key present on one side only counts), sorted."""
    return sorted(key for key in {*before, *after} if before.get(key) != after.get(key))


def _shown(key: str, value: Any) -> Any:
    secret = key.rpartition(".")[2] in WRITE_ONLY  # "override.webhook_secret" too
    return MASK if secret and value is not None else value


async def record_change(
    conn: Connection,
    org_id: UUID,
    entity: Entity,
    entity_key: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    actor: str | None = None,
) -> list[str]:
    """Audit the fields that differ between `before` and `after` (JSON values); which."""
    fields = changed_fields(before, after)
    if not fields:
        return []
    await conn.execute(
        b"INSERT INTO config_audit (organization_id, entity, entity_key, fields, before,"
        b" after, actor) VALUES (%s, %s, %s, %s, %s, %s,"
        b" left(coalesce(%s, nullif(current_setting('frontdesk.actor', true), ''),"
        b" 'unknown'), 330))",
        (
            org_id,
            entity,
            entity_key[:320],
            fields,
            Jsonb({k: _shown(k, before.get(k)) for k in fields if k in before}),
            Jsonb({k: _shown(k, after.get(k)) for k in fields if k in after}),
            actor,
        ),
    )
    return fields


async def org_changes(conn: Connection, org_id: UUID, limit: int = 100) -> list[ConfigChange]:
    """The latest `limit` changes of organization `org_id`, newest first."""
    cursor = await conn.execute(
        b"SELECT entity, entity_key, fields, before, after, actor, changed_at"
        b" FROM config_audit WHERE organization_id = %s"
        b" ORDER BY changed_at DESC, id LIMIT %s",
        (org_id, limit),
    )
    return [
        ConfigChange(row[0], row[1], tuple(row[2]), row[3], row[4], row[5], row[6])
        for row in await cursor.fetchall()
    ]
