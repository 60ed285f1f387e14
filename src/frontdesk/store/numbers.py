"""The trunk's numbers (`sip_numbers`) as the operator manages them: add, assign, change, remove.

Owns: normalising every number on write (`frontdesk.tenancy.numbers.normalize_number`), refusing a
duplicate with a message naming the organization that owns it (operators are the only
callers of this module, and they may know that), validating a number's `config_override`
on write (`validate_override`: unknown keys and bad values refused naming the key) and
merging it onto the stored override.

Changes of a number's label, limit, state and overrides are audited in `config_audit`
(store/config_audit.py, entity "number", overrides as `override.KEY`) in the same
transaction; adding, assigning and removing are the assignment audit's.

Must not: write the assignment audit (the `sip_numbers_audit` trigger does, so no code path
can skip it; `frontdesk.actor`, set by `operator_tx`, names who removed a number), touch live
calls (reassigning or deactivating a number leaves them alone), or open its own
operator transaction (callers pass one from `frontdesk.store.tx.operator_tx`). Each write
runs in a nested transaction: a refused change leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any
from uuid import UUID

import psycopg
from psycopg.types.json import Jsonb

from frontdesk.errors import Conflict, NotFound
from frontdesk.store.config_audit import record_change
from frontdesk.store.engine import Connection
from frontdesk.store.orgs import get_org
from frontdesk.tenancy.config import validate_override
from frontdesk.tenancy.numbers import normalize_number


@dataclass(frozen=True)
class NumberRow:
    """One `sip_numbers` row, with the slug of the organization it belongs to."""

    id: UUID
    phone_number: str
    organization_id: UUID
    org_slug: str
    label: str
    active: bool
    max_concurrent_calls: int
    #: the keys of the org's TenantConfig this number overrides (read-only view)
    config_override: Mapping[str, Any]
    assigned_by: str
    assigned_at: datetime

    def audited(self) -> dict[str, Any]:
        """What a person changes of a number, as the configuration audit stores it."""
        return {
            "label": self.label,
            "max_concurrent_calls": self.max_concurrent_calls,
            "active": self.active,
            **{f"override.{key}": value for key, value in self.config_override.items()},
        }


_SELECT = (
    b"SELECT n.id, n.phone_number, n.organization_id, o.slug, n.label, n.active,"
    b" n.max_concurrent_calls, n.config_override, n.assigned_by, n.assigned_at"
    b" FROM sip_numbers n JOIN organizations o ON o.id = n.organization_id"
)

_CHECKS = {
    "sip_numbers_label_check": "a number's label must be at most 200 characters",
    "sip_numbers_max_concurrent_calls_check": "max concurrent calls must be at least 1",
    "sip_numbers_assigned_by_check": "assigned_by must be 1 to 320 characters",
}


def _number(row: tuple[Any, ...]) -> NumberRow:
    return NumberRow(
        id=row[0],
        phone_number=row[1],
        organization_id=row[2],
        org_slug=row[3],
        label=row[4],
        active=row[5],
        max_concurrent_calls=row[6],
        config_override=MappingProxyType(dict(row[7])),
        assigned_by=row[8],
        assigned_at=row[9],
    )


def _refused(exc: psycopg.errors.CheckViolation, phone: str) -> Conflict:
    message = _CHECKS.get(exc.diag.constraint_name or "")
    return Conflict(message or f"number {phone} refused: {exc.diag.message_primary}")


async def _find(conn: Connection, phone: str, *, lock: bool = False) -> NumberRow | None:
    query = _SELECT + b" WHERE n.phone_number = %s" + (b" FOR UPDATE OF n" if lock else b"")
    cursor = await conn.execute(query, (phone,))
    row = await cursor.fetchone()
    return None if row is None else _number(row)


async def _existing(conn: Connection, phone: str, *, lock: bool = False) -> NumberRow:
    found = await _find(conn, phone, lock=lock)
    if found is None:
        raise NotFound(f"no number {phone}")
    return found


def _duplicate(phone: str, owner: NumberRow | None) -> Conflict:
    if owner is None:  # removed again between the refusal and the look-up
        return Conflict(f"number {phone} already exists")
    return Conflict(f"number {phone} already belongs to organization {owner.org_slug!r}")


async def get_number(conn: Connection, raw: str, *, default_country: str) -> NumberRow:
    """The number `raw` (normalised first); `NotFound` if it is not on the trunk."""
    return await _existing(conn, normalize_number(raw, default_country))


async def add_number(
    conn: Connection,
    raw_number: str,
    org_slug: str,
    *,
    label: str = "",
    max_concurrent_calls: int = 1,
    assigned_by: str,
    default_country: str,
) -> NumberRow:
    """Put a number on the trunk for organization `org_slug`, stored normalised.

    A number that is already there is refused (`Conflict`) naming its organization.
    """
    phone = normalize_number(raw_number, default_country)
    org = await get_org(conn, org_slug)
    owner = await _find(conn, phone)
    if owner is not None:
        raise _duplicate(phone, owner)
    try:
        async with conn.transaction():
            await conn.execute(
                b"INSERT INTO sip_numbers"
                b" (phone_number, organization_id, label, max_concurrent_calls, assigned_by)"
                b" VALUES (%s, %s, %s, %s, %s)",
                (phone, org.id, label, max_concurrent_calls, assigned_by),
            )
    except psycopg.errors.UniqueViolation as exc:  # added concurrently since the look-up
        raise _duplicate(phone, await _find(conn, phone)) from exc
    except psycopg.errors.CheckViolation as exc:
        raise _refused(exc, phone) from exc
    return await _existing(conn, phone)


async def assign_number(
    conn: Connection, raw: str, org_slug: str, assigned_by: str, default_country: str
) -> NumberRow:
    """Move a number to organization `org_slug`; records who did it and when.

    The audit row is written by the database trigger. The label and the config override
    belonged to the previous organization (a greeting naming the old business must not
    answer for the new one), so both are cleared. Assigning a number to the organization
    that already has it changes nothing. Live calls on the number are left alone.
    """
    phone = normalize_number(raw, default_country)
    org = await get_org(conn, org_slug)
    current = await _existing(conn, phone, lock=True)
    if current.organization_id == org.id:
        return current
    try:
        async with conn.transaction():
            await conn.execute(
                b"UPDATE sip_numbers SET organization_id = %s, assigned_by = %s,"
                b" assigned_at = now(), label = '', config_override = '{}'"
                b" WHERE id = %s",
                (org.id, assigned_by, current.id),
            )
    except psycopg.errors.CheckViolation as exc:
        raise _refused(exc, phone) from exc
    return await _existing(conn, phone)


async def update_number(
    conn: Connection,
    raw: str,
    *,
    default_country: str,
    label: str | None = None,
    max_concurrent_calls: int | None = None,
    active: bool | None = None,
    override_changes: Mapping[str, Any] | None = None,
) -> NumberRow:
    """Change a number; None leaves a field as it is (none of them is nullable).

    `override_changes` is merged onto the stored override, after validation: an unknown key
    or a bad value is refused (`ConfigOverrideError` naming the key) and nothing is written.
    """
    phone = normalize_number(raw, default_country)
    checked = validate_override(override_changes) if override_changes else None
    async with conn.transaction():
        current = await _existing(conn, phone, lock=True)
        override = None
        if checked is not None:
            override = validate_override({**current.config_override, **checked})
        try:
            async with conn.transaction():
                await conn.execute(
                    b"UPDATE sip_numbers SET label = coalesce(%s, label),"
                    b" max_concurrent_calls = coalesce(%s, max_concurrent_calls),"
                    b" active = coalesce(%s, active),"
                    b" config_override = coalesce(%s, config_override)"
                    b" WHERE id = %s",
                    (
                        label,
                        max_concurrent_calls,
                        active,
                        None if override is None else Jsonb(override),
                        current.id,
                    ),
                )
        except psycopg.errors.CheckViolation as exc:
            raise _refused(exc, phone) from exc
        after = await _existing(conn, phone)
        await _audit(conn, current, after)
        return after


async def _audit(conn: Connection, before: NumberRow, after: NumberRow) -> None:
    await record_change(
        conn, after.organization_id, "number", after.phone_number, before.audited(),
        after.audited(),
    )  # fmt: skip


async def list_numbers(conn: Connection, org_slug: str | None = None) -> list[NumberRow]:
    """Every number (of organization `org_slug` when given), by organization then number."""
    if org_slug is None:
        cursor = await conn.execute(_SELECT + b" ORDER BY o.slug, n.phone_number")
    else:
        org = await get_org(conn, org_slug)
        cursor = await conn.execute(
            _SELECT + b" WHERE n.organization_id = %s ORDER BY n.phone_number", (org.id,)
        )
    return [_number(row) for row in await cursor.fetchall()]


async def remove_number(conn: Connection, raw: str, *, default_country: str) -> NumberRow:
    """Take a number off the trunk; return what it was.

    Refused (`Conflict`) while the number has live calls. Past sessions keep their record
    (their link to the number is cleared); the audit trigger records the removal with the
    transaction's actor.
    """
    phone = normalize_number(raw, default_country)
    current = await _existing(conn, phone, lock=True)
    try:
        async with conn.transaction():
            await conn.execute(b"DELETE FROM sip_numbers WHERE id = %s", (current.id,))
    except psycopg.errors.ForeignKeyViolation as exc:
        raise Conflict(
            f"number {phone} has live calls: deactivate it now, remove it when they end"
        ) from exc
    return current


# --- by id, for the web app (works in a tenant transaction as in an operator one) -------


async def get_number_by_id(conn: Connection, number_id: UUID) -> NumberRow:
    """The number with id `number_id`, if the transaction may see it; else `NotFound`.

    In a tenant transaction another organization's number is invisible (RLS), so it is
    `NotFound` too: callers cannot tell "not yours" from "does not exist".
    """
    cursor = await conn.execute(_SELECT + b" WHERE n.id = %s", (number_id,))
    row = await cursor.fetchone()
    if row is None:
        raise NotFound("no such number")
    return _number(row)


async def edit_number(
    conn: Connection,
    number_id: UUID,
    *,
    label: str | None = None,
    active: bool | None = None,
    override_set: Mapping[str, Any] | None = None,
    override_unset: frozenset[str] = frozenset(),
) -> NumberRow:
    """Change what a tenant may change of its number: label, active, config override.

    Writes only the columns tenants are granted (migration 0002), so it runs in a tenant
    transaction as well as an operator one. `override_set` keys are validated
    (`ConfigOverrideError` naming the key) and set; `override_unset` keys are removed (the
    number inherits the organization's value again). One statement: nothing half-saved.
    """
    checked = validate_override(override_set) if override_set else {}
    async with conn.transaction():
        cursor = await conn.execute(_SELECT + b" WHERE n.id = %s FOR UPDATE OF n", (number_id,))
        row = await cursor.fetchone()
        if row is None:
            raise NotFound("no such number")
        current = _number(row)
        override = None
        if checked or override_unset:
            merged = {k: v for k, v in current.config_override.items() if k not in override_unset}
            override = validate_override({**merged, **checked})
        try:
            async with conn.transaction():
                await conn.execute(
                    b"UPDATE sip_numbers SET label = coalesce(%s, label),"
                    b" active = coalesce(%s, active),"
                    b" config_override = coalesce(%s, config_override)"
                    b" WHERE id = %s",
                    (
                        label,
                        active,
                        None if override is None else Jsonb(override),
                        current.id,
                    ),
                )
        except psycopg.errors.CheckViolation as exc:
            raise _refused(exc, current.phone_number) from exc
        after = await get_number_by_id(conn, current.id)
        await _audit(conn, current, after)
        return after


async def live_counts(conn: Connection) -> dict[tuple[UUID, UUID], int]:
    """Live calls per (number id, organization id of the call), as the transaction sees them.

    A reassigned number's calls keep the organization they were admitted for, so the key
    carries both: a view can count only the calls that belong to whom it shows them to.
    """
    cursor = await conn.execute(
        b"SELECT sip_number_id, organization_id, count(*) FROM active_calls GROUP BY 1, 2"
    )
    return {(row[0], row[1]): int(row[2]) for row in await cursor.fetchall()}


async def number_owners(conn: Connection) -> dict[UUID, UUID]:
    """Every visible number's id and its organization's id (what live views fan out by)."""
    cursor = await conn.execute(b"SELECT id, organization_id FROM sip_numbers")
    return {row[0]: row[1] for row in await cursor.fetchall()}


@dataclass(frozen=True)
class Assignment:
    """One row of the assignment audit: who put which number where, and when."""

    phone_number: str
    action: str
    org_slug: str
    previous_org_slug: str | None
    assigned_by: str
    assigned_at: datetime


async def recent_assignments(conn: Connection, limit: int = 20) -> list[Assignment]:
    """The latest `limit` audit rows the transaction may see, newest first."""
    cursor = await conn.execute(
        b"SELECT a.phone_number, a.action, o.slug, p.slug, a.assigned_by, a.assigned_at"
        b" FROM number_assignments a JOIN organizations o ON o.id = a.organization_id"
        b" LEFT JOIN organizations p ON p.id = a.previous_organization_id"
        b" ORDER BY a.assigned_at DESC, a.id LIMIT %s",
        (limit,),
    )
    return [Assignment(*row) for row in await cursor.fetchall()]
