"""`/settings/hours`: an organization's business hours and what callers get when closed.

Owns: the form of the organization-level `business_hours` key of `TenantConfig`: per
weekday the open intervals ("09:00-13:00, 15:00-19:00"; "20:00-02:00" runs overnight),
the IANA timezone, closed dates (one `YYYY-MM-DD` a line), and `when_closed` (the closed
greeting only, take a message, or transfer to another number). The whole form is checked
before anything is written; an error sits next to its field and nothing is saved. Owners
change; members view. Per-number hours are an override like any other key
(`frontdesk number set NUMBER --set business_hours=JSON`).

Must not: read another organization's configuration (every read and write is in the
member's `tenant_tx`, under RLS), or read the clock for anything but the page's
"open now" line.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from frontdesk.store.orgs import get_org_config, set_org_config
from frontdesk.store.tx import tenant_tx
from frontdesk.store.web_auth import OrgMembership
from frontdesk.tenancy.config import ConfigOverrideError
from frontdesk.tenancy.hours import (
    DAY_NAMES,
    DEFAULT_CLOSED_GREETING,
    DEFAULT_TIMEZONE,
    WEEKDAYS,
    BusinessHours,
    OpenInterval,
    hours_status,
    known_timezones,
    spoken_status,
)
from frontdesk.web.auth import (
    CurrentUser,
    PoolDep,
    csrf_protect,
    require_settings_owner,
    settings_membership,
)
from frontdesk.web.templating import render
from frontdesk.web.words import banner

router = APIRouter(
    prefix="/settings/hours", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)
_RANGE = re.compile(r"^(\d{1,2}):?(\d{2})?\s*-\s*(\d{1,2}):?(\d{2})?$")


def _form_values(hours: BusinessHours | None) -> dict[str, str]:
    hours = hours or BusinessHours()
    values: dict[str, str] = {
        day: ", ".join(str(i) for i in hours.weekly.get(day, ())) for day in WEEKDAYS
    }
    values |= {
        "timezone": hours.timezone,
        "closed_dates": "\n".join(d.isoformat() for d in hours.closed_dates),
        "when_closed": hours.when_closed,
        "closed_greeting": hours.closed_greeting,
        "closed_transfer_target": hours.closed_transfer_target or "",
    }
    return values


def _intervals(text: str) -> list[OpenInterval]:
    """ "09:00-13:00, 15-19" as intervals; ValueError naming the part that is not one."""
    found = []
    for part in (p.strip() for p in re.split(r"[,;]", text)):
        if not part:
            continue
        match = _RANGE.match(part)
        if match is None:
            raise ValueError(f"{part!r} is not a time range like 09:00-13:00")
        opens = f"{int(match[1]):02d}:{match[2] or '00'}"
        closes = (
            f"{int(match[3]) % 24 if match[3] == '24' else int(match[3]):02d}:{match[4] or '00'}"
        )
        try:
            found.append(OpenInterval(opens=opens, closes=closes))
        except ValidationError as exc:
            raise ValueError(
                f"{part}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}"
            ) from exc
    return found


def _checked(values: dict[str, str]) -> tuple[BusinessHours | None, dict[str, str]]:
    """The form as a schedule, or the errors by field (nothing is saved when any)."""
    errors: dict[str, str] = {}
    weekly: dict[str, list[OpenInterval]] = {}
    for day in WEEKDAYS:
        try:
            weekly[day] = _intervals(values[day])
        except ValueError as exc:
            errors[day] = str(exc)
    dates: list[date] = []
    for line in (x.strip() for x in values["closed_dates"].splitlines()):
        if not line:
            continue
        try:
            dates.append(date.fromisoformat(line))
        except ValueError:
            errors["closed_dates"] = f"{line!r} is not a date like 2026-12-25"
            break
    if values["timezone"] not in set(known_timezones()) | {DEFAULT_TIMEZONE}:
        errors["timezone"] = f"{values['timezone']!r} is not an IANA timezone (e.g. Europe/Rome)"
    if values["when_closed"] not in ("greeting", "message", "transfer"):
        errors["when_closed"] = "choose what callers get when you are closed"
    if not values["closed_greeting"].strip():
        errors["closed_greeting"] = "say something to callers when you are closed"
    elif len(values["closed_greeting"]) > 1000:
        errors["closed_greeting"] = "at most 1000 characters"
    if values["when_closed"] == "transfer" and not values["closed_transfer_target"].strip():
        errors["closed_transfer_target"] = "transfer needs a number or extension to transfer to"
    if errors:
        return None, errors
    try:
        return BusinessHours.model_validate(
            {
                "timezone": values["timezone"],
                "weekly": weekly,
                "closed_dates": dates,
                "when_closed": values["when_closed"],
                "closed_greeting": values["closed_greeting"].strip(),
                "closed_transfer_target": values["closed_transfer_target"].strip() or None,
            }
        ), {}
    except ValidationError as exc:  # overlapping intervals on one day, and the like
        first = exc.errors()[0]
        field = str(first["loc"][1]) if len(first["loc"]) > 1 else "form"
        field = field if field in values else "form"
        return None, {field: str(first["msg"]).removeprefix("Value error, ")}


async def _page(
    request: Request,
    pool: PoolDep,
    chosen: OrgMembership,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Response:
    async with tenant_tx(pool, chosen.org_id) as conn:
        config = await get_org_config(conn, chosen.org_slug)
    hours = config.business_hours
    now = datetime.now(UTC)
    status = hours_status(hours, now)
    return render(
        request,
        "settings/hours.html",
        {
            "org": chosen,
            "values": values or _form_values(hours),
            "days": list(zip(WEEKDAYS, DAY_NAMES, strict=True)),
            "timezones": known_timezones(),
            "errors": errors or {},
            "message": message,
            "editable": chosen.role == "owner",
            "now_said": spoken_status(status, now)
            if status
            else "No opening hours are set: calls are answered as open.",
            "note": hours.note if hours else "",
            "default_greeting": DEFAULT_CLOSED_GREETING,
        },
        status_code=status_code,
    )


@router.get("")
async def hours_page(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    org: str | None = None,
    done: str | None = None,
) -> Response:
    return await _page(request, pool, settings_membership(user, org, "hours"), message=banner(done))


@router.post("")
async def hours_save(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    mon: Annotated[str, Form(max_length=500)] = "",
    tue: Annotated[str, Form(max_length=500)] = "",
    wed: Annotated[str, Form(max_length=500)] = "",
    thu: Annotated[str, Form(max_length=500)] = "",
    fri: Annotated[str, Form(max_length=500)] = "",
    sat: Annotated[str, Form(max_length=500)] = "",
    sun: Annotated[str, Form(max_length=500)] = "",
    timezone: Annotated[str, Form(max_length=64)] = DEFAULT_TIMEZONE,
    closed_dates: Annotated[str, Form(max_length=8000)] = "",
    when_closed: Annotated[str, Form(max_length=20)] = "message",
    closed_greeting: Annotated[str, Form(max_length=2000)] = DEFAULT_CLOSED_GREETING,
    closed_transfer_target: Annotated[str, Form(max_length=200)] = "",
    org: str | None = None,
) -> Response:
    """Check the whole form, then save it in one write; on any error save nothing."""
    chosen = settings_membership(user, org, "hours")
    require_settings_owner(chosen, "the hours")
    values: dict[str, str] = {
        "mon": mon, "tue": tue, "wed": wed, "thu": thu, "fri": fri, "sat": sat, "sun": sun,
        "timezone": timezone.strip(), "closed_dates": closed_dates, "when_closed": when_closed,
        "closed_greeting": closed_greeting, "closed_transfer_target": closed_transfer_target,
    }  # fmt: skip
    hours, errors = _checked(values)
    if hours is not None:
        async with tenant_tx(pool, chosen.org_id) as conn:
            current = await get_org_config(conn, chosen.org_slug)
            # a note kept from old free text stays until the owner sets a schedule
            note = current.business_hours.note if current.business_hours else ""
            document: dict[str, Any] = hours.model_dump(mode="json")
            document["note"] = "" if hours.is_set else note
            try:
                await set_org_config(conn, chosen.org_slug, {"business_hours": document})
            except ConfigOverrideError as exc:
                errors = {"form": str(exc)}
    if errors:
        return await _page(request, pool, chosen, values=values, errors=errors, status_code=422)
    query = {"done": "hours-saved"} | ({"org": org} if org else {})
    return RedirectResponse(f"/settings/hours?{urlencode(query)}", status_code=303)
