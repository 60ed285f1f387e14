"""The ticket inbox's shared core and its JSON API: `GET /api/v1/tickets`,
`GET|PATCH /api/v1/tickets/{id}`.

Owns: the inbox's query parameters and their validation per field (`TicketQuery`: each
error names its parameter, so a page shows it next to the field and the API answers a 422
problem naming it); finding a ticket among the organizations a user may see (one RLS-scoped
transaction per organization, operators one operator transaction: another organization's
ticket is simply not found, hence 404); who may change a ticket (owners of its organization
and operators; members view: 403); the JSON shapes.

Must not: write SQL (frontdesk.store.tickets does) or filter tenant rows itself (RLS does),
or log callers, summaries or transcripts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field

from frontdesk.store import tickets as store
from frontdesk.store.engine import Pool
from frontdesk.store.history import InvalidFilter, day_range, decode_cursor, time_zone
from frontdesk.store.web_auth import Principal
from frontdesk.web.auth import CurrentUser, PoolDep, SettingsDep, csrf_protect, scoped_tx
from frontdesk.web.operations import recording_url, resolve_org
from frontdesk.web.problems import PROBLEM_RESPONSES

PAGE_ROWS: Final = 50


# ---------------------------------------------------------------------------- query
def _message(exc: InvalidFilter) -> str:
    return str(exc).split(": ", 1)[-1]


class TicketQuery:
    """The inbox's query parameters, as typed (strings: a bad value is reported, per field)."""

    def __init__(
        self,
        status: Annotated[str | None, Query(max_length=40)] = None,
        kind: Annotated[str | None, Query(max_length=40)] = None,
        number: Annotated[str | None, Query(max_length=64, description="sip number id")] = None,
        caller: Annotated[str | None, Query(max_length=64, description="number prefix")] = None,
        start: Annotated[str | None, Query(alias="from", max_length=32, description="first day")]
        = None,
        end: Annotated[str | None, Query(alias="to", max_length=32, description="last day")]
        = None,
        q: Annotated[str | None, Query(max_length=400, description="words in the summary "
                                       "or details (3 characters or more)")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> None:  # fmt: skip
        self.status, self.kind, self.number, self.caller = status, kind, number, caller
        self.start, self.end, self.q, self.cursor = start, end, q, cursor

    def values(self) -> dict[str, str]:
        """The filter values as given (for the form), empty strings for absent ones."""
        return {
            "status": self.status or "",
            "kind": self.kind or "",
            "number": self.number or "",
            "caller": self.caller or "",
            "from": self.start or "",
            "to": self.end or "",
            "q": self.q or "",
        }

    def params(self, **changes: Any) -> str:
        """The query string of this view with `changes` (None drops a parameter)."""
        values: dict[str, Any] = {**self.values(), "cursor": self.cursor}
        values.update(changes)
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})

    def build(self, tz: ZoneInfo) -> tuple[store.TicketFilter | None, dict[str, str]]:
        """The validated filter, or None and an error message per parameter."""
        errors: dict[str, str] = {}
        days: dict[str, date | None] = {}
        for name, text in (("from", self.start), ("to", self.end)):
            try:
                days[name] = date.fromisoformat(text) if text else None
            except ValueError:
                errors[name] = "a date such as 2026-12-03"
        number_id: UUID | None = None
        if self.number:
            try:
                number_id = UUID(self.number)
            except ValueError:
                errors["number"] = "not one of your numbers"
        low = high = None
        if not errors.keys() & {"from", "to"}:
            try:
                low, high = day_range(days["from"], days["to"], tz)
            except InvalidFilter as exc:
                errors[exc.field] = _message(exc)
            except OverflowError:  # the day after 9999-12-31
                errors["to"] = "a date such as 2026-12-03"
        checks: list[dict[str, Any]] = [
            {"status": self.status},
            {"kind": self.kind},
            {"caller": self.caller},
            {"search": self.q},
        ]
        for one in checks:
            try:
                store.ticket_filter(**one)
            except InvalidFilter as exc:
                errors[exc.field] = _message(exc)
        if self.cursor:
            try:
                decode_cursor(self.cursor)
            except InvalidFilter as exc:
                errors[exc.field] = _message(exc)
        if errors:
            return None, errors
        flt = store.ticket_filter(
            status=self.status,
            kind=self.kind,
            number_id=number_id,
            caller=self.caller,
            start=low,
            end=high,
            search=self.q,
        )
        return flt, {}


