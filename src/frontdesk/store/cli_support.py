"""What the `frontdesk db …` commands do, minus the command line itself (cli/main.py wires it).

Owns: running the migrations against the configured database (the embedded server started
when none runs, and stopped again if this call started it) and the one-paragraph report the
command prints.

Must not: print, exit, or parse arguments; errors propagate as `StoreError`s for the CLI to
turn into a message and an exit status. Never shows a password.
"""

from __future__ import annotations

import asyncio

import psycopg
from psycopg.conninfo import conninfo_to_dict

from frontdesk.config import Settings
from frontdesk.store.engine import resolve_target
from frontdesk.store.migrate import Migration, available_migrations, migrate


def describe_target(conninfo: str, embedded: bool) -> str:
    """Where a conninfo points, without credentials: `dbname on host[:port]`."""
    try:
        params = conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return "the configured database"
    dbname = params.get("dbname") or "(default database)"
    host = str(params.get("host") or "localhost")
    port = params.get("port")
    where = f"{dbname} on {host}{f':{port}' if port and not host.startswith('/') else ''}"
    return f"embedded PostgreSQL, database {where}" if embedded else f"database {where}"


async def migrate_database(settings: Settings) -> tuple[list[Migration], str]:
    """Apply missing migrations to the database of `settings`; return them and its description."""
    target = await asyncio.to_thread(resolve_target, settings)
    try:
        applied = await migrate(target.conninfo)
    finally:
        if target.embedded is not None:
            await asyncio.to_thread(target.embedded.stop)
    return applied, describe_target(target.conninfo, target.embedded is not None)


def migrate_command(settings: Settings) -> str:
    """`frontdesk db migrate`: migrate, and say what was done (text for the terminal)."""
    applied, where = asyncio.run(migrate_database(settings))
    latest = available_migrations()[-1]
    if not applied:
        return f"{where}: up to date (version {latest.version:04d}_{latest.name})"
    names = ", ".join(f"{m.version:04d}_{m.name}" for m in applied)
    return f"{where}: applied {names}; now at version {latest.version:04d}_{latest.name}"
