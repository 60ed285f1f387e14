"""Operator onboarding pages under /admin: organizations, their people, numbers and audit; tokens.

Owns: creating an organization (`POST /admin/orgs`), its page (`GET /admin/orgs/{slug}`:
name, limit and state; its users, inviting one by a one-time link and issuing a password
reset link; its numbers, editing a number's label and limit and releasing one; and the
organization's configuration audit, who changed which fields when, before and after, beside
its number assignments), and API tokens (`/admin/tokens`: create, shown once; list; revoke).
A link or a token is shown once, on the answer to the form that made it, and stored only as
a digest. Releasing a number asks first, and is refused with a clear message while the
number has live calls (deactivating it first stops new ones). Banners come from fixed keys.

Must not: be reachable by anyone but an operator (403), or hold data rules: every write is
a store function the CLI uses too (store/orgs, numbers, users, user_links, web_auth), run
in one operator transaction whose actor the audit records.
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.errors import Conflict, NotFound
from frontdesk.store.config_audit import org_changes, record_change
from frontdesk.store.numbers import (
    get_number_by_id,
    list_numbers,
    live_counts,
    recent_assignments,
    remove_number,
    update_number,
)
from frontdesk.store.orgs import create_org, get_org
from frontdesk.store.tx import operator_tx
from frontdesk.store.user_links import issue_link, require_active
from frontdesk.store.users import ROLES, Role, add_user, generate_password, org_users
from frontdesk.store.web_auth import create_api_token, list_api_tokens, revoke_api_token
from frontdesk.web.auth import Operator, PoolDep, SettingsDep, actor, csrf_protect
from frontdesk.web.templating import render
from frontdesk.web.words import banner

router = APIRouter(prefix="/admin", include_in_schema=False, dependencies=[Depends(csrf_protect)])

SHORT: Final = 200


def _to_org(slug: str, key: str) -> Response:
    """Back to the organization's page with a fixed banner (words.BANNERS)."""
    return RedirectResponse(f"/admin/orgs/{slug}?" + urlencode({"done": key}), status_code=303)


def _role(text: str) -> Role:
    for role in ROLES:
        if role == text:
            return role
    raise Conflict(f"role must be one of {', '.join(ROLES)}")


def _limit(text: str, *, empty_ok: bool) -> int | None:
    value = text.strip()
    if not value and empty_ok:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 1_000_000:
        raise Conflict(
            "the limit must be a whole number from 1"
            + (", or empty for no limit" if empty_ok else "")
        )
    return int(value)


