"""People who log in: `users` (argon2id password hashes) and their `memberships`.

Owns: adding a user (email lower-cased and checked, password hashed with argon2-cffi's
defaults, a membership row for an organization's user), checking a password against a stored
hash, and authenticating by email and password.

Must not: let a password or a hash reach a message, a log line or a returned object (the
`User` dataclass carries no hash), or open its own operator transaction (callers pass one
from `frontdesk.store.tx.operator_tx`: logging in happens before any tenant is known, and
tenants are not granted `password_hash`). Hashing costs tens of milliseconds of CPU, so it
runs in a worker thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from frontdesk.errors import Conflict, NotFound
from frontdesk.store.engine import Connection
from frontdesk.store.orgs import get_org

Role = Literal["owner", "member"]
ROLES: Final = ("owner", "member")
MIN_PASSWORD_LENGTH: Final = 8
MAX_EMAIL_LENGTH: Final = 320

_HASHER: Final = PasswordHasher()
# the domain needs a dot: `alice@localhost` is a typo far more often than a real address
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@functools.cache
def _dummy_hash() -> str:
    """Verified against when no user matches: a wrong email costs what a wrong password does."""
    return _HASHER.hash("frontdesk: no such user")


@dataclass(frozen=True)
class Membership:
    """A user's place in one organization."""

    org_slug: str
    role: Role


@dataclass(frozen=True)
class User:
    """One `users` row and its memberships; never the password hash."""

    id: UUID
    email: str
    is_operator: bool
    active: bool
    created_at: datetime
    memberships: tuple[Membership, ...]


def normalize_email(email: str) -> str:
    """`email` trimmed and lower-cased; `Conflict` naming it when it is not an address."""
    value = email.strip().lower()
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.match(value):
        raise Conflict(f"{email!r} is not an email address")
    return value


def generate_password() -> str:
    """A random password for a new user: 20 URL-safe characters (120 bits)."""
    return secrets.token_urlsafe(15)


def hash_password(password: str) -> str:
    """The argon2id hash of `password` (blocking: ~50 ms of CPU)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches `password_hash`; False also for a malformed hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def _memberships(conn: Connection, user_id: UUID) -> tuple[Membership, ...]:
    cursor = await conn.execute(
        b"SELECT o.slug, m.role FROM memberships m"
        b" JOIN organizations o ON o.id = m.organization_id"
        b" WHERE m.user_id = %s ORDER BY o.slug",
        (user_id,),
    )
    return tuple(Membership(slug, role) for slug, role in await cursor.fetchall())


async def _user(conn: Connection, row: tuple[Any, ...]) -> User:
    return User(
        id=row[0],
        email=row[1],
        is_operator=row[2],
        active=row[3],
        created_at=row[4],
        memberships=await _memberships(conn, row[0]),
    )


async def add_user(
    conn: Connection,
    email: str,
    password: str,
    *,
    org_slug: str | None = None,
    role: Role = "member",
    operator: bool = False,
) -> User:
    """Add a user: an operator, a member of organization `org_slug`, or both.

    The password must have at least `MIN_PASSWORD_LENGTH` characters; only its argon2id
    hash is stored. An email already taken is refused (`Conflict`).
    """
    if org_slug is None and not operator:
        raise ValueError("a user needs an organization or the operator flag")
    if role not in ROLES:
        raise Conflict(f"role {role!r} is not one of {', '.join(ROLES)}")
    address = normalize_email(email)
    check_new_password(password)
    org = None if org_slug is None else await get_org(conn, org_slug)
    password_hash = await asyncio.to_thread(hash_password, password)
    try:
        async with conn.transaction():
            cursor = await conn.execute(
                b"INSERT INTO users (email, password_hash, is_operator) VALUES (%s, %s, %s)"
                b" RETURNING id, email, is_operator, active, created_at",
                (address, password_hash, operator),
            )
            row = await cursor.fetchone()
            assert row is not None
            if org is not None:
                await conn.execute(
                    b"INSERT INTO memberships (user_id, organization_id, role) VALUES (%s, %s, %s)",
                    (row[0], org.id, role),
                )
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"user {address!r} already exists") from exc
    except psycopg.errors.CheckViolation as exc:  # only the message, never the values
        raise Conflict(f"user {address!r} refused: {exc.diag.constraint_name}") from exc
    return await _user(conn, row)


MAX_PASSWORD_LENGTH: Final = 1000


def check_new_password(password: str) -> None:
    """`Conflict` saying why, when `password` may not be chosen."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise Conflict(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise Conflict(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


async def set_password(conn: Connection, user_id: UUID, password: str) -> None:
    """Store the argon2id hash of `password` (checked first) as user `user_id`'s."""
    check_new_password(password)
    password_hash = await asyncio.to_thread(hash_password, password)
    await conn.execute(
        b"UPDATE users SET password_hash = %s WHERE id = %s", (password_hash, user_id)
    )


async def change_password(conn: Connection, user_id: UUID, current: str, new: str) -> bool:
    """Set `new` as the password of `user_id` if `current` is theirs; whether it was.

    The new password is checked first (`Conflict`), so a refused one costs no hash.
    """
    check_new_password(new)
    cursor = await conn.execute(
        b"SELECT password_hash FROM users WHERE id = %s AND active FOR UPDATE", (user_id,)
    )
    row = await cursor.fetchone()
    stored = None if row is None else str(row[0])

    def check() -> bool:
        return verify_password(stored or _dummy_hash(), current)

    if not await asyncio.to_thread(check) or row is None:
        return False
    await set_password(conn, user_id, new)
    return True


async def org_users(conn: Connection, org_id: UUID) -> list[tuple[User, Role]]:
    """The members of organization `org_id` with their role, by email."""
    cursor = await conn.execute(
        b"SELECT u.id, u.email, u.is_operator, u.active, u.created_at, m.role"
        b" FROM memberships m JOIN users u ON u.id = m.user_id"
        b" WHERE m.organization_id = %s ORDER BY u.email",
        (org_id,),
    )
    return [(await _user(conn, row[:5]), row[5]) for row in await cursor.fetchall()]


async def get_user(conn: Connection, email: str) -> User:
    """The user with `email` (any case); `NotFound` if there is none."""
    cursor = await conn.execute(
        b"SELECT id, email, is_operator, active, created_at FROM users WHERE email = %s",
        (email.strip().lower(),),
    )
    row = await cursor.fetchone()
    if row is None:
        raise NotFound(f"no user {email!r}")
    return await _user(conn, row)


async def authenticate(conn: Connection, email: str, password: str) -> User | None:
    """The active user `email` if `password` is theirs, else None (same cost either way)."""
    cursor = await conn.execute(
        b"SELECT id, email, is_operator, active, created_at, password_hash FROM users"
        b" WHERE email = %s",
        (email.strip().lower(),),
    )
    row = await cursor.fetchone()
    stored = None if row is None else str(row[5])

    def check() -> bool:
        return verify_password(stored or _dummy_hash(), password)

    matches = await asyncio.to_thread(check)
    if row is None or not matches or not row[3]:
        return None
    return await _user(conn, row[:5])
