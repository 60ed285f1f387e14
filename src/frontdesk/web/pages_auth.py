"""Logging in and out: `/login` (form), `/logout`, and the login lock-out.

Owns: the login form and its CSRF protection (before a session exists, a double-submit
token: a random `fd_login_csrf` cookie that must equal the form's hidden field), checking the
password (frontdesk.store.users.authenticate, argon2), the lock-out, creating and ending the
server-side session.

The lock-out, and why it has no per-account counter: failures are counted in PostgreSQL (so
every process and restart sees them) under two keys, and a login is refused (429 with
Retry-After, even with the right password) while either is over its limit in the last
`web_login_window` seconds:
- (email, client address): `web_login_max_failures`. Guessing one user's password from one
  address stops there; the user, logging in from anywhere else, is not affected, and their
  own success there clears only that pair.
- client address alone: four times that, so one address cannot walk through many accounts.
A counter per account alone would let anyone lock any user out by failing on purpose from
their own machine: that is the attack this design refuses. What remains possible is guessing
one account slowly from many addresses; each try costs an argon2 verification, every
address is limited, and a password good enough for the web is out of reach of that.
The client address is the TCP peer, or, behind `FRONTDESK_TRUSTED_PROXIES` only, what
X-Forwarded-For says (security.ClientAddress): anyone else's header is ignored, so an
attacker can neither spread their tries over invented addresses nor aim at a victim's.

Must not: say whether an email exists (one message for every failure), log an email, an
address or a password, or follow a `next` that leaves this site.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.store.tx import operator_tx
from frontdesk.store.users import authenticate
from frontdesk.store.web_auth import (
    account_ip_key,
    clear_login_failures,
    create_session,
    end_session,
    ip_key,
    login_retry_after,
    record_login_failure,
)
from frontdesk.web.auth import (
    SESSION_COOKIE,
    PoolDep,
    SettingsDep,
    clear_session_cookie,
    csrf_protect,
    optional_user,
    secure_cookies,
    set_session_cookie,
)
from frontdesk.web.templating import render

log = logging.getLogger(__name__)

LOGIN_CSRF_COOKIE: Final = "fd_login_csrf"
MAX_FIELD: Final = 1000
IP_LIMIT_FACTOR: Final = 4  # one address may fail this many times the per-account limit

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A local path to go to after logging in; anything else becomes /numbers."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/numbers"
    return target


def _login_page(
    request: Request,
    settings: SettingsDep,
    *,
    error: str | None = None,
    email: str = "",
    next_path: str = "/numbers",
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "login.html",
        {"error": error, "email": email, "next": next_path, "login_csrf": token},
        status_code=status_code,
        headers=headers,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        secure=secure_cookies(request, settings),
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login")
async def login_form(
    request: Request, settings: SettingsDep, pool: PoolDep, next: str | None = None
) -> Response:
    if await optional_user(request, pool) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, settings, next_path=safe_next(next))


@router.post("/login")
async def login(
    request: Request,
    settings: SettingsDep,
    pool: PoolDep,
    email: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    password: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    csrf_token: Annotated[str, Form(max_length=MAX_FIELD)] = "",
    next: Annotated[str, Form(max_length=MAX_FIELD)] = "/numbers",
) -> Response:
    target = safe_next(next)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_page(
            request,
            settings,
            error="The form expired: please try again.",
            email=email,
            next_path=target,
            status_code=403,
        )
    client = request.client.host if request.client else "unknown"
    pair, address = account_ip_key(email, client), ip_key(client)
    limit, window = settings.web_login_max_failures, settings.web_login_window
    async with operator_tx(pool) as conn:
        wait = max(
            await login_retry_after(conn, (pair,), limit, window),
            await login_retry_after(conn, (address,), limit * IP_LIMIT_FACTOR, window),
        )
    if wait:
        log.info("login refused: rate limit (retry in %d s)", wait)
        return _login_page(
            request,
            settings,
            error=f"Too many failed logins: try again in {wait} seconds.",
            email=email,
            next_path=target,
            status_code=429,
            headers={"Retry-After": str(wait)},
        )
    async with operator_tx(pool) as conn:
        user = await authenticate(conn, email, password) if email and password else None
        if user is None:
            await record_login_failure(conn, (pair, address), window)
        else:
            await clear_login_failures(conn, pair)
            session = await create_session(conn, user.id, settings.web_session_ttl)
    if user is None:
        return _login_page(
            request,
            settings,
            error="Wrong email or password.",
            email=email,
            next_path=target,
            status_code=401,
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, settings, session)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, settings: SettingsDep, pool: PoolDep) -> Response:
    """End the session (CSRF-checked: a foreign page cannot log you out)."""
    await csrf_protect(request, await optional_user(request, pool))
    if token := request.cookies.get(SESSION_COOKIE):
        async with operator_tx(pool) as conn:
            await end_session(conn, token)
    response = RedirectResponse("/login", status_code=303)
    clear_session_cookie(response, request, settings)
    return response
