"""Organizations and their agent configuration (`agent_instances`), as the operator manages them.

Owns: creating, listing, reading and changing `organizations` rows, and the org-level
`TenantConfig` stored as JSON in `agent_instances` (validated on write, merged onto what is
stored, `version` bumped so caches can compare).

Every change is audited (store/config_audit.py) in the same transaction: an organization's
columns as entity "organization", its agent config as "agent", the fields that changed with
their values before and after; the actor is the transaction's (`operator_tx(actor=…)`).

Must not: open transactions as someone (callers pass a connection from
`frontdesk.store.tx.operator_tx`), print, or exit. Every write runs in its own nested
transaction (a savepoint inside the caller's), so a refused write leaves nothing behind and
the caller's transaction usable. Database refusals are mapped to `Conflict` / `NotFound`
here, with messages that say what was refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from frontdesk.errors import Conflict, NotFound, StoreError
from frontdesk.store.config_audit import record_change
from frontdesk.store.engine import Connection
from frontdesk.tenancy.config import TenantConfig, validate_override


class Unchanged(Enum):
    """The type of `UNCHANGED`: a keyword left as it is (None already means "no limit")."""

    token = 0


#: default of the keywords of `update_org`: leave this column as it is
UNCHANGED: Final = Unchanged.token


@dataclass(frozen=True)
class Org:
    """One `organizations` row."""

    id: UUID
    slug: str
    name: str
    active: bool
    #: None: no organization-wide limit
    max_concurrent_calls: int | None
    created_at: datetime

    def audited(self) -> dict[str, Any]:
        """The columns a person changes, as the audit stores them."""
        return {
            "name": self.name,
            "active": self.active,
            "max_concurrent_calls": self.max_concurrent_calls,
        }


_COLUMNS = b"id, slug, name, active, max_concurrent_calls, created_at"

_CHECKS = {
    "organizations_slug_check": (
        "organization slug {slug!r} is not valid: use lower-case letters, digits and dashes, "
        "starting with a letter or digit, at most 63 characters"
    ),
    "organizations_name_check": "organization name must be 1 to 200 characters",
    "organizations_max_concurrent_calls_check": "max concurrent calls must be at least 1",
}


def _org(row: tuple[Any, ...] | None) -> Org:
    assert row is not None
    return Org(
        id=row[0],
        slug=row[1],
        name=row[2],
        active=row[3],
        max_concurrent_calls=row[4],
        created_at=row[5],
    )


def _refused(exc: psycopg.errors.CheckViolation, slug: str) -> Conflict:
    template = _CHECKS.get(exc.diag.constraint_name or "")
    if template is None:
        return Conflict(f"organization {slug!r} refused: {exc.diag.message_primary}")
    return Conflict(template.format(slug=slug))


def default_config() -> dict[str, Any]:
    """The config a new organization starts with, as stored (JSON)."""
    return TenantConfig().model_dump(mode="json")


async def create_org(
    conn: Connection, slug: str, name: str, max_concurrent_calls: int | None = None
) -> Org:
    """Add an organization and its agent (the default `TenantConfig`)."""
    try:
        async with conn.transaction():
            cursor = await conn.execute(
                b"INSERT INTO organizations (slug, name, max_concurrent_calls)"
                b" VALUES (%s, %s, %s) RETURNING " + _COLUMNS,
                (slug, name.strip(), max_concurrent_calls),
            )
            org = _org(await cursor.fetchone())
            await conn.execute(
                b"INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
                (org.id, Jsonb(default_config())),
            )
            await record_change(
                conn, org.id, "organization", slug, {}, {"slug": slug, **org.audited()}
            )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"organization {slug!r} already exists") from exc
    except psycopg.errors.CheckViolation as exc:
        raise _refused(exc, slug) from exc
    return org


async def list_orgs(conn: Connection) -> list[Org]:
    """Every organization, by slug."""
    cursor = await conn.execute(b"SELECT " + _COLUMNS + b" FROM organizations ORDER BY slug")
    return [_org(row) for row in await cursor.fetchall()]


async def get_org(conn: Connection, slug: str) -> Org:
    """The organization `slug`; `NotFound` if there is none."""
    cursor = await conn.execute(
        b"SELECT " + _COLUMNS + b" FROM organizations WHERE slug = %s", (slug,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no organization {slug!r}")
    return _org(row)


async def update_org(
    conn: Connection,
    slug: str,
    *,
    name: str | Unchanged = UNCHANGED,
    max_concurrent_calls: int | Unchanged | None = UNCHANGED,
    active: bool | Unchanged = UNCHANGED,
) -> Org:
    """Change the given columns of organization `slug`; the others stay as they are.

    `max_concurrent_calls=None` removes the limit; `active=False` suspends the organization
    (its numbers answer 480 to new calls; live calls are left alone).
    """
    params = {
        "slug": slug,
        "set_name": not isinstance(name, Unchanged),
        "name": None if isinstance(name, Unchanged) else name.strip(),
        "set_max": not isinstance(max_concurrent_calls, Unchanged),
        "max": None if isinstance(max_concurrent_calls, Unchanged) else max_concurrent_calls,
        "set_active": not isinstance(active, Unchanged),
        "active": None if isinstance(active, Unchanged) else active,
    }
    try:
        async with conn.transaction():
            before = await _locked(conn, slug)
            cursor = await conn.execute(
                b"UPDATE organizations SET"
                b" name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,"
                b" max_concurrent_calls = CASE WHEN %(set_max)s THEN %(max)s::integer"
                b"  ELSE max_concurrent_calls END,"
                b" active = CASE WHEN %(set_active)s THEN %(active)s::boolean ELSE active END"
                b" WHERE slug = %(slug)s RETURNING " + _COLUMNS,
                params,
            )
            after = _org(await cursor.fetchone())
            await record_change(
                conn, after.id, "organization", slug, before.audited(), after.audited()
            )
    except psycopg.errors.CheckViolation as exc:
        raise _refused(exc, slug) from exc
    return after


async def _locked(conn: Connection, slug: str) -> Org:
    cursor = await conn.execute(
        b"SELECT " + _COLUMNS + b" FROM organizations WHERE slug = %s FOR UPDATE", (slug,)
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no organization {slug!r}")
    return _org(row)


def _stored_config(slug: str, stored: Mapping[str, Any]) -> TenantConfig:
    try:
        return TenantConfig.model_validate(dict(stored))
    except ValidationError as exc:
        raise StoreError(f"the stored config of organization {slug!r} is invalid: {exc}") from exc


async def get_org_config(conn: Connection, slug: str) -> TenantConfig:
    """The `TenantConfig` of organization `slug` (defaults for keys it does not store)."""
    org = await get_org(conn, slug)
    cursor = await conn.execute(
        b"SELECT config FROM agent_instances WHERE organization_id = %s", (org.id,)
    )
    row = await cursor.fetchone()
    return _stored_config(slug, row[0] if row is not None else {})


async def set_org_config(conn: Connection, slug: str, changes: Mapping[str, Any]) -> TenantConfig:
    """Merge `changes` onto the stored config of organization `slug`; return the result.

    Unknown keys and bad values are refused (`ConfigOverrideError` naming the key) before
    anything is written. Each change bumps `agent_instances.version` and is audited.
    """
    checked = validate_override(changes)
    org = await get_org(conn, slug)
    async with conn.transaction():
        cursor = await conn.execute(
            b"SELECT id, config FROM agent_instances WHERE organization_id = %s FOR UPDATE",
            (org.id,),
        )
        row = await cursor.fetchone()
        stored: dict[str, Any] = dict(row[1]) if row is not None else {}
        merged = _stored_config(slug, {**stored, **checked})
        if row is not None and not checked:
            return merged
        after = merged.model_dump(mode="json")
        document = Jsonb(after)
        before = _stored_config(slug, stored).model_dump(mode="json")
        await record_change(conn, org.id, "agent", slug, before, after)
        if row is None:
            await conn.execute(
                b"INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
                (org.id, document),
            )
        else:
            await conn.execute(
                b"UPDATE agent_instances SET config = %s, version = version + 1,"
                b" updated_at = now() WHERE id = %s",
                (document, row[0]),
            )
    return merged
