"""The ticket inbox pages: `/tickets`, its rows (`/tickets/rows`, what the page fetches again
when a new ticket is announced on `/events/live`), its CSV export (`/tickets/export.csv`),
and one ticket (`/tickets/{id}`: the call, status, note, assignee).

Owns: rendering (each bad filter value shown next to its field, nothing else lost), the
ticket form (owners and operators change; members view: the form is disabled and a POST
gets 403), and the CSV (every row of the filtered list, streamed page by page by keyset, in
RLS-scoped transactions; cells that a spreadsheet would read as a formula are quoted).
The page's script is static/tickets.js (no inline script: the CSP forbids it).

Must not: filter tenant rows itself or write SQL (tickets.py and frontdesk.store.tickets
do), or log callers, summaries or transcripts.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Annotated, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse

from frontdesk.store import tickets as store
from frontdesk.store.engine import Pool
from frontdesk.store.web_auth import Principal
from frontdesk.web.auth import CurrentUser, PoolDep, SettingsDep, csrf_protect, scoped_tx
from frontdesk.web.operations import org_choices, recording_url, resolve_org
from frontdesk.web.templating import render
from frontdesk.web.tickets import (
    OrgParam,
    TicketParams,
    change,
    list_for,
    locate_ticket,
    may_change,
    zone,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

CSV_BATCH: Final = store.MAX_BATCH
CSV_COLUMNS: Final = (
    "created",
    "organization",
    "kind",
    "status",
    "caller",
    "dialled number",
    "number label",
    "summary",
    "assignee",
    "ticket id",
)
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


async def _number_choices(
    pool: Pool, user: Principal, org_id: UUID | None
) -> list[tuple[UUID, str, str]]:
    async with scoped_tx(pool, user, org_id) as conn:
        cursor = await conn.execute(
            b"SELECT id, phone_number, label FROM sip_numbers"
            b" WHERE %(org)s::uuid IS NULL OR organization_id = %(org)s"
            b" ORDER BY phone_number LIMIT 500",
            {"org": org_id},
        )
        return [(r[0], r[1], r[2]) for r in await cursor.fetchall()]


def _with_org(org: str | None, query: str) -> str:
    return "&".join(filter(None, [urlencode({"org": org}) if org else "", query]))


@router.get("/tickets")
async def tickets_page(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    query: TicketParams,
    org: OrgParam = None,
) -> Response:
    org_id = await resolve_org(pool, user, org)
    tz = zone(settings.operations_time_zone)
    result = await list_for(pool, user, org_id, query, tz)
    page = result.page
    return render(
        request,
        "tickets/index.html",
        {
            "org": org or "",
            "orgs": await org_choices(pool, user),
            "numbers": await _number_choices(pool, user, org_id),
            "values": query.values(),
            "errors": result.errors,
            "rows": page.rows if page else [],
            "zone": tz,
            "tz": tz.key,
            "statuses": store.STATUSES,
            "status_words": store.STATUS_WORDS,
            "kinds": store.KINDS,
            "first_page": not query.cursor,
            "rows_url": "/tickets/rows?" + _with_org(org, query.params(cursor=None)),
            "export_url": "/tickets/export.csv?" + _with_org(org, query.params(cursor=None)),
            "clear_url": "/tickets?" + _with_org(org, ""),
            "newest_url": "/tickets?" + _with_org(org, query.params(cursor=None)),
            "next_url": (
                "/tickets?" + _with_org(org, query.params(cursor=page.next_cursor))
                if page and page.next_cursor
                else None
            ),
        },
        status_code=422 if result.errors else 200,
    )


@router.get("/tickets/rows")
async def ticket_rows(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    query: TicketParams,
    org: OrgParam = None,
) -> Response:
    """The first page's rows alone (a <tbody>), for the live refresh."""
    org_id = await resolve_org(pool, user, org)
    tz = zone(settings.operations_time_zone)
    result = await list_for(pool, user, org_id, query, tz)
    if result.page is None:
        raise HTTPException(422, "; ".join(f"{k}: {v}" for k, v in result.errors.items()))
    return render(
        request,
        "tickets/rows.html",
        {"rows": result.page.rows, "zone": tz, "org": org or ""},
    )


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run: text that starts like a formula is quoted,
    except a phone number (`+39…`), which is data."""
    if value.startswith(_FORMULA_START) and not (value[:1] == "+" and value[1:].isdigit()):
        return "'" + value
    return value


@router.get("/tickets/export.csv")
async def tickets_csv(
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    query: TicketParams,
    org: OrgParam = None,
) -> Response:
    """Every ticket of the filtered list (not only one page), newest first, as CSV."""
    org_id = await resolve_org(pool, user, org)
    tz = zone(settings.operations_time_zone)
    flt, errors = query.build(tz)
    if flt is None:
        raise HTTPException(422, "; ".join(f"{k}: {v}" for k, v in errors.items()))
    filters = flt

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            async with scoped_tx(pool, user, org_id) as conn:
                page = await store.list_tickets(
                    conn, org_id, filters, limit=CSV_BATCH, cursor=cursor
                )
            for r in page.rows:
                writer.writerow(
                    [
                        r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                        r.org_slug,
                        r.kind,
                        r.status_words,
                        _cell(r.caller),
                        _cell(r.called),
                        _cell(r.number_label or ""),
                        _cell(r.summary),
                        _cell(r.assignee or ""),
                        str(r.ticket_id),
                    ]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="tickets.csv"',
            "Cache-Control": "no-store",
        },
    )


def _ticket_context(user: Principal, detail: store.TicketDetail, tz_name: str) -> dict[str, object]:
    return {
        "t": detail,
        "recording_url": (
            recording_url(detail.row.session_id, detail.row.org_slug)
            if detail.call_recorded and detail.row.session_id is not None
            else None
        ),
        "zone": zone(tz_name),
        "editable": may_change(user, detail),
        "statuses": store.STATUSES,
        "status_words": store.STATUS_WORDS,
    }


@router.get("/tickets/{ticket_id}")
async def ticket_page(
    request: Request,
    ticket_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    saved: bool = False,
) -> Response:
    _scope, detail = await locate_ticket(pool, user, ticket_id)
    context = _ticket_context(user, detail, settings.operations_time_zone)
    values = {
        "status": detail.row.status,
        "note": detail.note,
        "assignee": str(detail.assignee_id or ""),
    }
    return render(
        request,
        "tickets/ticket.html",
        {**context, "values": values, "errors": {}, "saved": saved},
    )


@router.post("/tickets/{ticket_id}")
async def ticket_save(
    request: Request,
    ticket_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    status: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=store.MAX_NOTE * 2)] = "",
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Save the form: status, note, assignee ("" = nobody). Errors come back per field."""
    errors: dict[str, str] = {}
    assignee_id: UUID | None = None
    if assignee:
        try:
            assignee_id = UUID(assignee)
        except ValueError:
            errors["assignee"] = "not a member of this organization"
    wanted = store.TicketChange(
        status=status or None,
        note=note.replace("\r\n", "\n"),
        assignee_id=assignee_id,
        unassign=not assignee,
    )
    if not errors:
        try:
            await change(pool, user, ticket_id, wanted)
        except store.FieldErrors as exc:
            errors = exc.errors
    if not errors:
        return RedirectResponse(f"/tickets/{ticket_id}?saved=1", status_code=303)
    _scope, detail = await locate_ticket(pool, user, ticket_id)
    if not may_change(user, detail):
        raise HTTPException(403, "only an owner of the organization may change its tickets")
    context = _ticket_context(user, detail, settings.operations_time_zone)
    values = {"status": status, "note": note, "assignee": assignee}
    return render(
        request,
        "tickets/ticket.html",
        {**context, "values": values, "errors": errors, "saved": False},
        status_code=422,
    )
