"""The ticket inbox's queries: pages of tickets, one ticket with its call, and changing one.

Owns: validating the inbox's filters (`InvalidFilter`, raised before any SQL runs, naming
the field), the keyset-paged list, the CSV batches, one ticket with its call (transcript,
summary) and its organization's members, the change of status / note / assignee (with the
rule that an assignee is a member of the ticket's organization, which migration's foreign key
also enforces), and the recent-ticket read the live events poll.

Whose rows: every function takes a connection opened by `tenant_tx` or `operator_tx` (or the
web layer's `scoped_tx`) and an `org_id`: row-level security decides what the connection
sees, `org_id` only narrows further (an operator picking one organization) or is None for
"every organization this connection sees".

Why it stays fast at 1,000,000 tickets: pages go by keyset on (created_at, id) descending,
the order of an index for each filter (migration "tickets"), so a page reads `limit` index
entries at any depth. A search (ILIKE, any part of a word) first looks among the newest
`SEARCH_RECENT` tickets in page order (a common word fills a page there), then through the
trigram index: directly for operators, through `frontdesk_search_tickets` for tenants,
because under row-level security PostgreSQL will not use a non-leakproof operator such as
ILIKE as an index condition. Nothing counts all rows. The queries are not prepared
server-side: a generic plan ignores which filter is selective (a number's 20,000 tickets
took 0.5 s instead of 3 ms once psycopg prepared the statement).

Must not: decide who may change a ticket (the web layer: owners and operators), build SQL
text from input (values are parameters; SQL is chosen among fixed fragments), or log callers,
summaries or transcripts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Final, LiteralString
from uuid import UUID

from psycopg import sql

from frontdesk.store.agent_records import TICKET_KINDS
from frontdesk.store.engine import Connection
from frontdesk.store.history import (
    InvalidFilter,
    caller_prefix,
    decode_cursor,
    encode_cursor,
    like_prefix,
)

STATUSES: Final = ("open", "in-progress", "done")
#: what a tenant reads for each status
STATUS_WORDS: Final = {"open": "open", "in-progress": "in progress", "done": "done"}
KINDS: Final = ("order", "message", "callback", "complaint", "other")
MAX_PAGE: Final = 200
#: the largest read at once (the CSV export reads in batches of this)
MAX_BATCH: Final = 1000
MAX_NOTE: Final = 10_000
MIN_SEARCH: Final = 3
#: a search first looks among this many newest tickets (of the other filters) in page order
SEARCH_RECENT: Final = 2000
MAX_SEARCH: Final = 200

assert frozenset(KINDS) == TICKET_KINDS


# ---------------------------------------------------------------------------- filters
@dataclass(frozen=True, slots=True)
class TicketFilter:
    """What an inbox page is narrowed to. Build it with `ticket_filter` (validates)."""

    status: str | None = None
    kind: str | None = None
    number_id: UUID | None = None  # the dialled number (sip_numbers.id)
    caller: str | None = None  # a prefix of the caller's number, as stored
    start: datetime | None = None  # created_at >= start
    end: datetime | None = None  # created_at < end
    search: str | None = None  # words anywhere in the summary or the details


def ticket_filter(
    *,
    status: str | None = None,
    kind: str | None = None,
    number_id: UUID | None = None,
    caller: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    search: str | None = None,
) -> TicketFilter:
    """A validated `TicketFilter`: empty strings mean "no filter"."""
    if status and status not in STATUSES:
        raise InvalidFilter("status", f"must be one of {', '.join(STATUSES)}")
    if kind and kind not in KINDS:
        raise InvalidFilter("kind", f"must be one of {', '.join(KINDS)}")
    prefix = caller_prefix(caller) if caller else None
    words: str | None = None
    if search is not None and search.strip():
        words = " ".join(search.split())
        if len(words) < MIN_SEARCH:
            raise InvalidFilter("q", f"type at least {MIN_SEARCH} characters to search")
        if len(words) > MAX_SEARCH or not words.isprintable():
            raise InvalidFilter("q", f"at most {MAX_SEARCH} printable characters")
    if start is not None and end is not None and end <= start:
        raise InvalidFilter("to", "the range ends before it starts")
    return TicketFilter(status or None, kind or None, number_id, prefix, start, end, words)


def _like_anywhere(words: str) -> str:
    escaped = words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(
    org_id: UUID | None, flt: TicketFilter, after: tuple[datetime, UUID] | None
) -> tuple[list[sql.Composable], dict[str, Any]]:
    clauses: list[sql.Composable] = []
    params: dict[str, Any] = {}
    fragments: list[tuple[LiteralString, str, Any]] = [
        ("t.organization_id = %(org)s", "org", org_id),
        ("t.status = %(status)s", "status", flt.status),
        ("t.kind = %(kind)s", "kind", flt.kind),
        ("t.sip_number_id = %(number)s", "number", flt.number_id),
        ("t.created_at >= %(start)s", "start", flt.start),
        ("t.created_at < %(end)s", "end", flt.end),
    ]
    for text, name, value in fragments:
        if value is not None:
            clauses.append(sql.SQL(text))
            params[name] = value
    if flt.caller is not None:
        clauses.append(sql.SQL("t.caller_number LIKE %(caller)s"))
        params["caller"] = like_prefix(flt.caller)
    if flt.search is not None:
        # the indexed expression of the migration, exactly
        clauses.append(sql.SQL("(t.subject || ' ' || t.body) ILIKE %(search)s"))
        params["search"] = _like_anywhere(flt.search)
    if after is not None:
        clauses.append(sql.SQL("(t.created_at, t.id) < (%(after_at)s, %(after_id)s)"))
        params["after_at"], params["after_id"] = after
    return clauses, params


# ---------------------------------------------------------------------------- list
@dataclass(frozen=True, slots=True)
class TicketRow:
    ticket_id: UUID
    org_slug: str
    kind: str
    status: str
    caller: str
    called: str
    number_label: str | None
    created_at: datetime
    summary: str
    session_id: UUID | None
    assignee: str | None  # the assignee's email

    @property
    def status_words(self) -> str:
        return STATUS_WORDS.get(self.status, self.status)


@dataclass(frozen=True, slots=True)
class TicketPage:
    rows: list[TicketRow]
    next_cursor: str | None  # None on the last page


_COLUMNS: LiteralString = """
SELECT t.id, o.slug, t.kind, t.status, t.caller_number, t.called_number, n.label,
       t.created_at, t.subject, t.session_id, u.email"""
_JOINS: LiteralString = """
JOIN organizations o ON o.id = t.organization_id
LEFT JOIN sip_numbers n ON n.id = t.sip_number_id
LEFT JOIN users u ON u.id = t.assignee_id"""
_FROM: LiteralString = "\nFROM tickets t" + _JOINS
_LIST: LiteralString = _COLUMNS + _FROM


async def list_tickets(
    conn: Connection,
    org_id: UUID | None,
    flt: TicketFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TicketPage:
    """One page of tickets, newest first; `cursor` continues after a previous page."""
    if not 1 <= limit <= MAX_BATCH:
        raise InvalidFilter("limit", f"between 1 and {MAX_BATCH}")
    after = decode_cursor(cursor) if cursor else None
    if flt.search is not None:
        recent = await _search_recent(conn, org_id, flt, after, limit)
        if len(recent) > limit:
            return _page(recent, limit)
        if await _is_tenant(conn):
            return await _tenant_search(conn, org_id, flt, after, limit)
    clauses, params = _where(org_id, flt, after)
    params["limit"] = limit + 1
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    query = sql.Composed(
        [sql.SQL(_LIST), where, sql.SQL(" ORDER BY t.created_at DESC, t.id DESC LIMIT %(limit)s")]
    )
    result = await conn.execute(query, params, prepare=False)
    return _page([TicketRow(*row) for row in await result.fetchall()], limit)


def _page(rows: list[TicketRow], limit: int) -> TicketPage:
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return TicketPage(rows, encode_cursor(last.created_at, last.ticket_id) if last else None)


async def _search_recent(
    conn: Connection,
    org_id: UUID | None,
    flt: TicketFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> list[TicketRow]:
    """A search among the newest `SEARCH_RECENT` tickets of the page's filters only: a
    common word fills a page there at once, where the trigram index would fetch and sort
    every match. Fewer than a page's rows found: the caller searches everything."""
    clauses, params = _where(org_id, replace(flt, search=None), after)
    params["search"] = _like_anywhere(flt.search or "")
    params["recent"] = SEARCH_RECENT
    params["limit"] = limit + 1
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    query = sql.Composed(
        [
            sql.SQL(_COLUMNS),
            sql.SQL(" FROM (SELECT t.* FROM tickets t"),
            where,
            sql.SQL(" ORDER BY t.created_at DESC, t.id DESC LIMIT %(recent)s) t"),
            sql.SQL(_JOINS),
            sql.SQL(
                " WHERE (t.subject || ' ' || t.body) ILIKE %(search)s"
                " ORDER BY t.created_at DESC, t.id DESC LIMIT %(limit)s"
            ),
        ]
    )
    result = await conn.execute(query, params, prepare=False)
    return [TicketRow(*row) for row in await result.fetchall()]