TicketParams = Annotated[TicketQuery, Depends()]
OrgParam = Annotated[str | None, Query(alias="org", max_length=63, description="organization slug")]


def zone(name: str) -> ZoneInfo:
    try:
        return time_zone(name)
    except InvalidFilter:
        return ZoneInfo("UTC")


# ---------------------------------------------------------------------------- service
async def ticket_scopes(pool: Pool, user: Principal) -> list[UUID | None]:
    return [None] if user.is_operator else list(user.org_ids)


async def locate_ticket(
    pool: Pool, user: Principal, ticket_id: UUID
) -> tuple[UUID | None, store.TicketDetail]:
    """The scope in which `user` sees the ticket, and the ticket; 404 when none does."""
    for scope in await ticket_scopes(pool, user):
        async with scoped_tx(pool, user, scope) as conn:
            detail = await store.get_ticket(conn, None, ticket_id)
        if detail is not None:
            return scope, detail
    raise HTTPException(404, "no such ticket")


def may_change(user: Principal, detail: store.TicketDetail) -> bool:
    return user.is_operator or user.role_in(detail.organization_id) == "owner"


async def change(
    pool: Pool, user: Principal, ticket_id: UUID, wanted: store.TicketChange
) -> store.TicketDetail:
    """Apply `wanted` for `user`: 404 unseen, 403 for members, `FieldErrors` for bad values."""
    scope, detail = await locate_ticket(pool, user, ticket_id)
    if not may_change(user, detail):
        raise HTTPException(403, "only an owner of the organization may change its tickets")
    async with scoped_tx(pool, user, scope) as conn:
        if not await store.change_ticket(conn, None, ticket_id, wanted):
            raise HTTPException(404, "no such ticket")
        changed = await store.get_ticket(conn, None, ticket_id)
    assert changed is not None
    return changed


@dataclass(frozen=True)
class ListResult:
    page: store.TicketPage | None
    errors: dict[str, str]


async def list_for(
    pool: Pool,
    user: Principal,
    org_id: UUID | None,
    query: TicketQuery,
    tz: ZoneInfo,
    limit: int = PAGE_ROWS,
) -> ListResult:
    flt, errors = query.build(tz)
    if flt is None:
        return ListResult(None, errors)
    async with scoped_tx(pool, user, org_id) as conn:
        if flt.number_id is not None:
            seen = await conn.execute(b"SELECT 1 FROM sip_numbers WHERE id = %s", (flt.number_id,))
            if await seen.fetchone() is None:
                return ListResult(None, {"number": "not one of your numbers"})
        page = await store.list_tickets(conn, org_id, flt, limit=limit, cursor=query.cursor)
    return ListResult(page, {})


# ---------------------------------------------------------------------------- JSON shapes
class TicketOut(BaseModel):
    id: UUID
    organization: str
    kind: str
    status: str
    caller: str
    called: str
    number_label: str | None
    created_at: datetime
    summary: str
    call: UUID | None
    assignee: str | None


class TicketPageOut(BaseModel):
    tickets: list[TicketOut]
    next_cursor: str | None


class CallOut(BaseModel):
    started_at: datetime | None
    duration_s: float | None
    summary: str | None
    summary_data: dict[str, Any] | None
    transcript: list[Any]
    recording_url: str | None = None  # GET it for the call's audio (Ogg Opus, stereo)


class TicketDetailOut(TicketOut):
    details: str
    note: str
    assignee_id: UUID | None
    updated_at: datetime
    done_at: datetime | None
    call_detail: CallOut | None


