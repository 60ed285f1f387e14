"""Who is asking, and what they may do: the FastAPI dependencies every router uses.

Owns:
- `current_user` (`CurrentUser`): the `Principal` of the request, from an API token
  (`Authorization: Bearer fd_…`) or from the session cookie (`fd_session`); 401 otherwise
  (pages turn 401 into a redirect to /login, see problems.py).
- `require_operator` (`Operator`): 403 for anyone but an operator.
- `csrf_protect`: on every unsafe method of a cookie-authenticated request, the session's
  CSRF token must come back as the `X-CSRF-Token` header (htmx, fetch) or the `csrf_token`
  form field; 403 otherwise. Bearer-token requests carry no ambient credential and skip it.
- `scoped_tx` / `ScopedConn`: the one way routes reach tenant data, through the RLS-scoped
  transactions of frontdesk.store.tx: `tenant_tx` of the chosen organization for members,
  `operator_tx` (actor `user:<email>`) for operators.
- Roles: operators see and change everything; an organization's owner edits its numbers;
  a member only views them (`require_owner`).
- Session cookies: HttpOnly, SameSite=Lax, Path=/, Secure when the request came over https
  or `FRONTDESK_WEB_SECURE_COOKIES` says so.

Must not: filter tenant rows itself (RLS does), or put a token in a log line or response.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Final
from uuid import UUID

from fastapi import Depends, HTTPException, Query, Request, Response

from frontdesk.config import Settings
from frontdesk.store.engine import Connection, Pool
from frontdesk.store.tx import operator_tx, tenant_tx
from frontdesk.store.web_auth import (
    NewSession,
    OrgMembership,
    Principal,
    session_principal,
    token_principal,
)

SESSION_COOKIE: Final = "fd_session"
CSRF_HEADER: Final = "X-CSRF-Token"
CSRF_FIELD: Final = "csrf_token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_UNSET: Final = object()


def get_pool(request: Request) -> Pool:
    pool: Pool = request.app.state.pool
    return pool


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


PoolDep = Annotated[Pool, Depends(get_pool)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def actor(user: Principal) -> str:
    """How audit rows name this user: `user:<email>`."""
    return f"user:{user.email}"


async def optional_user(request: Request, pool: PoolDep) -> Principal | None:
    """The request's principal, or None; a bad bearer token is a 401 at once."""
    cached = getattr(request.state, "principal", _UNSET)
    if cached is not _UNSET:
        return cached if isinstance(cached, Principal) else None
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if header:
        if scheme.lower() != "bearer" or not credentials.strip():
            raise HTTPException(401, "use Authorization: Bearer <token>", _challenge())
        async with operator_tx(pool) as conn:
            principal = await token_principal(conn, credentials.strip())
        if principal is None:
            raise HTTPException(401, "the API token is not valid", _challenge())
    elif token := request.cookies.get(SESSION_COOKIE):
        async with operator_tx(pool) as conn:
            principal = await session_principal(conn, token)
    request.state.principal = principal
    return principal


def _challenge() -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="frontdesk"'}


async def current_user(user: Annotated[Principal | None, Depends(optional_user)]) -> Principal:
    if user is None:
        raise HTTPException(401, "log in first", _challenge())
    return user


CurrentUser = Annotated[Principal, Depends(current_user)]


async def require_operator(user: CurrentUser) -> Principal:
    if not user.is_operator:
        raise HTTPException(403, "only operators may do this")
    return user


Operator = Annotated[Principal, Depends(require_operator)]


async def csrf_protect(
    request: Request, user: Annotated[Principal | None, Depends(optional_user)]
) -> None:
    """Refuse (403) an unsafe cookie-authenticated request without the session's token."""
    if request.method in SAFE_METHODS or user is None or user.via != "session":
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD, "")
        sent = value if isinstance(value, str) else ""
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf_token.encode()):
        raise HTTPException(403, "the CSRF token is missing or wrong: reload the page")


CsrfChecked = Depends(csrf_protect)


def membership(user: Principal, org: str | None) -> OrgMembership | None:
    """The organization a tenant request is about: `org` (a slug) or the user's first one.

    None for an operator who named no organization (they see all). 404 for a slug the
    user is not a member of (an operator may name any organization they can see).
    """
    if org is None:
        if user.is_operator:
            return None
        if not user.memberships:
            raise HTTPException(403, "this user belongs to no organization")
        return user.memberships[0]
    for item in user.memberships:
        if item.org_slug == org:
            return item
    raise HTTPException(404, "no such organization")


def settings_membership(user: Principal, org: str | None, what: str) -> OrgMembership:
    """The one organization a settings page (`what`: "hours", "notifications") is about:
    `membership`, and 403 for an operator who named none (they use the CLI there)."""
    chosen = membership(user, org)
    if chosen is None:
        raise HTTPException(
            403, f"operators set {what} with `frontdesk org set SLUG --set KEY=JSON`"
        )
    return chosen


def require_settings_owner(chosen: OrgMembership, what: str) -> None:
    """403 unless the user owns the organization whose `what` they change."""
    if chosen.role != "owner":
        raise HTTPException(403, f"only an owner of the organization may change {what}")


@asynccontextmanager
async def scoped_tx(
    pool: Pool, user: Principal, org_id: UUID | None = None
) -> AsyncIterator[Connection]:
    """One RLS-scoped transaction for `user`.

    Operators get `operator_tx` unless they name `org_id`; everyone else gets `tenant_tx` of
    `org_id` (which must be one of theirs: 404 otherwise) or of their first organization.
    """
    if org_id is None and user.is_operator:
        async with operator_tx(pool, actor=actor(user)) as conn:
            yield conn
        return
    if org_id is None:
        if not user.memberships:
            raise HTTPException(403, "this user belongs to no organization")
        org_id = user.memberships[0].org_id
    elif not user.is_operator and org_id not in user.org_ids:
        raise HTTPException(404, "no such organization")
    async with tenant_tx(pool, org_id, actor=actor(user)) as conn:
        yield conn


async def scoped_conn(
    pool: PoolDep,
    user: CurrentUser,
    org: Annotated[str | None, Query(description="organization slug (default: yours)")] = None,
) -> AsyncIterator[Connection]:
    """A dependency: the request's RLS-scoped connection (see `scoped_tx`), for reads.

    The transaction ends when the route returns; a StreamingResponse must open its own
    `scoped_tx` instead.
    """
    chosen = membership(user, org)
    async with scoped_tx(pool, user, None if chosen is None else chosen.org_id) as conn:
        yield conn


ScopedConn = Annotated[Connection, Depends(scoped_conn)]


def require_owner(user: Principal, org_id: UUID) -> None:
    """403 unless `user` may change organization `org_id`'s numbers (owner or operator)."""
    if not user.is_operator and user.role_in(org_id) != "owner":
        raise HTTPException(403, "only an owner of the organization may change its numbers")


def secure_cookies(request: Request, settings: Settings) -> bool:
    if settings.web_secure_cookies is not None:
        return settings.web_secure_cookies
    return request.url.scheme == "https"


def set_session_cookie(
    response: Response, request: Request, settings: Settings, session: NewSession
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=int(settings.web_session_ttl),
        path="/",
        secure=secure_cookies(request, settings),
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, request: Request, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=secure_cookies(request, settings),
        httponly=True,
        samesite="lax",
    )
