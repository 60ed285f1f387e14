"""What the number pages and the REST API share: finding a user's numbers and editing one.

Owns: locating a number among the organizations a user may see (one RLS-scoped transaction
per organization; operators one operator transaction), the fields a tenant edits (label,
active, and the overrides greeting / language / voice / system_prompt / transfer_target;
any of these and the knowledge base may be reset to the organization's) and validation per
field (each error names its field, nothing is written while any is wrong), and applying an
edit in one transaction.

Must not: write SQL (frontdesk.store.numbers does) or decide visibility itself: a number
another organization owns is simply not found by the tenant's transaction (RLS), hence 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final
from uuid import UUID

from fastapi import HTTPException

from frontdesk.errors import NotFound
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import NumberRow, edit_number, get_number_by_id, list_numbers
from frontdesk.store.numbers import live_counts as store_live_counts
from frontdesk.store.orgs import get_org_config
from frontdesk.store.web_auth import Principal
from frontdesk.tenancy.config import ConfigOverrideError, TenantConfig, validate_override
from frontdesk.web.auth import require_owner, scoped_tx

#: the overrides a tenant edits on a number's page (all of TenantConfig stays CLI-editable)
EDITABLE_OVERRIDES: Final = ("greeting", "language", "voice", "system_prompt", "transfer_target")
#: what a number's page shows as inherited or overridden, each with "reset": every key
#: (business hours, recording, keys, notifications… are set per number from the CLI)
RESETTABLE: Final = (
    *EDITABLE_OVERRIDES,
    *(key for key in TenantConfig.model_fields if key not in EDITABLE_OVERRIDES),
)
#: the keys the number's page shows in a line of their own; the others are listed together
SHOWN_ON_THEIR_OWN: Final = (*EDITABLE_OVERRIDES, "knowledge_base", "knowledge_text",
                             "business_hours")  # fmt: skip
MAX_LABEL: Final = 200


class FieldErrors(Exception):
    """Some fields of an edit are wrong: `errors` maps each to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class NumberView:
    """A number as a page or the API shows it."""

    row: NumberRow
    live_calls: int
    #: the organization's config, for "inherited" values next to the overrides
    org_config: TenantConfig | None = None


@dataclass
class NumberEdit:
    """A requested change; None leaves a field alone. An override of None is removed."""

    label: str | None = None
    active: bool | None = None
    overrides: dict[str, str | None] = field(default_factory=dict)

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if self.label is not None:
            if len(self.label) > MAX_LABEL:
                errors["label"] = f"at most {MAX_LABEL} characters"
            elif "\x00" in self.label:
                errors["label"] = "must not contain NUL characters"
        for key, value in self.overrides.items():
            if key not in RESETTABLE or (value is not None and key not in EDITABLE_OVERRIDES):
                errors[key] = "not an editable setting"
            elif value is not None:
                if "\x00" in value:
                    errors[key] = "must not contain NUL characters"
                    continue
                try:
                    validate_override({key: value})
                except ConfigOverrideError as exc:
                    errors[key] = str(exc)
        if errors:
            raise FieldErrors(errors)

    @property
    def empty(self) -> bool:
        return self.label is None and self.active is None and not self.overrides


def _count(row: NumberRow, counts: dict[tuple[UUID, UUID], int]) -> int:
    return sum(n for (number, _org), n in counts.items() if number == row.id)


async def visible_numbers(pool: Pool, user: Principal) -> list[NumberView]:
    """Every number `user` may see with its live count, by organization then number."""
    scopes: list[UUID | None] = [None] if user.is_operator else list(user.org_ids)
    views: list[NumberView] = []
    for org_id in scopes:
        async with scoped_tx(pool, user, org_id) as conn:
            counts = await store_live_counts(conn)
            views += [NumberView(row, _count(row, counts)) for row in await list_numbers(conn)]
    return sorted(views, key=lambda v: (v.row.org_slug, v.row.phone_number))


async def _locate(pool: Pool, user: Principal, number_id: UUID) -> UUID | None:
    """The scope (org id, None for the operator) in which `user` sees the number; 404 else."""
    scopes: list[UUID | None] = [None] if user.is_operator else list(user.org_ids)
    for org_id in scopes:
        async with scoped_tx(pool, user, org_id) as conn:
            try:
                await get_number_by_id(conn, number_id)
            except NotFound:
                continue
            return org_id
    raise HTTPException(404, "no such number")


async def get_number_view(pool: Pool, user: Principal, number_id: UUID) -> NumberView:
    """One number `user` may see, with live count and its organization's config; 404 else."""
    scope = await _locate(pool, user, number_id)
    async with scoped_tx(pool, user, scope) as conn:
        row = await get_number_by_id(conn, number_id)
        counts = await store_live_counts(conn)
        config = await get_org_config(conn, row.org_slug)
    return NumberView(row, _count(row, counts), config)


async def apply_edit(pool: Pool, user: Principal, number_id: UUID, edit: NumberEdit) -> NumberView:
    """Validate `edit` (FieldErrors), check the role (403), write it in one transaction."""
    scope = await _locate(pool, user, number_id)
    edit.validate()
    async with scoped_tx(pool, user, scope) as conn:
        current = await get_number_by_id(conn, number_id)
        require_owner(user, current.organization_id)
        override_set: dict[str, Any] = {k: v for k, v in edit.overrides.items() if v is not None}
        unset = frozenset(k for k, v in edit.overrides.items() if v is None)
        try:
            row = await edit_number(
                conn,
                number_id,
                label=edit.label,
                active=edit.active,
                override_set=override_set or None,
                override_unset=unset,
            )
        except ConfigOverrideError as exc:  # validated above; the merged whole checked again
            raise FieldErrors({exc.key: str(exc)}) from exc
        counts = await store_live_counts(conn)
        config = await get_org_config(conn, row.org_slug)
    return NumberView(row, _count(row, counts), config)
