"""One-time password links: invitations (a new user sets a password) and password resets.

Owns: issuing a link for a user (256 random bits handed out once, stored only as their
SHA-256 digest, with an expiry), looking one up without using it (the page that asks for
the password), and using it: in one statement the link is marked used, only if it is
unused and unexpired, so two tabs racing on one link cannot both win; the password is then
set (argon2, users.set_password), the user's other links and sessions end (a reset must lock
out whoever had the old password).

Must not: return or log a token after issuing it, see a password beyond handing it to
users.py, or open its own transaction (callers pass one from `operator_tx`: these rows are
read before anyone is logged in).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from uuid import UUID

from frontdesk.errors import Conflict
from frontdesk.store.engine import Connection
from frontdesk.store.users import check_new_password, set_password

Purpose = Literal["invite", "reset"]
LINK_BYTES: Final = 32


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class LinkInfo:
    """An unused, unexpired link: whose, and what for."""

    user_id: UUID
    email: str
    purpose: Purpose
    expires_at: datetime


async def issue_link(
    conn: Connection, user_id: UUID, purpose: Purpose, ttl_s: float, created_by: str
) -> str:
    """A new link token for `user_id`, valid `ttl_s` seconds; returned once."""
    token = secrets.token_urlsafe(LINK_BYTES)
    expires = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await conn.execute(
        b"INSERT INTO user_links (token_hash, user_id, purpose, created_by, expires_at)"
        b" VALUES (%s, %s, %s, %s, %s)",
        (_digest(token), user_id, purpose, created_by[:330], expires),
    )
    return token


async def find_link(conn: Connection, token: str) -> LinkInfo | None:
    """The link `token` if it can still be used (unused, unexpired, its user active)."""
    if not token or len(token) > 200:
        return None
    cursor = await conn.execute(
        b"SELECT l.user_id, u.email, l.purpose, l.expires_at FROM user_links l"
        b" JOIN users u ON u.id = l.user_id"
        b" WHERE l.token_hash = %s AND l.used_at IS NULL AND l.expires_at > now() AND u.active",
        (_digest(token),),
    )
    row = await cursor.fetchone()
    return None if row is None else LinkInfo(*row)


async def use_link(conn: Connection, token: str, password: str) -> LinkInfo | None:
    """Set the password of the link's user and spend the link; None if it is not usable.

    A password too short is refused (`Conflict`) before the link is spent.
    """
    check_new_password(password)
    found = await find_link(conn, token)
    if found is None:
        return None
    cursor = await conn.execute(
        b"UPDATE user_links SET used_at = now() WHERE token_hash = %s AND used_at IS NULL"
        b" AND expires_at > now() RETURNING id",
        (_digest(token),),
    )
    if await cursor.fetchone() is None:  # spent by another request since the look-up
        return None
    await set_password(conn, found.user_id, password)
    await conn.execute(
        b"UPDATE user_links SET used_at = now() WHERE user_id = %s AND used_at IS NULL",
        (found.user_id,),
    )
    await conn.execute(b"DELETE FROM web_sessions WHERE user_id = %s", (found.user_id,))
    return found


async def require_active(conn: Connection, user_id: UUID) -> str:
    """The email of active user `user_id`; `Conflict` when suspended or gone."""
    cursor = await conn.execute(b"SELECT email, active FROM users WHERE id = %s", (user_id,))
    row = await cursor.fetchone()
    if row is None or not row[1]:
        raise Conflict("that user is not active")
    return str(row[0])
