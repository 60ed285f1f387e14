"""The web app's credentials: login sessions, API tokens and failed-login counts.

Owns: creating a session (a 256-bit random token handed to the browser once, stored only as
its SHA-256 digest, with an absolute expiry and a per-session CSRF token), resolving a
session or an API token (`fd_…`, also stored as a digest) to a `Principal` (the user, their
memberships with organization ids, operator flag), ending sessions, and counting failed
logins per key (a digest of an email with a client address, or an address) within a
sliding window (rows in `login_failures`, so the limit holds across processes and restarts).

Must not: see a password (users.py checks those), log or return a token after creating it,
or open its own transaction: callers pass a connection from
`frontdesk.store.tx.operator_tx` (these tables are not tenant data, and they are read before
any tenant is known).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from frontdesk.errors import Conflict, NotFound
from frontdesk.store.engine import Connection
from frontdesk.store.users import get_user

TOKEN_PREFIX: Final = "fd_"  # noqa: S105 (a prefix, not a secret)
Role = Literal["owner", "member"]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class OrgMembership:
    """The user's place in one organization, with its id (for `tenant_tx`)."""

    org_id: UUID
    org_slug: str
    org_name: str
    role: Role


@dataclass(frozen=True)
class Principal:
    """Who is asking: a logged-in user (session) or a script (API token)."""

    id: UUID
    email: str
    is_operator: bool
    memberships: tuple[OrgMembership, ...]
    #: "session" or "token": cookie-authenticated requests need the CSRF token
    via: Literal["session", "token"]
    #: the session's CSRF token ("" for API tokens)
    csrf_token: str = ""

    @property
    def org_ids(self) -> tuple[UUID, ...]:
        return tuple(m.org_id for m in self.memberships)

    def role_in(self, org_id: UUID) -> Role | None:
        """The user's role in organization `org_id`, None when not a member."""
        for membership in self.memberships:
            if membership.org_id == org_id:
                return membership.role
        return None

    @property
    def role(self) -> str:
        """One word for pages: operator, owner (of any org) or member."""
        if self.is_operator:
            return "operator"
        return "owner" if any(m.role == "owner" for m in self.memberships) else "member"


@dataclass(frozen=True)
class NewSession:
    """A session just created: the token goes into the cookie and nowhere else."""

    token: str
    csrf_token: str
    expires_at: datetime


async def _memberships(conn: Connection, user_id: UUID) -> tuple[OrgMembership, ...]:
    cursor = await conn.execute(
        b"SELECT o.id, o.slug, o.name, m.role FROM memberships m"
        b" JOIN organizations o ON o.id = m.organization_id"
        b" WHERE m.user_id = %s ORDER BY o.slug",
        (user_id,),
    )
    return tuple(OrgMembership(*row) for row in await cursor.fetchall())