class TicketPatch(BaseModel):
    """Fields to change; absent fields stay. `assignee_id: null` unassigns."""

    model_config = ConfigDict(extra="forbid")

    status: Annotated[str, Field(max_length=20)] | None = None
    note: Annotated[str, Field(max_length=store.MAX_NOTE)] | None = None
    assignee_id: UUID | None = None


def ticket_out(row: store.TicketRow) -> TicketOut:
    return TicketOut(
        id=row.ticket_id,
        organization=row.org_slug,
        kind=row.kind,
        status=row.status,
        caller=row.caller,
        called=row.called,
        number_label=row.number_label,
        created_at=row.created_at,
        summary=row.summary,
        call=row.session_id,
        assignee=row.assignee,
    )


def detail_out(detail: store.TicketDetail) -> TicketDetailOut:
    call = None
    if detail.row.session_id is not None and detail.call_started_at is not None:
        call = CallOut(
            started_at=detail.call_started_at,
            duration_s=detail.call_duration.total_seconds() if detail.call_duration else None,
            summary=detail.call_summary,
            summary_data=detail.call_summary_data,
            transcript=detail.transcript,
            recording_url=(
                recording_url(detail.row.session_id, detail.row.org_slug)
                if detail.call_recorded
                else None
            ),
        )
    return TicketDetailOut(
        **ticket_out(detail.row).model_dump(),
        details=detail.details,
        note=detail.note,
        assignee_id=detail.assignee_id,
        updated_at=detail.updated_at,
        done_at=detail.done_at,
        call_detail=call,
    )


# ---------------------------------------------------------------------------- API
api = APIRouter(
    prefix="/api/v1/tickets",
    tags=["tickets"],
    dependencies=[Depends(csrf_protect)],
    responses=PROBLEM_RESPONSES,
)


def _problem_422(errors: dict[str, str]) -> HTTPException:
    return HTTPException(422, "; ".join(f"{k}: {v}" for k, v in errors.items()))


@api.get("", response_model=TicketPageOut)
async def tickets_api(
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    query: TicketParams,
    org: OrgParam = None,
    limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = PAGE_ROWS,
) -> TicketPageOut:
    """Tickets, newest first, filtered (`status`, `kind`, `number`, `caller` prefix, `from`
    / `to` days in the operations time zone, `q` words); `next_cursor` fetches the next page.
    Members and owners see their organization's; operators every one's, or `org`'s."""
    org_id = await resolve_org(pool, user, org)
    result = await list_for(pool, user, org_id, query, zone(settings.operations_time_zone), limit)
    if result.page is None:
        raise _problem_422(result.errors)
    return TicketPageOut(
        tickets=[ticket_out(r) for r in result.page.rows], next_cursor=result.page.next_cursor
    )


@api.get("/{ticket_id}", response_model=TicketDetailOut)
async def ticket_api(ticket_id: UUID, user: CurrentUser, pool: PoolDep) -> TicketDetailOut:
    """One ticket with its call (transcript, summary); 404 when it is not yours."""
    _scope, detail = await locate_ticket(pool, user, ticket_id)
    return detail_out(detail)


@api.patch("/{ticket_id}", response_model=TicketDetailOut)
async def patch_ticket_api(
    ticket_id: UUID, body: TicketPatch, user: CurrentUser, pool: PoolDep
) -> TicketDetailOut:
    """Change status (open, in-progress, done), note, assignee (a member of the ticket's
    organization, or null): owners and operators; members get 403."""
    given = body.model_fields_set
    wanted = store.TicketChange(
        status=body.status if "status" in given else None,
        note=body.note if "note" in given else None,
        assignee_id=body.assignee_id if "assignee_id" in given else None,
        unassign="assignee_id" in given and body.assignee_id is None,
    )
    try:
        return detail_out(await change(pool, user, ticket_id, wanted))
    except store.FieldErrors as exc:
        raise _problem_422(exc.errors) from exc
