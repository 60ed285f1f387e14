"""A person's own password: the one-time link pages and "change your password".

Owns:
- `/password/{token}`: the page an invitation or a reset link opens. GET shows a form (or
  says the link is used or expired, 410); POST sets the password (argon2), spends the link
  (it works once), ends the user's other sessions and logs them in. Before a session exists
  the form is protected like the login form: a double-submit token (`fd_link_csrf` cookie
  equal to the hidden field). The link's token is in the path, so the page sends no
  Referer off our origin (Referrer-Policy: same-origin) and is never cached (no-store).
- `/account/password`: every logged-in user changes their own password, giving the current
  one (CSRF-checked like every form).

Must not: put a token or a password in a log line, a banner or a redirect; hold data rules
(store/user_links.py and store/users.py do).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.errors import Conflict
from frontdesk.store.tx import operator_tx
from frontdesk.store.user_links import find_link, use_link
from frontdesk.store.users import MIN_PASSWORD_LENGTH, change_password
from frontdesk.store.web_auth import create_session
from frontdesk.web.auth import (
    CurrentUser,
    PoolDep,
    SettingsDep,
    csrf_protect,
    secure_cookies,
    set_session_cookie,
)
from frontdesk.web.templating import render
from frontdesk.web.words import banner

LINK_CSRF_COOKIE: Final = "fd_link_csrf"
MAX_FIELD: Final = 1000

router = APIRouter(include_in_schema=False)


def _link_page(
    request: Request,
    settings: SettingsDep,
    token: str,
    *,
    email: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    csrf = secrets.token_urlsafe(32)
    response = render(
        request,
        "account/set_password.html",
        {"email": email, "error": error, "link_csrf": csrf, "action": f"/password/{token}",
         "min_length": MIN_PASSWORD_LENGTH},
        status_code=status_code,
    )  # fmt: skip
    response.set_cookie(
        LINK_CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/password",
        secure=secure_cookies(request, settings),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/password/{token}")
async def link_form(request: Request, settings: SettingsDep, pool: PoolDep, token: str) -> Response:
    async with operator_tx(pool) as conn:
        found = await find_link(conn, token)
    if found is None:
        return _link_page(request, settings, token, email=None, status_code=410)
    return _link_page(request, settings, token, email=found.email)


@router.post("/password/{token}")
async def link_set_password(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    token: str,
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    again: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    csrf_token: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """Set the password through the link, once; then the user is logged in."""
    expected = request.cookies.get(LINK_CSRF_COOKIE, "")
    async with operator_tx(pool) as conn:
        found = await find_link(conn, token)
    if found is None:
        return _link_page(request, settings, token, email=None, status_code=410)
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _link_page(
            request, settings, token, email=found.email, status_code=403,
            error="The form expired: please try again.",
        )  # fmt: skip
    if password != again:
        return _link_page(
            request, settings, token, email=found.email, status_code=422,
            error="The two passwords differ.",
        )  # fmt: skip
    try:
        async with operator_tx(pool, actor=f"user:{found.email}") as conn:
            used = await use_link(conn, token, password)
            session = None
            if used is not None:
                session = await create_session(conn, used.user_id, settings.web_session_ttl)
    except Conflict as exc:
        return _link_page(
            request, settings, token, email=found.email, error=str(exc), status_code=422
        )
    if session is None:
        return _link_page(request, settings, token, email=None, status_code=410)
    response = RedirectResponse("/numbers", status_code=303)
    set_session_cookie(response, request, settings, session)
    response.delete_cookie(LINK_CSRF_COOKIE, path="/password")
    return response


account = APIRouter(
    prefix="/account", include_in_schema=False, dependencies=[Depends(csrf_protect)]
)


@account.get("/password")
async def password_form(request: Request, user: CurrentUser, done: str | None = None) -> Response:
    return render(
        request,
        "account/password.html",
        {"error": None, "message": banner(done), "min_length": MIN_PASSWORD_LENGTH},
    )


@account.post("/password")
async def password_change(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    current: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    again: Annotated[str, Form(max_length=MAX_FIELD)] = "",
) -> Response:
    """Change your own password; the current one is required."""
    error: str | None = None
    if password != again:
        error = "The two new passwords differ."
    else:
        try:
            async with operator_tx(pool, actor=f"user:{user.email}") as conn:
                if not await change_password(conn, user.id, current, password):
                    error = "The current password is wrong."
        except Conflict as exc:
            error = str(exc)
    if error is not None:
        return render(
            request, "account/password.html",
            {"error": error, "message": None, "min_length": MIN_PASSWORD_LENGTH},
            status_code=422,
        )  # fmt: skip
    return RedirectResponse("/account/password?done=password-changed", status_code=303)
