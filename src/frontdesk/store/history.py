"""Operations queries: live calls per number, call history, one call's detail, analytics.

Owns: the read queries of the operations dashboard, over `sessions`, `active_calls`,
`tickets` and the hourly rollups of migration 0007, and the validation of their filters
(`InvalidFilter`, raised before any SQL runs).

Whose rows: every function takes a connection opened by `tenant_tx` or `operator_tx` (or
the web layer's RLS-scoped helper) and an `org_id`. Row-level security decides what the
connection sees; `org_id` only narrows further (an operator picking one organization), or
is None for "every organization", which only an operator's connection may ask for (the
all-organizations rollup is not granted to tenants: asking as a tenant fails loudly).

Why it stays fast at 1,000,000 sessions: the history is paged by keyset on
(started_at, id) descending, the order of an index for each filter (0007), so a page reads
`limit` index entries whatever the depth; analytics read the hourly rollups, never
`sessions`. No query here counts all matching rows.

Must not: filter tenants itself, build SQL text from input (values are parameters; the SQL
is chosen among fixed fragments), or log caller numbers or transcripts.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final, LiteralString
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from psycopg import sql

from frontdesk.calls.decision import RefusalReason
from frontdesk.store.engine import Connection

OUTCOMES: Final = ("in-progress", "completed", "rejected", "cancelled", "failed")
MAX_PAGE: Final = 200
MAX_RANGE_DAYS: Final = 366 * 2
_MAX_CALLER = 32

_R = RefusalReason
#: every refusal reason (`RefusalReason`, the one list) by the group the dashboard shows
#: it under; a test fails when a reason has none. A reason not recorded by this version
#: (an older row) is shown under "other".
REFUSAL_GROUPS: Final[dict[str, str]] = {
    _R.LIMIT_NUMBER: "number limit",
    _R.LIMIT_ORG: "organization limit",
    _R.LIMIT_NODE: "node limit",
    _R.UNKNOWN_NUMBER: "unknown number",
    _R.NUMBER_INACTIVE: "inactive",
    _R.ORG_SUSPENDED: "inactive",
    _R.NUMBER_CHANGED: "inactive",
    _R.OVERLOAD: "other",
    _R.DATABASE_UNAVAILABLE: "other",
    _R.DECIDER_ERROR: "other",
    _R.SHUTTING_DOWN: "other",
    _R.RTP_PORTS_EXHAUSTED: "other",
    _R.BAD_SDP: "other",
    _R.UNACCEPTABLE_MEDIA: "other",
    _R.BAD_INVITE: "other",
}
#: the reasons the history filter offers: how answered calls commonly end, then every
#: refusal reason
HISTORY_REASONS: Final = ("remote-bye", "media-timeout", "cancel", *(r.value for r in _R))
REFUSAL_GROUP_ORDER: Final = (
    "number limit",
    "organization limit",
    "node limit",
    "unknown number",
    "inactive",
    "other",
)


async def can_see_number(conn: Connection, number_id: UUID) -> bool:
    """Whether this connection (RLS decides: a tenant's own numbers) sees the number."""
    cursor = await conn.execute(b"SELECT 1 FROM sip_numbers WHERE id = %s", (number_id,))
    return await cursor.fetchone() is not None


async def number_choices(conn: Connection, org_id: UUID | None) -> list[tuple[UUID, str, str]]:
    """(id, number, label) of the numbers a history filter offers, by number (500 at most)."""
    cursor = await conn.execute(
        b"SELECT id, phone_number, label FROM sip_numbers"
        b" WHERE %(org)s::uuid IS NULL OR organization_id = %(org)s"
        b" ORDER BY phone_number LIMIT 500",
        {"org": org_id},
    )
    return list(await cursor.fetchall())


class InvalidFilter(ValueError):
    """A filter, cursor or range the queries refuse; the message says which and why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


# ---------------------------------------------------------------------------- filters
@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What a history page is narrowed to. Build it with `history_filter` (validates)."""

    start: datetime | None = None  # started_at >= start
    end: datetime | None = None  # started_at < end
    number_id: UUID | None = None
    outcome: str | None = None
    reason: str | None = None
    caller: str | None = None  # a prefix of the caller's number, as stored


def time_zone(name: str | None) -> ZoneInfo:
    """The named IANA zone (UTC when empty); `InvalidFilter` for an unknown name."""
    if not name:
        return ZoneInfo("UTC")
    if len(name) > 64 or name not in _zones():
        raise InvalidFilter("tz", "not an IANA time zone name (such as Europe/Rome)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidFilter("tz", "not an IANA time zone name (such as Europe/Rome)") from exc


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
        _ZONES.add("UTC")
    return _ZONES


def day_range(
    start: date | None, end: date | None, tz: ZoneInfo
) -> tuple[datetime | None, datetime | None]:
    """Local days [start, end] (both inclusive) as [start 00:00, day after end 00:00)."""
    if start is not None and end is not None:
        if end < start:
            raise InvalidFilter("to", "the range ends before it starts")
        if (end - start).days > MAX_RANGE_DAYS:
            raise InvalidFilter("to", f"a range covers at most {MAX_RANGE_DAYS} days")
    low = datetime.combine(start, datetime.min.time(), tz) if start else None
    high = datetime.combine(end + timedelta(days=1), datetime.min.time(), tz) if end else None
    return low, high


def history_filter(
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    number_id: UUID | None = None,
    outcome: str | None = None,
    reason: str | None = None,
    caller: str | None = None,
) -> HistoryFilter:
    """A validated `HistoryFilter`: empty strings mean "no filter"."""
    if outcome and outcome not in OUTCOMES:
        raise InvalidFilter("outcome", f"must be one of {', '.join(OUTCOMES)}")
    if reason and (len(reason) > 200 or not reason.isprintable()):
        raise InvalidFilter("reason", "at most 200 printable characters")
    prefix = caller_prefix(caller) if caller else None
    if start is not None and end is not None and end <= start:
        raise InvalidFilter("to", "the range ends before it starts")
    return HistoryFilter(start, end, number_id, outcome or None, reason or None, prefix)


def caller_prefix(caller: str, field_name: str = "caller") -> str:
    """A caller-number prefix as stored ("00" becomes "+", spaces and dashes go)."""
    prefix = "".join(caller.split()).replace("-", "")
    if prefix.startswith("00"):
        prefix = "+" + prefix[2:]
    if not prefix or len(prefix) > _MAX_CALLER or not _caller_chars(prefix):
        raise InvalidFilter(field_name, "digits, an optional leading +, at most 32")
    return prefix


def _caller_chars(text: str) -> bool:
    body = text[1:] if text.startswith("+") else text
    return body.isascii() and body.isdigit()


# ---------------------------------------------------------------------------- cursors
def encode_cursor(started_at: datetime, session_id: UUID) -> str:
    raw = f"{started_at.isoformat()}|{session_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """The (started_at, id) a page continues after; `InvalidFilter` when it is not ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, ident = raw.split("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidFilter("cursor", "not a cursor this server returned") from exc


# ---------------------------------------------------------------------------- live
@dataclass(frozen=True, slots=True)
class LiveCallRow:
    session_id: UUID
    call_id: str
    caller: str
    node_id: str
    started_at: datetime


@dataclass(frozen=True, slots=True)
class LiveNumber:
    """One number and its calls in progress (from `active_calls`: never a counter)."""

    number_id: UUID
    phone_number: str
    label: str
    org_slug: str
    max_concurrent_calls: int
    calls: tuple[LiveCallRow, ...] = field(default_factory=tuple)

    @property
    def live(self) -> int:
        return len(self.calls)


_LIVE_CALLS = b"""
SELECT a.sip_number_id, a.session_id, a.call_id_sip, coalesce(s.caller_number, ''),
       a.node_id, a.started_at
FROM active_calls a LEFT JOIN sessions s ON s.id = a.session_id
WHERE (%(org)s::uuid IS NULL OR a.organization_id = %(org)s)
ORDER BY a.started_at
"""
# one organization: all of its numbers (idle ones too); every organization: only numbers
# with a call (10,000 idle rows help no one)
_LIVE_NUMBERS = b"""
SELECT n.id, n.phone_number, n.label, o.slug, n.max_concurrent_calls
FROM sip_numbers n JOIN organizations o ON o.id = n.organization_id
WHERE (%(org)s::uuid IS NOT NULL AND n.organization_id = %(org)s)
   OR (%(org)s::uuid IS NULL AND n.id = ANY(%(busy)s))
ORDER BY o.slug, n.phone_number
"""


async def live_numbers(conn: Connection, org_id: UUID | None) -> list[LiveNumber]:
    """Calls in progress, grouped by number."""
    cursor = await conn.execute(_LIVE_CALLS, {"org": org_id})
    by_number: dict[UUID, list[LiveCallRow]] = {}
    for number_id, *rest in await cursor.fetchall():
        by_number.setdefault(number_id, []).append(LiveCallRow(*rest))
    cursor = await conn.execute(_LIVE_NUMBERS, {"org": org_id, "busy": list(by_number)})
    return [
        LiveNumber(row[0], row[1], row[2], row[3], row[4], tuple(by_number.get(row[0], ())))
        for row in await cursor.fetchall()
    ]


# ---------------------------------------------------------------------------- history
@dataclass(frozen=True, slots=True)
class HistoryRow:
    session_id: UUID
    org_slug: str | None
    caller: str
    called: str
    number_label: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration: timedelta | None
    outcome: str
    reason: str | None
    reject_status: int | None
    tickets: int


@dataclass(frozen=True, slots=True)
class HistoryPage:
    rows: list[HistoryRow]
    next_cursor: str | None  # None on the last page


_COLUMNS: LiteralString = """
SELECT s.id, o.slug, s.caller_number, s.called_number, n.label, s.started_at, s.answered_at,
       s.ended_at, s.duration, s.outcome, s.reason, s.reject_status,
       (SELECT count(*) FROM tickets t WHERE t.session_id = s.id)"""
_FROM: LiteralString = """
FROM sessions s
LEFT JOIN organizations o ON o.id = s.organization_id
LEFT JOIN sip_numbers n ON n.id = s.sip_number_id"""
_HISTORY_SELECT: LiteralString = _COLUMNS + _FROM
_DETAIL_SELECT: LiteralString = (
    _COLUMNS
    + ", s.call_id_sip, s.node_id, s.transcript, s.summary, s.summary_data, s.recording_path"
    + ", s.organization_id"
    + _FROM
)


def _history_where(
    org_id: UUID | None, flt: HistoryFilter, after: tuple[datetime, UUID] | None
) -> tuple[list[sql.Composable], dict[str, Any]]:
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}
    fragments: list[tuple[LiteralString, str, Any]] = [
        ("s.organization_id = %(org)s", "org", org_id),
        ("s.started_at >= %(start)s", "start", flt.start),
        ("s.started_at < %(end)s", "end", flt.end),
        ("s.sip_number_id = %(number)s", "number", flt.number_id),
        ("s.outcome = %(outcome)s", "outcome", flt.outcome),
        ("s.reason = %(reason)s", "reason", flt.reason),
    ]
    for text, name, value in fragments:
        if value is not None:
            clauses.append(sql.SQL(text))
            params[name] = value
    if flt.caller is not None:
        clauses.append(sql.SQL("s.caller_number LIKE %(caller)s"))
        params["caller"] = like_prefix(flt.caller)
    if after is not None:
        clauses.append(sql.SQL("(s.started_at, s.id) < (%(after_at)s, %(after_id)s)"))
        params["after_at"], params["after_id"] = after
    return clauses, params


def like_prefix(prefix: str) -> str:
    """`prefix` as a LIKE pattern matching what starts with it (wildcards escaped)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def history(
    conn: Connection,
    org_id: UUID | None,
    flt: HistoryFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> HistoryPage:
    """One page of call attempts, newest first; `cursor` continues after a previous page."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidFilter("limit", f"between 1 and {MAX_PAGE}")
    after = decode_cursor(cursor) if cursor else None
    clauses, params = _history_where(org_id, flt, after)
    params["limit"] = limit + 1
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    query = sql.Composed(
        [
            sql.SQL(_HISTORY_SELECT),
            where,
            sql.SQL(" ORDER BY s.started_at DESC, s.id DESC LIMIT %(limit)s"),
        ]
    )
    result = await conn.execute(query, params)
    rows = [HistoryRow(*row) for row in await result.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return HistoryPage(rows, encode_cursor(last.started_at, last.session_id) if last else None)


# ---------------------------------------------------------------------------- detail
@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket_id: UUID
    subject: str
    status: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SessionDetail:
    row: HistoryRow
    call_id: str
    node_id: str
    transcript: list[Any]
    tickets: list[TicketRow]
    summary: str | None = None  # the post-call summary (agent/summary.py), once made
    summary_data: dict[str, Any] | None = None
    recording_path: str | None = None  # relative to the recordings directory
    org_id: UUID | None = None


async def session_detail(
    conn: Connection, org_id: UUID | None, session_id: UUID
) -> SessionDetail | None:
    """One call with its transcript and tickets; None when this connection cannot see it."""
    clauses, params = _history_where(org_id, HistoryFilter(), None)
    clauses.append(sql.SQL("s.id = %(id)s"))
    params["id"] = session_id
    query = sql.Composed(
        [
            sql.SQL(_DETAIL_SELECT),
            sql.SQL(" WHERE "),
            sql.SQL(" AND ").join(clauses),
        ]
    )
    result = await conn.execute(query, params)
    row = await result.fetchone()
    if row is None:
        return None
    tickets = await conn.execute(
        b"SELECT id, subject, status, created_at FROM tickets WHERE session_id = %s"
        b" ORDER BY created_at, id",
        (session_id,),
    )
    transcript = row[15] if isinstance(row[15], list) else []
    return SessionDetail(
        HistoryRow(*row[:13]),
        row[13],
        row[14],
        transcript,
        [TicketRow(*t) for t in await tickets.fetchall()],
        row[16],
        row[17] if isinstance(row[17], dict) else None,
        recording_path=row[18],
        org_id=row[19],
    )


# ---------------------------------------------------------------------------- analytics
@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    calls: int
    completed: int
    refused: int


@dataclass(frozen=True, slots=True)
class Refusals:
    group: str
    calls: int
    reasons: dict[str, int]


@dataclass(frozen=True, slots=True)
class Analytics:
    """Finished calls (not those in progress) of a range of local days."""

    start: date
    end: date
    tz: str
    days: list[DayCount]  # every day of the range, zeros included
    total: int
    answered: int
    average_duration_s: float | None  # over calls with a talk time
    heatmap: list[list[int]]  # [ISO weekday 1..7 → index 0..6][hour 0..23]
    refusals: list[Refusals]  # every group, in REFUSAL_GROUP_ORDER


def _stats_source(org_id: UUID | None) -> tuple[sql.Composable, sql.Composable]:
    if org_id is None:
        return sql.SQL("session_stats_hourly_all"), sql.SQL("TRUE")
    return sql.SQL("session_stats_hourly"), sql.SQL("organization_id = %(org)s")


async def analytics(
    conn: Connection, org_id: UUID | None, start: date, end: date, tz: ZoneInfo
) -> Analytics:
    """Calls per day, average talk time, weekday x hour heat map, refusals by reason."""
    low, high = day_range(start, end, tz)
    table, scope = _stats_source(org_id)
    params: dict[str, Any] = {"org": org_id, "low": low, "high": high, "tz": tz.key}
    where = sql.SQL(" WHERE {} AND hour >= %(low)s AND hour < %(high)s").format(scope)

    async def fetch(select: LiteralString, tail: LiteralString) -> list[tuple[Any, ...]]:
        query = sql.Composed([sql.SQL(select), sql.SQL(" FROM "), table, where, sql.SQL(tail)])
        return await (await conn.execute(query, params)).fetchall()

    per_day = await fetch(
        "SELECT (hour AT TIME ZONE %(tz)s)::date, sum(calls),"
        " coalesce(sum(calls) FILTER (WHERE outcome = 'completed'), 0),"
        " coalesce(sum(calls) FILTER (WHERE outcome = 'rejected'), 0)",
        " GROUP BY 1",
    )
    cells = await fetch(
        "SELECT extract(isodow FROM hour AT TIME ZONE %(tz)s)::int,"
        " extract(hour FROM hour AT TIME ZONE %(tz)s)::int, sum(calls),"
        " sum(answered), sum(duration_s)",
        " GROUP BY 1, 2",
    )
    refused = await fetch("SELECT reason, sum(calls)", " AND outcome = 'rejected' GROUP BY reason")
    counted = {row[0]: DayCount(row[0], int(row[1]), int(row[2]), int(row[3])) for row in per_day}
    days = [
        counted.get(start + timedelta(days=i), DayCount(start + timedelta(days=i), 0, 0, 0))
        for i in range((end - start).days + 1)
    ]
    heatmap = [[0] * 24 for _ in range(7)]
    answered = 0
    talk = 0.0
    for weekday, hour, calls, talked, seconds in cells:
        heatmap[weekday - 1][hour] += int(calls)
        answered += int(talked)
        talk += float(seconds)
    return Analytics(
        start,
        end,
        tz.key,
        days,
        sum(d.calls for d in days),
        answered,
        talk / answered if answered else None,
        heatmap,
        _group_refusals((str(r[0]), int(r[1])) for r in refused),
    )


def _group_refusals(rows: Any) -> list[Refusals]:
    grouped: dict[str, dict[str, int]] = {name: {} for name in REFUSAL_GROUP_ORDER}
    for reason, calls in rows:
        if calls:
            group = REFUSAL_GROUPS.get(reason, "other")
            grouped[group][reason or "(none)"] = calls
    return [
        Refusals(name, sum(grouped[name].values()), dict(sorted(grouped[name].items())))
        for name in REFUSAL_GROUP_ORDER
    ]
