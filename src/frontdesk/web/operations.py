"""The operations dashboard: `/operations` (live calls, history, analytics) and its JSON API.

Owns: the page `/operations`, one call's page `/operations/calls/{id}` (with its recording's
player), and `GET /api/v1/operations/{live,calls,calls/{id},calls/{id}/recording,analytics}`;
which organization a request is about (`org`, a slug: a member sees only their own
organizations, 404 for any other; an operator sees every organization, or the one they
pick); turning query parameters into validated filters (API: 422 problem details naming
the parameter; page: the error next to its field, status 422, no history shown until it is
corrected); the JSON shapes.
Live counts on the page update through `/events/live` (live.py); on a change the page
fetches `/api/v1/operations/live` again for the calls themselves.

Must not: filter tenant rows itself (the RLS-scoped transaction of auth.scoped_tx does, and
the store's queries only narrow further), query tables directly (frontdesk.store.history
does), or log callers or transcripts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import urlencode
from uuid import UUID
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel

from frontdesk.errors import NotFound
from frontdesk.recordings.writer import MEDIA_TYPE, SUFFIX, relative_path
from frontdesk.store import history as store
from frontdesk.store.admission import REAPED_REASONS
from frontdesk.store.engine import Connection, Pool
from frontdesk.store.orgs import Org, get_org, list_orgs
from frontdesk.store.tx import operator_tx
from frontdesk.store.web_auth import Principal
from frontdesk.web.auth import CurrentUser, PoolDep, SettingsDep, membership, scoped_tx
from frontdesk.web.problems import PROBLEM_RESPONSES
from frontdesk.web.templating import render

DEFAULT_DAYS: Final = 30
PAGE_ROWS: Final = 50

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/v1/operations", tags=["operations"], responses=PROBLEM_RESPONSES)


# ---------------------------------------------------------------------------- scope
async def resolve_org(pool: Pool, user: Principal, org: str | None) -> UUID | None:
    """The organization a request is about: None only for an operator who named none.

    A member naming an organization that is not theirs gets 404, the same answer as for one
    that does not exist, so the answer tells nothing about other tenants.
    """
    if not user.is_operator:
        chosen = membership(user, org)
        assert chosen is not None  # never None for a member
        return chosen.org_id
    if org is None or org == "":
        return None
    async with operator_tx(pool) as conn:
        try:
            return (await get_org(conn, org)).id
        except NotFound as exc:
            raise HTTPException(404, "no such organization") from exc


def _filter_error(exc: store.InvalidFilter) -> HTTPException:
    return HTTPException(422, str(exc))


def _zone(tz: str | None, default: str) -> ZoneInfo:
    try:
        return store.time_zone(tz or default)
    except store.InvalidFilter as exc:
        raise _filter_error(exc) from exc


def _days(start: date | None, end: date | None, tz: ZoneInfo) -> tuple[date, date]:
    today = datetime.now(tz).date()
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    try:
        store.day_range(start, end, tz)
    except store.InvalidFilter as exc:
        raise _filter_error(exc) from exc
    return start, end


async def _check_number(conn: Connection, number_id: UUID | None) -> None:
    """404 for a number this connection cannot see (another tenant's, or none)."""
    if number_id is None:
        return
    if not await store.can_see_number(conn, number_id):
        raise HTTPException(404, "no such number")


class HistoryQuery:
    """The history's query parameters, shared by the page and the API."""

    def __init__(
        self,
        start: Annotated[date | None, Query(alias="from", description="first day")] = None,
        end: Annotated[date | None, Query(alias="to", description="last day")] = None,
        number: Annotated[UUID | None, Query(description="sip number id")] = None,
        outcome: Annotated[str | None, Query(max_length=20)] = None,
        reason: Annotated[str | None, Query(max_length=200)] = None,
        caller: Annotated[str | None, Query(max_length=40, description="number prefix")] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=store.MAX_PAGE)] = PAGE_ROWS,
        tz: Annotated[str | None, Query(max_length=64, description="IANA zone")] = None,
    ) -> None:
        self.start, self.end, self.number = start, end, number
        self.outcome, self.reason, self.caller = outcome, reason, caller
        self.cursor, self.limit, self.tz = cursor, limit, tz

    def validated(self, tz: ZoneInfo) -> store.HistoryFilter:
        """The store's filter; `store.InvalidFilter` (naming the field) when one is wrong."""
        low, high = store.day_range(self.start, self.end, tz)
        return store.history_filter(
            start=low,
            end=high,
            number_id=self.number,
            outcome=self.outcome,
            reason=self.reason,
            caller=self.caller,
        )

    def build(self, tz: ZoneInfo) -> store.HistoryFilter:
        """`validated`, with a wrong field as a 422 problem (the API)."""
        try:
            return self.validated(tz)
        except store.InvalidFilter as exc:
            raise _filter_error(exc) from exc

    def params(self, **changes: Any) -> str:
        """The query string of this view with `changes` (None drops a parameter)."""
        values: dict[str, Any] = {
            "from": self.start,
            "to": self.end,
            "number": self.number,
            "outcome": self.outcome,
            "reason": self.reason,
            "caller": self.caller,
            "tz": self.tz,
        }
        values.update(changes)
        return urlencode({k: str(v) for k, v in values.items() if v not in (None, "")})


