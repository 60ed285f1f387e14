"""The operator pages under `/admin`: every number, adding, assigning, organizations, audit.

Owns: the numbers table across organizations with live counts, search (number or label) and
filters (organization, active state; a value not offered is shown as an error next to its
field, and no number is listed until it is corrected); adding numbers, one or a pasted list,
all or nothing (every line is tried in one transaction; if any line is refused, nothing is
added and each refused line is shown with its line number, the number and why); assigning
and reassigning a number (audited by the database trigger with `user:<email>` and the time;
when the number has live calls, a confirmation first says that those calls continue with the
old organization and new calls go to the new one); organizations with their limits and
active state, which operators may change here (suspending one asks first, naming its live
calls); notifications that failed for 24 hours (the outbox's `failed` rows), each
with a retry button that sends it again with a new window. Success banners come only from
fixed keys (`?done=KEY`, words.BANNERS): no free text
from a link reaches the page.

Must not: be reachable by anyone but an operator (403 page), or hold data rules
(frontdesk.store.numbers / orgs do, the same functions the CLI uses).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.errors import Conflict, InvalidNumber, NotFound
from frontdesk.store import outbox
from frontdesk.store.engine import Connection
from frontdesk.store.numbers import (
    add_number,
    assign_number,
    get_number_by_id,
    list_numbers,
    live_counts,
    recent_assignments,
)
from frontdesk.store.orgs import UNCHANGED, get_org, list_orgs, update_org
from frontdesk.store.tx import operator_tx
from frontdesk.web.auth import Operator, PoolDep, SettingsDep, actor, csrf_protect
from frontdesk.web.templating import render
from frontdesk.web.words import banner

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(csrf_protect)])

MAX_LINES: Final = 1000
FIELD_MAX: Final = 100_000


@dataclass(frozen=True)
class Filters:
    q: str = ""
    org: str = ""
    status: str = ""


class _Rollback(Exception):
    """Raised inside the add transaction to undo every line when one was refused."""


def _live(counts: dict[tuple[UUID, UUID], int], number_id: UUID) -> int:
    return sum(n for (number, _org), n in counts.items() if number == number_id)


async def _context(conn: Connection, filters: Filters) -> dict[str, object]:
    numbers = await list_numbers(conn)
    counts = await live_counts(conn)
    orgs = await list_orgs(conn)
    per_org_numbers: dict[str, int] = {}
    per_org_live: dict[UUID, int] = {}
    for row in numbers:
        per_org_numbers[row.org_slug] = per_org_numbers.get(row.org_slug, 0) + 1
    for (_number, org_id), n in counts.items():
        per_org_live[org_id] = per_org_live.get(org_id, 0) + n
    filter_errors: dict[str, str] = {}
    if filters.org and filters.org not in {org.slug for org in orgs}:
        filter_errors["org"] = "no such organization: pick one from the list"
    if filters.status not in ("", "active", "inactive"):
        filter_errors["status"] = "pick a state from the list"
    needle = filters.q.strip().lower()
    shown = [
        (row, _live(counts, row.id))
        for row in numbers
        if not filter_errors
        and (not needle or needle in row.phone_number.lower() or needle in row.label.lower())
        and (not filters.org or row.org_slug == filters.org)
        and (
            not filters.status
            or (
                filters.status in ("active", "inactive")
                and (filters.status == "active") == row.active
            )
        )
    ]
    return {
        "numbers": shown,
        "total": len(numbers),
        "orgs": orgs,
        "org_numbers": per_org_numbers,
        "org_live": per_org_live,
        "audit": await recent_assignments(conn, 15),
        "failed_deliveries": await outbox.list_failed(conn, 100),
        "filters": filters,
        "filter_errors": filter_errors,
    }


async def _page(
    request: Request,
    pool: PoolDep,
    user: Operator,
    *,
    filters: Filters | None = None,
    status_code: int = 200,
    **extra: object,
) -> Response:
    async with operator_tx(pool, actor=actor(user)) as conn:
        context = await _context(conn, filters or Filters())
    defaults: dict[str, object] = {"add_errors": [], "add_text": "", "message": None}
    return render(
        request,
        "admin/index.html",
        {**defaults, **context, **extra},
        status_code=422 if context["filter_errors"] and status_code == 200 else status_code,
    )


@router.get("")
@router.get("/numbers")
async def admin_page(
    request: Request,
    user: Operator,
    pool: PoolDep,
    q: str = "",
    org: str = "",
    status: str = "",
    done: str | None = None,
) -> Response:
    filters = Filters(q[:200], org[:63], status[:10])
    if (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-Target") == "numbers-area"
    ):
        async with operator_tx(pool, actor=actor(user)) as conn:
            context = await _context(conn, filters)
        return render(request, "admin/numbers_table.html", context)
    return await _page(request, pool, user, filters=filters, message=banner(done))


def _parse_line(line: str) -> tuple[str, str]:
    for sep in ("\t", ",", ";"):
        if sep in line:
            number, _, label = line.partition(sep)
            return number.strip(), label.strip()
    return line.strip(), ""


@router.post("/numbers")
async def admin_add(
    request: Request,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    numbers: Annotated[str, Form(max_length=FIELD_MAX)],
    org: Annotated[str, Form(max_length=63)],
    max_calls: Annotated[int, Form(ge=1, le=10_000)] = 1,
) -> Response:
    """Add one number or a pasted list ("NUMBER" or "NUMBER, label" per line): all or none."""
    lines = [(i, _parse_line(text)) for i, text in enumerate(numbers.splitlines(), 1)]
    lines = [(i, parsed) for i, parsed in lines if parsed[0]]
    errors: list[str] = []
    if not lines:
        errors.append("paste at least one number")
    elif len(lines) > MAX_LINES:
        errors.append(f"at most {MAX_LINES} numbers at once")
    added: list[str] = []
    if not errors:
        try:
            async with operator_tx(pool, actor=actor(user)) as conn:
                try:
                    await get_org(conn, org)
                except NotFound:
                    errors.append(f"no organization {org!r}")
                    raise _Rollback from None
                for index, (raw, label) in lines:
                    try:
                        row = await add_number(
                            conn,
                            raw,
                            org,
                            label=label[:200] if "\x00" not in label else "",
                            max_concurrent_calls=max_calls,
                            assigned_by=actor(user),
                            default_country=settings.default_country,
                        )
                        added.append(row.phone_number)
                    except (InvalidNumber, Conflict) as exc:
                        errors.append(f"line {index}: {raw}: {exc}")
                if errors:
                    raise _Rollback
        except _Rollback:
            pass
    if errors:
        return await _page(
            request,
            pool,
            user,
            status_code=422,
            add_errors=errors,
            add_text=numbers,
            add_org=org,
        )
    return _done("numbers-added")


@router.post("/numbers/{number_id}/assign")
async def admin_assign(
    request: Request,
    number_id: UUID,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    org: Annotated[str, Form(max_length=63)],
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Assign a number to `org`; with live calls, ask first (unless `confirm` is set)."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        row = await get_number_by_id(conn, number_id)
        target = await get_org(conn, org)
        live = _live(await live_counts(conn), row.id)
        if live and not confirm and target.id != row.organization_id:
            return render(
                request,
                "admin/confirm_assign.html",
                {"row": row, "target": target, "live": live},
            )
        after = await assign_number(
            conn, row.phone_number, org, actor(user), settings.default_country
        )
    return _done("number-unchanged" if after.org_slug == row.org_slug else "number-assigned")


@router.post("/orgs/{slug}")
async def admin_org(
    request: Request,
    user: Operator,
    pool: PoolDep,
    slug: str,
    max_calls: Annotated[str, Form(max_length=12)] = "",
    active: Annotated[str | None, Form(max_length=10)] = None,
    confirm: Annotated[str, Form(max_length=10)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Change an organization's name (when given), limit ('' = no limit) and active state;
    suspending an active organization asks first (how many live calls it has: they
    continue). `back=org` returns to the organization's page."""
    text = max_calls.strip()
    if text and (not text.isdigit() or not 1 <= int(text) <= 1_000_000):
        raise Conflict("max concurrent calls must be a whole number from 1, or empty")
    async with operator_tx(pool, actor=actor(user)) as conn:
        org = await get_org(conn, slug)
        suspending = org.active and active is None
        if suspending and confirm != "yes":
            counts = await live_counts(conn)
            live = sum(n for (_number, org_id), n in counts.items() if org_id == org.id)
            return render(
                request,
                "admin/confirm_suspend.html",
                {"org": org, "live": live, "max_calls": text, "name": name, "back": back},
            )
        await update_org(
            conn,
            slug,
            name=name if name.strip() else UNCHANGED,
            max_concurrent_calls=int(text) if text else None,
            active=active is not None,
        )
    key = "org-suspended" if suspending else "org-updated"
    if back == "org":
        return RedirectResponse(f"/admin/orgs/{slug}?" + urlencode({"done": key}), 303)
    return _done(key)


def _done(key: str) -> Response:
    """Back to /admin with a fixed banner (words.BANNERS)."""
    return RedirectResponse("/admin?" + urlencode({"done": key}), status_code=303)


@router.post("/deliveries/{delivery_id}/retry")
async def admin_retry_delivery(user: Operator, pool: PoolDep, delivery_id: UUID) -> Response:
    """Send a failed notification again now (a fresh retry window)."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        again = await outbox.retry(conn, delivery_id)
    return _done("delivery-queued" if again else "delivery-not-failed")