@router.post("/orgs")
async def create_organization(
    request: Request,
    user: Operator,
    pool: PoolDep,
    slug: Annotated[str, Form(max_length=63)],
    name: Annotated[str, Form(max_length=SHORT)],
    max_calls: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """A new organization with the default agent; then its page, to invite its owner."""
    form = {"slug": slug, "name": name, "max_calls": max_calls}
    try:
        limit = _limit(max_calls, empty_ok=True)
        async with operator_tx(pool, actor=actor(user)) as conn:
            await create_org(conn, slug.strip(), name, limit)
    except Conflict as exc:
        return render(
            request, "admin/org_new.html", {"error": str(exc), "form": form}, status_code=422
        )
    return _to_org(slug.strip(), "org-created")


@router.get("/orgs/new")
async def new_organization(request: Request, user: Operator) -> Response:
    return render(request, "admin/org_new.html", {"error": None, "form": {}})


async def _org_page(
    request: Request, pool: PoolDep, user: Operator, slug: str, status_code: int = 200,
    **extra: object,
) -> Response:  # fmt: skip
    async with operator_tx(pool, actor=actor(user)) as conn:
        org = await get_org(conn, slug)
        numbers = await list_numbers(conn, slug)
        counts = await live_counts(conn)
        live = {row.id: sum(n for (k, _o), n in counts.items() if k == row.id) for row in numbers}
        context: dict[str, object] = {
            "org": org,
            "users": await org_users(conn, org.id),
            "numbers": numbers,
            "live": live,
            "changes": await org_changes(conn, org.id, 100),
            "assignments": [
                a for a in await recent_assignments(conn, 200)
                if slug in (a.org_slug, a.previous_org_slug)
            ][:50],
            "roles": ROLES,
            "link": None,
            "error": None,
            "message": None,
        }  # fmt: skip
    context.update(extra)
    return render(request, "admin/org.html", context, status_code=status_code)


@router.get("/orgs/{slug}")
async def organization_page(
    request: Request, user: Operator, pool: PoolDep, slug: str, done: str | None = None
) -> Response:
    return await _org_page(request, pool, user, slug, message=banner(done))


@router.post("/orgs/{slug}/invite")
async def invite_user(
    request: Request,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    slug: str,
    email: Annotated[str, Form(max_length=320)],
    role: Annotated[str, Form(max_length=10)] = "owner",
) -> Response:
    """Add a user to the organization with no usable password, and show their invitation
    link once (it works once, for `FRONTDESK_WEB_INVITE_TTL` seconds)."""
    try:
        async with operator_tx(pool, actor=actor(user)) as conn:
            org = await get_org(conn, slug)
            chosen = _role(role)
            # nobody knows this password: the link replaces it
            added = await add_user(conn, email, generate_password(), org_slug=slug, role=chosen)
            token = await issue_link(conn, added.id, "invite", settings.web_invite_ttl, actor(user))
            await record_change(
                conn, org.id, "user", added.email, {}, {"role": role, "invited": True}
            )
    except Conflict as exc:
        return await _org_page(request, pool, user, slug, 422, error=str(exc))
    link = str(request.base_url).rstrip("/") + f"/password/{token}"
    return await _org_page(
        request, pool, user, slug, link={"url": link, "email": added.email, "kind": "invitation",
        "hours": round(settings.web_invite_ttl / 3600)},
    )  # fmt: skip


@router.post("/users/{user_id}/reset")
async def reset_link(
    request: Request,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    user_id: UUID,
    org: Annotated[str, Form(max_length=63)],
) -> Response:
    """Show a one-time password reset link for `user_id` (valid `FRONTDESK_WEB_RESET_TTL`)."""
    try:
        async with operator_tx(pool, actor=actor(user)) as conn:
            email = await require_active(conn, user_id)
            token = await issue_link(conn, user_id, "reset", settings.web_reset_ttl, actor(user))
    except Conflict as exc:
        return await _org_page(request, pool, user, org, 422, error=str(exc))
    link = str(request.base_url).rstrip("/") + f"/password/{token}"
    return await _org_page(
        request, pool, user, org, link={"url": link, "email": email, "kind": "password reset",
        "hours": round(settings.web_reset_ttl / 3600)},
    )  # fmt: skip


@router.post("/numbers/{number_id}/edit")
async def edit_number_limits(
    request: Request,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    number_id: UUID,
    label: Annotated[str, Form(max_length=SHORT)] = "",
    max_calls: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Change a number's label and concurrent-call limit (audited)."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        row = await get_number_by_id(conn, number_id)
    try:
        limit = _limit(max_calls, empty_ok=False)
        if "\x00" in label:
            raise Conflict("a label cannot hold a NUL character")
        async with operator_tx(pool, actor=actor(user)) as conn:
            await update_number(
                conn, row.phone_number, default_country=settings.default_country,
                label=label.strip(), max_concurrent_calls=limit,
            )  # fmt: skip
    except Conflict as exc:
        return await _org_page(request, pool, user, row.org_slug, 422, error=str(exc))
    return _to_org(row.org_slug, "number-saved")


@router.post("/numbers/{number_id}/release")
async def release_number(
    request: Request,
    user: Operator,
    pool: PoolDep,
    settings: SettingsDep,
    number_id: UUID,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Take a number off the trunk: ask first; refused while it has live calls."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        row = await get_number_by_id(conn, number_id)
        live = sum(n for (num, _org), n in (await live_counts(conn)).items() if num == row.id)
        if live or confirm != "yes":
            return render(
                request,
                "admin/confirm_release.html",
                {"row": row, "live": live},
                status_code=409 if live else 200,
            )
        try:
            await remove_number(conn, row.phone_number, default_country=settings.default_country)
        except Conflict:  # a call arrived since the count
            return render(
                request, "admin/confirm_release.html", {"row": row, "live": 1}, status_code=409
            )
    return _to_org(row.org_slug, "number-released")


@router.get("/tokens")
async def tokens_page(request: Request, user: Operator, pool: PoolDep) -> Response:
    return await _tokens_page(request, pool, user)


async def _tokens_page(
    request: Request, pool: PoolDep, user: Operator, status_code: int = 200, **extra: object
) -> Response:
    async with operator_tx(pool, actor=actor(user)) as conn:
        tokens = await list_api_tokens(conn)
    context: dict[str, object] = {
        "tokens": tokens, "created": None, "error": None, "form": {},
        "message": banner(str(request.query_params.get("done", ""))),
    }  # fmt: skip
    context.update(extra)
    return render(request, "admin/tokens.html", context, status_code=status_code)


@router.post("/tokens")
async def create_token(
    request: Request,
    user: Operator,
    pool: PoolDep,
    email: Annotated[str, Form(max_length=320)],
    name: Annotated[str, Form(max_length=SHORT)] = "",
) -> Response:
    """A new API token for user `email`, shown once on this answer."""
    try:
        async with operator_tx(pool, actor=actor(user)) as conn:
            token = await create_api_token(conn, email, name.strip())
    except (Conflict, NotFound) as exc:
        return await _tokens_page(
            request, pool, user, 422, error=str(exc), form={"email": email, "name": name}
        )
    return await _tokens_page(request, pool, user, created={"token": token, "email": email})


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(user: Operator, pool: PoolDep, token_id: UUID) -> Response:
    """Revoke one token: it answers 401 from now on."""
    async with operator_tx(pool, actor=actor(user)) as conn:
        revoked = await revoke_api_token(conn, token_id)
    key = "token-revoked" if revoked else "token-already-revoked"
    return RedirectResponse("/admin/tokens?" + urlencode({"done": key}), status_code=303)
