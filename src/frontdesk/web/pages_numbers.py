"""The tenant pages: `/numbers` (the organization's numbers, live counts) and `/numbers/{id}`.

Owns: rendering the numbers table (live counts update through `/events/live`, see live.py and
static/app.js), the edit form of one number (label, greeting, language, system prompt,
voice, transfer target, active) with each error next to its field, each setting marked
inherited from the organization or overridden here, with "reset to the organization's
value" (`/numbers/{id}/reset`), and the active toggle (htmx swaps the row;
deactivating asks first).
Owners edit, members view, operators see and edit every number.

Must not: add, remove or reassign numbers (operators do that on /admin), or look a number up
outside the user's RLS scope (service.py does the looking up).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.web.auth import CurrentUser, PoolDep, csrf_protect
from frontdesk.web.org_settings import installed_voices
from frontdesk.web.service import (
    EDITABLE_OVERRIDES,
    RESETTABLE,
    SHOWN_ON_THEIR_OWN,
    FieldErrors,
    NumberEdit,
    NumberView,
    apply_edit,
    get_number_view,
    visible_numbers,
)
from frontdesk.web.templating import render
from frontdesk.web.words import banner

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

FIELD_MAX = 25_000  # above the longest TenantConfig text (system_prompt, 20,000)
DEACTIVATE_QUESTION = (
    "Switching this number off means new calls to it are not answered:"
    " tick the box below and save again to confirm. Nothing was saved."
)


def can_edit(user: CurrentUser, view: NumberView) -> bool:
    return user.is_operator or user.role_in(view.row.organization_id) == "owner"


@router.get("/")
async def home(user: CurrentUser) -> Response:
    return RedirectResponse("/admin" if user.is_operator else "/numbers", status_code=303)


@router.get("/numbers")
async def numbers_page(request: Request, user: CurrentUser, pool: PoolDep) -> Response:
    views = await visible_numbers(pool, user)
    return render(
        request,
        "numbers/list.html",
        {"numbers": views, "can_edit": {v.row.id: can_edit(user, v) for v in views}},
    )


@router.get("/numbers/{number_id}")
async def number_page(
    request: Request,
    number_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    saved: bool = False,
    done: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    view = await get_number_view(pool, user, number_id)
    values = {
        "label": view.row.label,
        **{key: str(view.row.config_override.get(key) or "") for key in EDITABLE_OVERRIDES},
    }
    return render(
        request,
        "numbers/edit.html",
        {
            "view": view,
            "values": values,
            "errors": {},
            "saved": saved,
            "banner": banner(done),
            "editable": can_edit(user, view),
            "voices": installed_voices("offline"),
            "resettable": RESETTABLE,
            "shown_on_their_own": SHOWN_ON_THEIR_OWN,
        },
    )


@router.post("/numbers/{number_id}")
async def number_save(
    request: Request,
    number_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    label: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    greeting: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    language: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    system_prompt: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    voice: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    transfer_target: Annotated[str, Form(max_length=FIELD_MAX)] = "",
    active: Annotated[str | None, Form(max_length=10)] = None,
    confirm_deactivate: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Save the whole form: an empty override field means "inherit the organization's".

    Switching an active number off asks first, like the Deactivate button: without the
    `confirm_deactivate` box ticked nothing is saved and the form comes back, as filled in,
    with the question next to the Active field.
    """
    texts = {
        "greeting": greeting,
        "language": language.strip(),
        "voice": voice.strip(),
        "system_prompt": system_prompt,
        "transfer_target": transfer_target.strip(),
    }
    edit = NumberEdit(
        label=label.strip(),
        active=active is not None,
        overrides={key: (value if value.strip() else None) for key, value in texts.items()},
    )
    try:
        if active is None and confirm_deactivate != "yes":
            current = await get_number_view(pool, user, number_id)
            if current.row.active and can_edit(user, current):
                raise FieldErrors({"active": DEACTIVATE_QUESTION})
        await apply_edit(pool, user, number_id, edit)
    except FieldErrors as exc:
        view = await get_number_view(pool, user, number_id)
        return render(
            request,
            "numbers/edit.html",
            {
                "view": view,
                "values": {"label": label, **texts, "active": active is not None},
                "errors": exc.errors,
                "saved": False,
                "editable": True,
                "voices": installed_voices("offline"),
                "resettable": RESETTABLE,
                "shown_on_their_own": SHOWN_ON_THEIR_OWN,
            },
            status_code=422,
        )
    return RedirectResponse(f"/numbers/{number_id}?saved=1", status_code=303)


@router.post("/numbers/{number_id}/active")
async def number_toggle(
    request: Request,
    number_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    active: Annotated[str, Form(pattern="^(true|false)$")],
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Switch a number on or off; htmx gets the new table row, a plain form a redirect.

    Deactivating asks first: htmx requests come after the browser's `hx-confirm` dialog; a
    plain form without `confirm=yes` gets the confirmation page (no script needed).
    """
    htmx = request.headers.get("HX-Request") == "true"
    if active == "false" and not htmx and confirm != "yes":
        view = await get_number_view(pool, user, number_id)
        if not can_edit(user, view):
            raise HTTPException(403, "only an owner of the organization may change its numbers")
        return render(request, "numbers/confirm_deactivate.html", {"view": view})
    try:
        view = await apply_edit(pool, user, number_id, NumberEdit(active=active == "true"))
    except FieldErrors as exc:  # no field can be wrong here
        raise HTTPException(422, str(exc)) from exc
    if not htmx:
        return RedirectResponse("/numbers", status_code=303)
    return render(request, "numbers/row.html", {"v": view, "editable": True})


@router.post("/numbers/{number_id}/reset")
async def number_reset(
    number_id: UUID,
    user: CurrentUser,
    pool: PoolDep,
    field: Annotated[str, Form(max_length=40)],
) -> Response:
    """Remove one override: the number uses the organization's value again."""
    if field not in RESETTABLE:
        raise HTTPException(422, "not a setting a number can reset")
    try:
        await apply_edit(pool, user, number_id, NumberEdit(overrides={field: None}))
    except FieldErrors as exc:  # no field can be wrong here
        raise HTTPException(422, str(exc)) from exc
    return RedirectResponse(f"/numbers/{number_id}?done=number-reset", status_code=303)