History = Annotated[HistoryQuery, Depends()]


# ---------------------------------------------------------------------------- JSON shapes
class LiveCallOut(BaseModel):
    session_id: UUID
    call_id: str
    caller: str
    node_id: str
    started_at: datetime


class LiveNumberOut(BaseModel):
    number_id: UUID
    phone_number: str
    label: str
    org: str
    max_concurrent_calls: int
    live: int
    calls: list[LiveCallOut]


class CallOut(BaseModel):
    session_id: UUID
    org: str | None
    caller: str
    called: str
    number_label: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    outcome: str
    reason: str | None
    reject_status: int | None
    tickets: int


class CallPageOut(BaseModel):
    calls: list[CallOut]
    next_cursor: str | None


class TicketOut(BaseModel):
    ticket_id: UUID
    subject: str
    status: str
    created_at: datetime


class CallDetailOut(CallOut):
    call_id: str
    node_id: str
    transcript: list[Any]
    ticket_list: list[TicketOut]
    #: the post-call summary and its fields (intent, outcome, caller_name, callback_number)
    summary: str | None = None
    summary_data: dict[str, Any] | None = None
    recording_url: str | None = None  # GET it for the call's audio (Ogg Opus, stereo)


class DayOut(BaseModel):
    day: date
    calls: int
    completed: int
    refused: int


class RefusalsOut(BaseModel):
    group: str
    calls: int
    reasons: dict[str, int]


class AnalyticsOut(BaseModel):
    start: date
    end: date
    tz: str
    days: list[DayOut]
    total: int
    answered: int
    average_duration_s: float | None
    heatmap: list[list[int]]
    refusals: list[RefusalsOut]


def _call_out(row: store.HistoryRow) -> CallOut:
    values = asdict(row)
    duration = values.pop("duration")
    values["org"] = values.pop("org_slug")
    values["duration_s"] = duration.total_seconds() if duration is not None else None
    return CallOut(**values)


def _live_out(number: store.LiveNumber) -> LiveNumberOut:
    return LiveNumberOut(
        number_id=number.number_id,
        phone_number=number.phone_number,
        label=number.label,
        org=number.org_slug,
        max_concurrent_calls=number.max_concurrent_calls,
        live=number.live,
        calls=[LiveCallOut(**asdict(call)) for call in number.calls],
    )


def _analytics_out(result: store.Analytics) -> AnalyticsOut:
    return AnalyticsOut(**asdict(result))


Org_ = Annotated[str | None, Query(alias="org", max_length=63, description="organization slug")]


# ---------------------------------------------------------------------------- reads
async def _history(
    pool: Pool, user: Principal, org_id: UUID | None, query: HistoryQuery, tz: ZoneInfo
) -> store.HistoryPage:
    flt = query.build(tz)
    async with scoped_tx(pool, user, org_id) as conn:
        await _check_number(conn, flt.number_id)
        try:
            return await store.history(conn, org_id, flt, limit=query.limit, cursor=query.cursor)
        except store.InvalidFilter as exc:
            raise _filter_error(exc) from exc


async def _detail(
    pool: Pool, user: Principal, org_id: UUID | None, session_id: UUID
) -> store.SessionDetail:
    async with scoped_tx(pool, user, org_id) as conn:
        detail = await store.session_detail(conn, org_id, session_id)
    if detail is None:
        raise HTTPException(404, "no such call")
    return detail


async def _analytics(
    pool: Pool, user: Principal, org_id: UUID | None, days: tuple[date, date], tz: ZoneInfo
) -> store.Analytics:
    async with scoped_tx(pool, user, org_id) as conn:
        return await store.analytics(conn, org_id, days[0], days[1], tz)


async def _live(pool: Pool, user: Principal, org_id: UUID | None) -> list[store.LiveNumber]:
    async with scoped_tx(pool, user, org_id) as conn:
        return await store.live_numbers(conn, org_id)