async def _is_tenant(conn: Connection) -> bool:
    row = await (await conn.execute(b"SELECT frontdesk_current_org() IS NOT NULL")).fetchone()
    return bool(row and row[0])


async def _tenant_search(
    conn: Connection,
    org_id: UUID | None,
    flt: TicketFilter,
    after: tuple[datetime, UUID] | None,
    limit: int,
) -> TicketPage:
    """A tenant's search: the page's ids from `frontdesk_search_tickets` (migration
    "tickets", section 6: the trigram index under RLS), then the rows under the tenant's
    own RLS, in page order."""
    assert flt.search is not None
    ids = await conn.execute(
        b"SELECT frontdesk_search_tickets(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            _like_anywhere(flt.search),
            flt.status,
            flt.kind,
            flt.number_id,
            like_prefix(flt.caller) if flt.caller is not None else None,
            flt.start,
            flt.end,
            after[0] if after else None,
            after[1] if after else None,
            limit + 1,
        ),
        prepare=False,
    )
    found = [row[0] for row in await ids.fetchall()]
    if not found:
        return TicketPage([], None)
    result = await conn.execute(
        sql.Composed(
            [
                sql.SQL(_LIST),
                sql.SQL(
                    " WHERE t.id = ANY(%(ids)s)"
                    " AND (%(org)s::uuid IS NULL OR t.organization_id = %(org)s)"
                    " ORDER BY t.created_at DESC, t.id DESC"
                ),
            ]
        ),
        {"ids": found, "org": org_id},
        prepare=False,
    )
    return _page([TicketRow(*row) for row in await result.fetchall()], limit)