async def create_session(conn: Connection, user_id: UUID, ttl_s: float) -> NewSession:
    """A new session for `user_id`, valid `ttl_s` seconds; expired sessions are swept."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await conn.execute(b"DELETE FROM web_sessions WHERE expires_at < now()")
    await conn.execute(
        b"INSERT INTO web_sessions (token_hash, user_id, csrf_token, expires_at)"
        b" VALUES (%s, %s, %s, %s)",
        (_digest(token), user_id, csrf, expires),
    )
    return NewSession(token, csrf, expires)


async def _principal(
    conn: Connection, user_id: UUID, via: Literal["session", "token"], csrf: str
) -> Principal | None:
    cursor = await conn.execute(
        b"SELECT id, email, is_operator FROM users WHERE id = %s AND active", (user_id,)
    )
    row = await cursor.fetchone()
    if row is None:
        return None
    return Principal(row[0], row[1], row[2], await _memberships(conn, row[0]), via, csrf)


async def session_principal(conn: Connection, token: str) -> Principal | None:
    """The user of the unexpired session `token`, None for anything else."""
    cursor = await conn.execute(
        b"SELECT user_id, csrf_token FROM web_sessions"
        b" WHERE token_hash = %s AND expires_at > now()",
        (_digest(token),),
    )
    row = await cursor.fetchone()
    return None if row is None else await _principal(conn, row[0], "session", row[1])


async def end_session(conn: Connection, token: str) -> None:
    """Log out: the session `token` stops working at once (no-op for an unknown token)."""
    await conn.execute(b"DELETE FROM web_sessions WHERE token_hash = %s", (_digest(token),))


async def create_api_token(conn: Connection, email: str, name: str = "") -> str:
    """A new API token for user `email`; returned once, stored as a digest only."""
    if len(name) > 200 or "\x00" in name:
        raise Conflict("a token name must be at most 200 characters")
    user = await get_user(conn, email)
    if not user.active:
        raise Conflict(f"user {user.email!r} is not active")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await conn.execute(
        b"INSERT INTO api_tokens (token_hash, user_id, name) VALUES (%s, %s, %s)",
        (_digest(token), user.id, name),
    )
    return token


async def revoke_api_tokens(conn: Connection, email: str) -> int:
    """Revoke every token of user `email`; how many were live."""
    user = await get_user(conn, email)
    cursor = await conn.execute(
        b"UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        (user.id,),
    )
    return cursor.rowcount


@dataclass(frozen=True)
class ApiToken:
    """One API token as a list shows it: never the token, only its name and dates."""

    id: UUID
    email: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


async def list_api_tokens(conn: Connection, limit: int = 500) -> list[ApiToken]:
    """Every API token (live first, then newest first)."""
    cursor = await conn.execute(
        b"SELECT t.id, u.email, t.name, t.created_at, t.last_used_at, t.revoked_at"
        b" FROM api_tokens t JOIN users u ON u.id = t.user_id"
        b" ORDER BY t.revoked_at IS NOT NULL, t.created_at DESC, t.id LIMIT %s",
        (limit,),
    )
    return [ApiToken(*row) for row in await cursor.fetchall()]


async def revoke_api_token(conn: Connection, token_id: UUID) -> bool:
    """Revoke one token at once; False when it was already revoked (`NotFound`: no such)."""
    cursor = await conn.execute(
        b"UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s"
        b" RETURNING revoked_at = now()",
        (token_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFound("no such API token")
    return bool(row[0])


async def token_principal(conn: Connection, token: str) -> Principal | None:
    """The user of the unrevoked API token `token`, None for anything else."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    cursor = await conn.execute(
        b"UPDATE api_tokens SET last_used_at = now()"
        b" WHERE token_hash = %s AND revoked_at IS NULL RETURNING user_id",
        (_digest(token),),
    )
    row = await cursor.fetchone()
    return None if row is None else await _principal(conn, row[0], "token", "")


async def principal_by_email(conn: Connection, email: str) -> Principal:
    """The principal of user `email` as a session would see it (tests, CLI)."""
    user = await get_user(conn, email)
    found = await _principal(conn, user.id, "session", "")
    if found is None:
        raise NotFound(f"user {user.email!r} is not active")
    return found


def ip_key(address: str) -> str:
    return "ip:" + address[:150]


def account_ip_key(email: str, address: str) -> str:
    """The failure-count key of one email tried from one client address (a digest)."""
    raw = f"{email.strip().lower()}|{address[:150]}".encode()
    return "email-ip:" + hashlib.sha256(raw).hexdigest()


async def login_retry_after(
    conn: Connection, keys: tuple[str, ...], max_failures: int, window_s: float
) -> int:
    """Seconds until a login may be tried again for `keys` (0: now).

    A key is blocked while it has `max_failures` failures within the last `window_s`
    seconds; the answer is when the oldest of those leaves the window.
    """
    window = timedelta(seconds=window_s)
    cursor = await conn.execute(
        b"SELECT key, failed_at FROM login_failures"
        b" WHERE key = ANY(%s) AND failed_at > clock_timestamp() - %s"
        b" ORDER BY key, failed_at DESC",
        (list(keys), window),
    )
    per_key: dict[str, list[datetime]] = {}
    for key, failed_at in await cursor.fetchall():
        per_key.setdefault(key, []).append(failed_at)
    now = datetime.now(UTC)
    wait = 0.0
    for times in per_key.values():
        if len(times) >= max_failures:
            freed = times[max_failures - 1] + window  # newest first: the max_failures-th
            wait = max(wait, (freed - now).total_seconds())
    return max(1, int(wait + 0.999)) if wait > 0 else 0


async def record_login_failure(conn: Connection, keys: tuple[str, ...], window_s: float) -> None:
    """Count one failed login for each of `keys`; forget failures older than the window."""
    await conn.execute(
        b"DELETE FROM login_failures WHERE failed_at < clock_timestamp() - %s",
        (timedelta(seconds=window_s),),
    )
    for key in keys:
        await conn.execute(b"INSERT INTO login_failures (key) VALUES (%s)", (key,))


async def clear_login_failures(conn: Connection, key: str) -> None:
    """A successful login forgets the failures of `key` (the web app passes its
    (email, address) key, never the address's own)."""
    await conn.execute(b"DELETE FROM login_failures WHERE key = %s", (key,))