# ---------------------------------------------------------------------------- API
@api.get("/live", response_model=list[LiveNumberOut])
async def live_api(user: CurrentUser, pool: PoolDep, org: Org_ = None) -> list[LiveNumberOut]:
    """Calls in progress per number (all numbers of one organization; for an operator who
    names none, the numbers with a call)."""
    org_id = await resolve_org(pool, user, org)
    return [_live_out(n) for n in await _live(pool, user, org_id)]


@api.get("/calls", response_model=CallPageOut)
async def calls_api(
    user: CurrentUser, pool: PoolDep, settings: SettingsDep, query: History, org: Org_ = None
) -> CallPageOut:
    """Call attempts, newest first, filtered; `next_cursor` fetches the next page."""
    org_id = await resolve_org(pool, user, org)
    tz = _zone(query.tz, settings.operations_time_zone)
    page = await _history(pool, user, org_id, query, tz)
    return CallPageOut(calls=[_call_out(r) for r in page.rows], next_cursor=page.next_cursor)


@api.get("/calls/{session_id}", response_model=CallDetailOut)
async def call_api(
    session_id: UUID, user: CurrentUser, pool: PoolDep, settings: SettingsDep, org: Org_ = None
) -> CallDetailOut:
    """One call with its transcript and the tickets created during it."""
    org_id = await resolve_org(pool, user, org)
    detail = await _detail(pool, user, org_id, session_id)
    return CallDetailOut(
        **_call_out(detail.row).model_dump(),
        call_id=detail.call_id,
        node_id=detail.node_id,
        transcript=detail.transcript,
        ticket_list=[TicketOut(**asdict(t)) for t in detail.tickets],
        summary=detail.summary,
        summary_data=detail.summary_data,
        recording_url=(
            recording_url(session_id, org)
            if call_recording(settings.recordings_path, detail) is not None
            else None
        ),
    )


def recording_url(session_id: UUID, org: str | None) -> str:
    query = f"?{urlencode({'org': org})}" if org else ""
    return f"/api/v1/operations/calls/{session_id}/recording{query}"


@api.get(
    "/calls/{session_id}/recording",
    response_class=FileResponse,
    responses={200: {"content": {MEDIA_TYPE: {}}, "description": "the recording"}},
)
async def recording_api(
    session_id: UUID, user: CurrentUser, pool: PoolDep, settings: SettingsDep, org: Org_ = None
) -> FileResponse:
    """The call's recording (Ogg Opus, caller left, agent right); Range requests work.

    404 when the call is not this user's to see, was not recorded, or its recording was
    deleted by retention.
    """
    org_id = await resolve_org(pool, user, org)
    detail = await _detail(pool, user, org_id, session_id)
    path = call_recording(settings.recordings_path, detail)
    if path is None:
        raise HTTPException(404, "this call has no recording")
    return FileResponse(path, media_type=MEDIA_TYPE, filename=f"call-{session_id}{SUFFIX}")


def call_recording(directory: Path, detail: store.SessionDetail) -> Path | None:
    """The call's recording file, if it is still there.

    The one its session row names; for a call whose node died under it (its row ended by
    another node, which cannot know the call was recorded) the file its recording would
    have, `<org id>/<session id>.ogg`, if that exists: what the media worker had flushed.
    """
    if detail.recording_path or detail.row.reason not in REAPED_REASONS or not detail.org_id:
        return _recording_file(directory, detail.recording_path)
    return _recording_file(directory, relative_path(detail.org_id, detail.row.session_id))


def _recording_file(directory: Path, relative: str | None) -> Path | None:
    """The file a session row names, if it is still there (and inside the directory)."""
    if not relative:
        return None
    root = directory.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


@api.get("/analytics", response_model=AnalyticsOut)
async def analytics_api(
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    org: Org_ = None,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
) -> AnalyticsOut:
    """Finished calls of a range of days (default: the last 30): per day, average talk
    time, weekday x hour heat map (ISO weekday 1 = Monday first), refusals by reason."""
    org_id = await resolve_org(pool, user, org)
    zone = _zone(tz, settings.operations_time_zone)
    days = _days(start, end, zone)
    return _analytics_out(await _analytics(pool, user, org_id, days, zone))


# ---------------------------------------------------------------------------- pages
async def org_choices(pool: Pool, user: Principal) -> list[tuple[str, str]]:
    if user.is_operator:
        async with operator_tx(pool) as conn:
            orgs: list[Org] = await list_orgs(conn)
        return [(o.slug, o.name) for o in orgs]
    return [(m.org_slug, m.org_name) for m in user.memberships]


