"""The REST API under `/api/v1` (JSON; OpenAPI at /openapi.json, browsable at /docs).

Owns: request and response models, and the routes: `GET /me`, `GET /numbers`,
`GET|PATCH /numbers/{id}`, and for operators `POST /numbers`, `POST /numbers/{id}/assign`,
`GET /organizations`. Authentication: `Authorization: Bearer fd_…` (API tokens, created by
`frontdesk token add EMAIL`) or the web session cookie, which then needs the
`X-CSRF-Token` header on unsafe methods. Every error is RFC 9457 problem+json (problems.py).

Must not: hold rules of its own beyond input shapes: numbers and organizations are changed by
the same store functions as the CLI and the pages, through RLS-scoped transactions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.store.numbers import add_number, assign_number, get_number_by_id, live_counts
from frontdesk.store.orgs import get_org, list_orgs
from frontdesk.store.tx import operator_tx
from frontdesk.tenancy.config import public_view
from frontdesk.web.auth import CurrentUser, Operator, PoolDep, SettingsDep, actor, csrf_protect
from frontdesk.web.problems import PROBLEM_RESPONSES
from frontdesk.web.service import (
    EDITABLE_OVERRIDES,
    FieldErrors,
    NumberEdit,
    NumberView,
    apply_edit,
    get_number_view,
    visible_numbers,
)

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    dependencies=[Depends(csrf_protect)],
    responses=PROBLEM_RESPONSES,
)


class MembershipOut(BaseModel):
    organization: str
    name: str
    role: str


class MeOut(BaseModel):
    id: UUID
    email: str
    is_operator: bool
    role: str
    memberships: list[MembershipOut]


class NumberOut(BaseModel):
    id: UUID
    phone_number: str
    organization: str
    label: str
    active: bool
    max_concurrent_calls: int
    live_calls: int
    #: the number's own config overrides (keys absent inherit the organization's)
    overrides: dict[str, Any]
    assigned_by: str
    assigned_at: datetime


class NumberPatch(BaseModel):
    """Fields to change; absent fields stay. An override set to null inherits again."""

    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    active: bool | None = None
    greeting: Annotated[str, Field(max_length=1000, pattern=r"^[^\x00]*$")] | None = None
    language: Annotated[str, Field(max_length=20, pattern=r"^[^\x00]*$")] | None = None
    system_prompt: Annotated[str, Field(max_length=20_000, pattern=r"^[^\x00]*$")] | None = None
    voice: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None
    transfer_target: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] | None = None


class NumberCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_number: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00]*$")]
    organization: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00]*$")]
    label: Annotated[str, Field(max_length=200, pattern=r"^[^\x00]*$")] = ""
    max_concurrent_calls: Annotated[int, Field(ge=1, le=10_000)] = 1


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization: Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[^\x00]*$")]


class AssignOut(BaseModel):
    number: NumberOut
    previous_organization: str
    #: live calls on the number: they continue with the previous organization
    live_calls_continuing: int


class OrganizationOut(BaseModel):
    id: UUID
    slug: str
    name: str
    active: bool
    max_concurrent_calls: int | None
    numbers: int
    live_calls: int


def _number_out(view: NumberView) -> NumberOut:
    row = view.row
    return NumberOut(
        id=row.id,
        phone_number=row.phone_number,
        organization=row.org_slug,
        label=row.label,
        active=row.active,
        max_concurrent_calls=row.max_concurrent_calls,
        live_calls=view.live_calls,
        overrides=public_view(row.config_override),
        assigned_by=row.assigned_by,
        assigned_at=row.assigned_at,
    )


def _live(counts: dict[tuple[UUID, UUID], int], number_id: UUID) -> int:
    return sum(n for (number, _org), n in counts.items() if number == number_id)


@router.get("/me")
async def me(user: CurrentUser) -> MeOut:
    """Who you are: email, operator flag, organizations and roles."""
    return MeOut(
        id=user.id,
        email=user.email,
        is_operator=user.is_operator,
        role=user.role,
        memberships=[
            MembershipOut(organization=m.org_slug, name=m.org_name, role=m.role)
            for m in user.memberships
        ],
    )


@router.get("/numbers")
async def numbers(user: CurrentUser, pool: PoolDep) -> list[NumberOut]:
    """Your organizations' numbers (every number for operators), with live call counts."""
    return [_number_out(view) for view in await visible_numbers(pool, user)]


@router.get("/numbers/{number_id}")
async def number(number_id: UUID, user: CurrentUser, pool: PoolDep) -> NumberOut:
    """One number; 404 when it does not exist or is not yours."""
    return _number_out(await get_number_view(pool, user, number_id))


@router.patch("/numbers/{number_id}")
async def patch_number(
    number_id: UUID, changes: NumberPatch, user: CurrentUser, pool: PoolDep
) -> NumberOut:
    """Change label, active, greeting, language, voice, system prompt, transfer target
    (owners and operators); an override set to null inherits the organization's again."""
    given = changes.model_fields_set
    overrides: dict[str, str | None] = {
        key: getattr(changes, key) for key in EDITABLE_OVERRIDES if key in given
    }
    edit = NumberEdit(
        label=changes.label if "label" in given else None,
        active=changes.active if "active" in given else None,
        overrides=overrides,
    )
    try:
        return _number_out(await apply_edit(pool, user, number_id, edit))
    except FieldErrors as exc:
        raise HTTPException(422, str(exc)) from exc


@router.post("/numbers", status_code=201)
async def create_number(
    body: NumberCreate, user: Operator, pool: PoolDep, settings: SettingsDep
) -> NumberOut:
    """Put a number on the trunk for an organization (operators)."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        row = await add_number(
            conn,
            body.phone_number,
            body.organization,
            label=body.label,
            max_concurrent_calls=body.max_concurrent_calls,
            assigned_by=actor(user),
            default_country=settings.default_country,
        )
    return _number_out(NumberView(row, 0))


@router.post("/numbers/{number_id}/assign")
async def assign(
    number_id: UUID, body: AssignIn, user: Operator, pool: PoolDep, settings: SettingsDep
) -> AssignOut:
    """Move a number to another organization (audited). Live calls on it continue."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        before = await get_number_by_id(conn, number_id)
        await get_org(conn, body.organization)
        after = await assign_number(
            conn, before.phone_number, body.organization, actor(user), settings.default_country
        )
        live = _live(await live_counts(conn), number_id)
    return AssignOut(
        number=_number_out(NumberView(after, live)),
        previous_organization=before.org_slug,
        live_calls_continuing=live if after.org_slug != before.org_slug else 0,
    )


@router.get("/organizations")
async def organizations(user: Operator, pool: PoolDep) -> list[OrganizationOut]:
    """Every organization with its limit, active state, numbers and live calls (operators)."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        orgs = await list_orgs(conn)
        counts = await live_counts(conn)
    views = await visible_numbers(pool, user)
    per_org: dict[str, int] = {}
    for view in views:
        per_org[view.row.org_slug] = per_org.get(view.row.org_slug, 0) + 1
    live_per_org: dict[UUID, int] = {}
    for (_number, org_id), n in counts.items():
        live_per_org[org_id] = live_per_org.get(org_id, 0) + n
    return [
        OrganizationOut(
            id=org.id,
            slug=org.slug,
            name=org.name,
            active=org.active,
            max_concurrent_calls=org.max_concurrent_calls,
            numbers=per_org.get(org.slug, 0),
            live_calls=live_per_org.get(org.id, 0),
        )
        for org in orgs
    ]