# ---------------------------------------------------------------------------- one ticket
@dataclass(frozen=True, slots=True)
class Member:
    user_id: UUID
    email: str
    role: str


@dataclass(frozen=True, slots=True)
class TicketDetail:
    row: TicketRow
    organization_id: UUID
    org_name: str
    details: str
    note: str
    assignee_id: UUID | None
    updated_at: datetime
    done_at: datetime | None
    # the call, when the ticket came from one this connection can see
    call_started_at: datetime | None
    call_duration: timedelta | None
    transcript: list[Any]
    call_summary: str | None
    call_summary_data: dict[str, Any] | None
    members: list[Member]
    call_recorded: bool = False  # the call's recording exists (played from the call's API)


_DETAIL: LiteralString = (
    _COLUMNS
    + ", t.organization_id, o.name, t.body, t.note, t.assignee_id, t.updated_at, t.done_at,"
    " s.started_at, s.duration, s.transcript, s.summary, s.summary_data,"
    " s.recording_path IS NOT NULL" + _FROM + " LEFT JOIN sessions s ON s.id = t.session_id"
)


async def get_ticket(conn: Connection, org_id: UUID | None, ticket_id: UUID) -> TicketDetail | None:
    """One ticket with its call and its organization's members; None when not visible."""
    clauses, params = _where(org_id, TicketFilter(), None)
    clauses.append(sql.SQL("t.id = %(id)s"))
    params["id"] = ticket_id
    query = sql.Composed([sql.SQL(_DETAIL), sql.SQL(" WHERE "), sql.SQL(" AND ").join(clauses)])
    row = await (await conn.execute(query, params)).fetchone()
    if row is None:
        return None
    (org, name, body, note, assignee, updated, done, started, duration, transcript) = row[11:21]
    summary, summary_data, recorded = row[21], row[22], bool(row[23])
    members = await conn.execute(
        b"SELECT u.id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        b" WHERE m.organization_id = %s ORDER BY u.email",
        (org,),
    )
    return TicketDetail(
        TicketRow(*row[:11]),
        org,
        name,
        body,
        note,
        assignee,
        updated,
        done,
        started,
        duration,
        transcript if isinstance(transcript, list) else [],
        summary,
        summary_data if isinstance(summary_data, dict) else None,
        [Member(*m) for m in await members.fetchall()],
        recorded,
    )


