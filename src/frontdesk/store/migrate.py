"""Schema migrations: numbered SQL files, applied in order, forward-only.

Owns: finding `migrations/NNNN_name.sql` in this package, the `schema_migrations` version
table, and applying what is missing, each file in its own transaction together with its
version row (a failed file leaves nothing behind). Runs as the database's login (owner) role.
An advisory lock makes concurrent `migrate()` calls (two nodes starting) take turns.

Must not: go backwards (there are no down migrations), or apply a file whose recorded
checksum differs from the file now shipped: an applied migration is never edited; a change
is a new file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg.rows import TupleRow

from frontdesk.errors import MigrationError

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# pg_advisory_lock key: the first 8 bytes of sha256("frontdesk.migrate"), as a signed bigint
_LOCK_KEY = int.from_bytes(hashlib.sha256(b"frontdesk.migrate").digest()[:8], "big", signed=True)

_VERSION_TABLE = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY CHECK (version >= 1),
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped with this package, by version; refuses gaps and strays."""
    found: list[Migration] = []
    directory = resources.files("frontdesk.store").joinpath("migrations")
    if not directory.is_dir():
        raise MigrationError(
            "no migrations directory in frontdesk.store: the package was installed without "
            "its data files (package-data must include migrations/*.sql)"
        )
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    if not found:
        raise MigrationError("frontdesk.store/migrations holds no NNNN_name.sql file")
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migrations must be numbered 1, 2, 3 … without gaps or duplicates: "
                f"expected {expected:04d}, found {migration.version:04d}_{migration.name}.sql"
            )
    return found


async def applied_migrations(conn: psycopg.AsyncConnection[TupleRow]) -> dict[int, str]:
    """version → checksum of what this database has applied (empty before the first run)."""
    cursor = await conn.execute(b"SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cursor.fetchone()
    if row is None or not row[0]:
        return {}
    cursor = await conn.execute(b"SELECT version, checksum FROM schema_migrations")
    return {int(version): str(checksum) for version, checksum in await cursor.fetchall()}


async def migrate(conninfo: str, migrations: list[Migration] | None = None) -> list[Migration]:
    """Apply the missing migrations to the database at `conninfo`; return those applied."""
    wanted = available_migrations() if migrations is None else migrations
    applied_now: list[Migration] = []
    try:
        conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to the database to migrate: {exc}") from exc
    async with conn:
        await conn.execute(b"SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            await conn.execute(_VERSION_TABLE)
            applied = await applied_migrations(conn)
            _check_history(wanted, applied)
            for migration in wanted:
                if migration.version in applied:
                    continue
                try:
                    async with conn.transaction():
                        await conn.execute(migration.sql.encode())
                        await conn.execute(
                            b"INSERT INTO schema_migrations (version, name, checksum)"
                            b" VALUES (%s, %s, %s)",
                            (migration.version, migration.name, migration.checksum),
                        )
                except psycopg.Error as exc:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name}.sql failed "
                        f"and was rolled back: {exc}"
                    ) from exc
                applied_now.append(migration)
        finally:
            await conn.execute(b"SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now


def _check_history(wanted: list[Migration], applied: dict[int, str]) -> None:
    known = {m.version: m for m in wanted}
    for version, checksum in sorted(applied.items()):
        migration = known.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}, which this frontdesk does not "
                "ship: it is newer than this code (migrations are forward-only)"
            )
        if migration.checksum != checksum:
            raise MigrationError(
                f"migration {version:04d}_{migration.name}.sql was edited after it was applied "
                "(write a new migration instead)"
            )