_PAGE_FIELDS: Final = ("from", "to", "number", "outcome", "reason", "caller", "cursor", "tz")


def page_query(raw: Mapping[str, str]) -> tuple[HistoryQuery, dict[str, str]]:
    """The page's filters from its query string, and an error per field that is wrong.

    Unlike the API (a 422 problem), the page shows each error next to its field: a wrong
    field is left out of the returned query and named in the errors.
    """
    errors: dict[str, str] = {}
    text = {name: raw.get(name, "").strip() for name in _PAGE_FIELDS}
    for name, value in text.items():
        if len(value) > 200:
            errors[name] = "too long"
            text[name] = ""

    def day(name: str) -> date | None:
        if not text[name]:
            return None
        try:
            return date.fromisoformat(text[name])
        except ValueError:
            errors[name] = "a date such as 2026-12-03"
            return None

    number: UUID | None = None
    if text["number"]:
        try:
            number = UUID(text["number"])
        except ValueError:
            errors["number"] = "pick a number from the list"
    query = HistoryQuery(
        start=day("from"),
        end=day("to"),
        number=number,
        outcome=text["outcome"] or None,
        reason=text["reason"] or None,
        caller=text["caller"] or None,
        cursor=text["cursor"] or None,
        tz=text["tz"] or None,
    )
    return query, errors


def _field(exc: store.InvalidFilter) -> str:
    """The page field an InvalidFilter is about (the API's names, `from`/`to` included)."""
    return exc.field if exc.field in _PAGE_FIELDS else "from"


@pages.get("/operations")
async def operations_page(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    org: Org_ = None,
) -> Response:
    org_id = await resolve_org(pool, user, org)
    query, errors = page_query(request.query_params)
    try:
        tz = store.time_zone(query.tz or settings.operations_time_zone)
    except store.InvalidFilter as exc:
        errors[_field(exc)] = str(exc).split(": ", 1)[-1]
        query.tz = None
        tz = store.time_zone(settings.operations_time_zone)
    page = store.HistoryPage([], None)
    if not errors:
        try:
            flt = query.validated(tz)
            async with scoped_tx(pool, user, org_id) as conn:
                await _check_number(conn, flt.number_id)
                page = await store.history(conn, org_id, flt, limit=PAGE_ROWS, cursor=query.cursor)
        except HTTPException as exc:  # a number this user cannot see
            if exc.status_code != 404:
                raise
            errors["number"] = "pick a number from the list"
        except store.InvalidFilter as exc:
            errors[_field(exc)] = str(exc).split(": ", 1)[-1]
    try:
        days = _days(query.start, query.end, tz)
    except HTTPException:
        days = _days(None, None, tz)
    async with scoped_tx(pool, user, org_id) as conn:
        live = await store.live_numbers(conn, org_id)
        result = await store.analytics(conn, org_id, days[0], days[1], tz)
        number_choices = await store.number_choices(conn, org_id)
    base = {"org": org} if org else {}
    return render(
        request,
        "operations/index.html",
        {
            "org": org or "",
            "orgs": await org_choices(pool, user),
            "query": query,
            "raw": {name: request.query_params.get(name, "")[:200] for name in _PAGE_FIELDS},
            "errors": errors,
            "tz": tz.key,
            "zone": tz,
            "page": page,
            "live": live,
            "analytics": result,
            "chart": _analytics_out(result).model_dump(mode="json"),
            "numbers": number_choices,
            "outcomes": store.OUTCOMES,
            "reasons": store.HISTORY_REASONS,
            "org_query": urlencode(base),
            "next_url": (
                "/operations?"
                + "&".join(filter(None, [urlencode(base), query.params(cursor=page.next_cursor)]))
                if page.next_cursor
                else None
            ),
        },
        status_code=422 if errors else 200,
    )


@pages.get("/operations/calls/{session_id}")
async def call_page(
    request: Request,
    session_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    settings: SettingsDep,
    org: Org_ = None,
) -> Response:
    org_id = await resolve_org(pool, user, org)
    detail = await _detail(pool, user, org_id, session_id)
    return render(
        request,
        "operations/call.html",
        {
            "detail": detail,
            "org": org or "",
            "zone": _zone(None, settings.operations_time_zone),
            "recording_url": (
                recording_url(session_id, org)
                if call_recording(settings.recordings_path, detail) is not None
                else None
            ),
        },
    )


router = APIRouter()
router.include_router(pages)
router.include_router(api)