class FieldErrors(ValueError):
    """Some fields of a ticket change are wrong: `errors` maps each to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class TicketChange:
    """A requested change; None leaves a field alone. `unassign` clears the assignee."""

    status: str | None = None
    note: str | None = None
    assignee_id: UUID | None = None
    unassign: bool = False

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if self.status is not None and self.status not in STATUSES:
            errors["status"] = "must be open, in progress or done"
        if self.note is not None:
            if len(self.note) > MAX_NOTE:
                errors["note"] = f"at most {MAX_NOTE:,} characters"
            elif "\x00" in self.note:
                errors["note"] = "must not contain NUL characters"
        if self.unassign and self.assignee_id is not None:
            errors["assignee"] = "either a person or nobody"
        if errors:
            raise FieldErrors(errors)


async def change_ticket(
    conn: Connection, org_id: UUID | None, ticket_id: UUID, change: TicketChange
) -> bool:
    """Apply `change` (validated; FieldErrors); False when the ticket is not visible.

    The assignee must be a member of the ticket's organization (FieldErrors "assignee").
    `done_at` follows the status: set when it becomes done, cleared when it is reopened.
    """
    change.validate()
    clauses, params = _where(org_id, TicketFilter(), None)
    clauses.append(sql.SQL("t.id = %(id)s"))
    params["id"] = ticket_id
    found = await conn.execute(
        sql.Composed(
            [
                sql.SQL("SELECT t.organization_id FROM tickets t WHERE "),
                sql.SQL(" AND ").join(clauses),
                sql.SQL(" FOR UPDATE"),
            ]
        ),
        params,
    )
    row = await found.fetchone()
    if row is None:
        return False
    ticket_org: UUID = row[0]
    if change.assignee_id is not None:
        member = await conn.execute(
            b"SELECT 1 FROM memberships WHERE user_id = %s AND organization_id = %s",
            (change.assignee_id, ticket_org),
        )
        if await member.fetchone() is None:
            raise FieldErrors({"assignee": "not a member of this organization"})
    await conn.execute(
        b"UPDATE tickets SET"
        b" status = coalesce(%(status)s, status),"
        b" done_at = CASE WHEN coalesce(%(status)s, status) = 'done'"
        b"   THEN coalesce(done_at, now()) END,"
        b" note = coalesce(%(note)s, note),"
        b" assignee_id = CASE WHEN %(unassign)s THEN NULL"
        b"   ELSE coalesce(%(assignee)s, assignee_id) END,"
        b" updated_at = now()"
        b" WHERE id = %(id)s",
        {
            "status": change.status,
            "note": change.note,
            "assignee": change.assignee_id,
            "unassign": change.unassign,
            "id": ticket_id,
        },
    )
    return True


# ---------------------------------------------------------------------------- live
@dataclass(frozen=True, slots=True)
class NewTicket:
    ticket_id: UUID
    organization_id: UUID
    created_at: datetime


async def recent_tickets(conn: Connection, window_s: float) -> list[NewTicket]:
    """Tickets created in the last `window_s` seconds (database clock), oldest first.

    A ticket's created_at is its transaction's start, so one committed late can carry an
    earlier stamp: the live poller reads a window and remembers what it has announced.
    """
    cursor = await conn.execute(
        b"SELECT id, organization_id, created_at FROM tickets"
        b" WHERE created_at > now() - make_interval(secs => %s)"
        b" ORDER BY created_at, id LIMIT 500",
        (window_s,),
    )
    return [NewTicket(*row) for row in await cursor.fetchall()]
