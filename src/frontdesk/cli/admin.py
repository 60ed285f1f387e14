"""The operator's commands: `frontdesk org …`, `frontdesk number …`, `frontdesk user …`.

Owns: their arguments, the one transaction each runs in (`operator_tx`, actor
`cli:<os user>`, on the database of the settings: the embedded server or
`FRONTDESK_DATABASE_URL`, migrated first), what they print, and exit codes (1 with
`error: …` on stderr for a refused request, 2 for bad usage or settings). cli/main.py mounts the
three sub-apps.

Must not: hold data rules (they live in `frontdesk.store.orgs/numbers/users` and the schema)
or print a password other than the one it generated, once. Store modules are imported inside
the commands so `frontdesk --help` stays fast.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from frontdesk.config import Settings, load_settings
from frontdesk.errors import ConfigError, FrontdeskError

if TYPE_CHECKING:
    from frontdesk.store.engine import Connection
    from frontdesk.store.numbers import NumberRow
    from frontdesk.store.orgs import Org

T = TypeVar("T")

org_app = typer.Typer(help="Organizations: add, list, change.", no_args_is_help=True)
number_app = typer.Typer(
    help="The trunk's numbers: add, assign, change, list, remove.", no_args_is_help=True
)
user_app = typer.Typer(help="People who log in to the web app.", no_args_is_help=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (else FRONTDESK_CONFIG)."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Any TenantConfig key (repeatable). VALUE is read as JSON when it parses"
        " (42, true, null, [...]), else as text.",
    ),
]


class Role(StrEnum):
    owner = "owner"
    member = "member"


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _actor() -> str:
    """`cli:<os user>`: who made the change, for `assigned_by` and the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry for this uid (containers)
        return "cli:unknown"


def _run(config: Path | None, work: Callable[[Connection, Settings], Awaitable[T]]) -> T:
    """Run `work` in one operator transaction on the settings' database; map our errors."""
    from frontdesk.store.engine import open_database
    from frontdesk.store.tx import operator_tx

    settings = _settings(config)

    async def main() -> T:
        async with (
            open_database(settings, max_size=2) as pool,
            operator_tx(pool, actor=_actor()) as conn,
        ):
            return await work(conn, settings)

    try:
        return asyncio.run(main())
    except FrontdeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(h), *(len(row[i]) for row in rows)]) for i, h in enumerate(headers)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _config_changes(sets: list[str] | None, **named: Any) -> dict[str, Any]:
    """The TenantConfig changes of a command: its named options, then `--set KEY=VALUE`."""
    changes = {key: value for key, value in named.items() if value is not None}
    for item in sets or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--set")
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            value = text
        changes[key.strip()] = value
    return changes


def _limit(value: int | None) -> str:
    return "no limit" if value is None else str(value)


def _describe_org(org: Org) -> str:
    status = "active" if org.active else "suspended"
    return f"{org.slug} ({org.name}), {status}, max calls {_limit(org.max_concurrent_calls)}"


def _describe_number(number: NumberRow) -> str:
    status = "active" if number.active else "inactive"
    overrides = ", ".join(sorted(number.config_override)) or "none"
    return (
        f"{number.phone_number} ({number.org_slug}): label {number.label!r}, {status},"
        f" max calls {number.max_concurrent_calls}, overrides: {overrides}"
    )


# --- org -------------------------------------------------------------------------------


@org_app.command("add")
def org_add(
    slug: Annotated[str, typer.Argument(help="Short id: lower-case letters, digits, dashes.")],
    name: Annotated[str, typer.Option("--name", help="The business's name.")],
    max_calls: Annotated[
        int | None, typer.Option("--max-calls", min=1, help="Concurrent calls (default: no limit).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add an organization, with the default agent configuration."""
    from frontdesk.store.orgs import create_org

    async def work(conn: Connection, settings: Settings) -> Org:
        return await create_org(conn, slug, name, max_calls)

    typer.echo(f"added organization {_describe_org(_run(config, work))}")


@org_app.command("list")
def org_list(config: ConfigOption = None) -> None:
    """List the organizations and how many numbers each has."""
    from frontdesk.store.numbers import list_numbers
    from frontdesk.store.orgs import list_orgs

    async def work(conn: Connection, settings: Settings) -> list[list[str]]:
        counts: dict[str, int] = {}
        for number in await list_numbers(conn):
            counts[number.org_slug] = counts.get(number.org_slug, 0) + 1
        return [
            [
                org.slug,
                org.name,
                "active" if org.active else "suspended",
                _limit(org.max_concurrent_calls),
                str(counts.get(org.slug, 0)),
            ]
            for org in await list_orgs(conn)
        ]

    rows = _run(config, work)
    if not rows:
        typer.echo("no organizations")
        return
    typer.echo(_table(["SLUG", "NAME", "STATUS", "MAX CALLS", "NUMBERS"], rows))


def _max_calls_or_none(value: str) -> int | None:
    if value.strip().lower() in {"none", "unlimited"}:
        return None
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise typer.BadParameter(f"{value!r} is neither a number >= 1 nor 'none'")
    return number


@org_app.command("set")
def org_set(
    slug: Annotated[str, typer.Argument()],
    name: Annotated[str | None, typer.Option("--name")] = None,
    max_calls: Annotated[
        str | None, typer.Option("--max-calls", metavar="N|none", help="'none': no limit.")
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--suspended", help="Suspended: new calls get 480.")
    ] = None,
    greeting: Annotated[str | None, typer.Option("--greeting")] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="The system prompt.")] = None,
    voice: Annotated[str | None, typer.Option("--voice")] = None,
    transfer_target: Annotated[str | None, typer.Option("--transfer-target")] = None,
    sets: SetOption = None,
    config: ConfigOption = None,
) -> None:
    """Change an organization and its agent configuration (one transaction)."""
    from frontdesk.store.orgs import UNCHANGED, get_org, set_org_config, update_org

    limit = UNCHANGED if max_calls is None else _max_calls_or_none(max_calls)
    changes = _config_changes(
        sets,
        greeting=greeting,
        language=language,
        system_prompt=prompt,
        voice=voice,
        transfer_target=transfer_target,
    )
    if name is None and max_calls is None and active is None and not changes:
        typer.echo("error: nothing to change (see --help)", err=True)
        raise typer.Exit(2)

    async def work(conn: Connection, settings: Settings) -> Org:
        if changes:
            await set_org_config(conn, slug, changes)
        if name is None and max_calls is None and active is None:
            return await get_org(conn, slug)
        return await update_org(
            conn,
            slug,
            name=UNCHANGED if name is None else name,
            max_concurrent_calls=limit,
            active=UNCHANGED if active is None else active,
        )

    org = _run(config, work)
    typer.echo(f"updated organization {_describe_org(org)}")
    if changes:
        typer.echo(f"config changed: {', '.join(sorted(changes))}")


# --- number ----------------------------------------------------------------------------


@number_app.command("add")
def number_add(
    number: Annotated[str, typer.Argument(help="Any common form; stored as E.164.")],
    org: Annotated[str, typer.Option("--org", help="The organization's slug.")],
    label: Annotated[str, typer.Option("--label")] = "",
    max_calls: Annotated[int, typer.Option("--max-calls", min=1)] = 1,
    config: ConfigOption = None,
) -> None:
    """Put a number on the trunk for an organization."""
    from frontdesk.store.numbers import add_number

    async def work(conn: Connection, settings: Settings) -> NumberRow:
        return await add_number(
            conn,
            number,
            org,
            label=label,
            max_concurrent_calls=max_calls,
            assigned_by=_actor(),
            default_country=settings.default_country,
        )

    typer.echo(f"added {_describe_number(_run(config, work))}")


@number_app.command("assign")
def number_assign(
    number: Annotated[str, typer.Argument()],
    org: Annotated[str, typer.Option("--org", help="The new organization's slug.")],
    config: ConfigOption = None,
) -> None:
    """Move a number to another organization (clears its label and overrides)."""
    from frontdesk.store.numbers import assign_number, get_number

    async def work(conn: Connection, settings: Settings) -> tuple[str, NumberRow]:
        country = settings.default_country
        before = await get_number(conn, number, default_country=country)
        after = await assign_number(conn, number, org, _actor(), country)
        return before.org_slug, after

    previous, row = _run(config, work)
    if previous == row.org_slug:
        typer.echo(f"{row.phone_number} already belongs to {row.org_slug}: nothing changed")
    else:
        typer.echo(
            f"assigned {row.phone_number} to {row.org_slug} (was {previous});"
            " label and overrides cleared"
        )


@number_app.command("set")
def number_set(
    number: Annotated[str, typer.Argument()],
    label: Annotated[str | None, typer.Option("--label")] = None,
    max_calls: Annotated[int | None, typer.Option("--max-calls", min=1)] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Inactive: new calls get 480.")
    ] = None,
    greeting: Annotated[str | None, typer.Option("--greeting")] = None,
    language: Annotated[str | None, typer.Option("--language")] = None,
    prompt: Annotated[str | None, typer.Option("--prompt", help="The system prompt.")] = None,
    sets: SetOption = None,
    config: ConfigOption = None,
) -> None:
    """Change a number: label, limit, active, and overrides of its org's configuration."""
    from frontdesk.store.numbers import update_number

    changes = _config_changes(sets, greeting=greeting, language=language, system_prompt=prompt)
    if label is None and max_calls is None and active is None and not changes:
        typer.echo("error: nothing to change (see --help)", err=True)
        raise typer.Exit(2)

    async def work(conn: Connection, settings: Settings) -> NumberRow:
        return await update_number(
            conn,
            number,
            default_country=settings.default_country,
            label=label,
            max_concurrent_calls=max_calls,
            active=active,
            override_changes=changes or None,
        )

    typer.echo(f"updated {_describe_number(_run(config, work))}")


@number_app.command("list")
def number_list(
    org: Annotated[str | None, typer.Option("--org", help="Only this organization's.")] = None,
    config: ConfigOption = None,
) -> None:
    """List the numbers, with their organization and overrides."""
    from frontdesk.store.numbers import list_numbers

    async def work(conn: Connection, settings: Settings) -> list[NumberRow]:
        return await list_numbers(conn, org)

    rows = _run(config, work)
    if not rows:
        typer.echo("no numbers")
        return
    table = [
        [
            row.phone_number,
            row.org_slug,
            row.label,
            "active" if row.active else "inactive",
            str(row.max_concurrent_calls),
            ",".join(sorted(row.config_override)) or "-",
            row.assigned_by,
        ]
        for row in rows
    ]
    headers = ["NUMBER", "ORG", "LABEL", "STATUS", "MAX CALLS", "OVERRIDES", "ASSIGNED BY"]
    typer.echo(_table(headers, table))


@number_app.command("remove")
def number_remove(number: Annotated[str, typer.Argument()], config: ConfigOption = None) -> None:
    """Take a number off the trunk (refused while it has live calls)."""
    from frontdesk.store.numbers import remove_number

    async def work(conn: Connection, settings: Settings) -> NumberRow:
        return await remove_number(conn, number, default_country=settings.default_country)

    row = _run(config, work)
    typer.echo(f"removed {row.phone_number} (was {row.org_slug})")


# --- user ------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument()],
    org: Annotated[str | None, typer.Option("--org", help="Member of this organization.")] = None,
    role: Annotated[Role, typer.Option("--role")] = Role.member,
    operator: Annotated[
        bool, typer.Option("--operator", help="An operator: sees every organization.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Read the password from one line of stdin (else generate)."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Add a user: (--org SLUG [--role owner|member] | --operator)."""
    from frontdesk.store.users import add_user, generate_password

    if (org is None) == (not operator):
        raise typer.BadParameter("give exactly one of --org SLUG and --operator")
    generated = not password_stdin
    password = generate_password() if generated else sys.stdin.readline().rstrip("\r\n")

    async def work(conn: Connection, settings: Settings) -> str:
        user = await add_user(
            conn, email, password, org_slug=org, role=role.value, operator=operator
        )
        if user.is_operator:
            return f"added operator {user.email}"
        places = ", ".join(f"{m.role} of {m.org_slug}" for m in user.memberships)
        return f"added user {user.email}: {places}"

    typer.echo(_run(config, work))
    if generated:
        typer.echo(f"password (shown once): {password}")


def calls(
    active: Annotated[bool, typer.Option("--active", help="Only the calls live now.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    config: ConfigOption = None,
) -> None:
    """Live calls (every node) and the most recent call attempts."""
    from frontdesk.store.calls import live_calls, recent_calls

    async def work(conn: Connection, settings: Settings) -> str:
        live = await live_calls(conn)
        out = [f"live calls: {len(live)}"]
        if live:
            out.append(
                _table(
                    ("STARTED", "ORG", "NUMBER", "NODE", "CALL-ID"),
                    [
                        (
                            f"{c.started_at:%Y-%m-%d %H:%M:%S}",
                            c.org_slug,
                            c.number,
                            c.node_id,
                            c.call_id,
                        )
                        for c in live
                    ],
                )
            )
        if not active:
            past = await recent_calls(conn, limit)
            out.append(f"\nrecent calls: {len(past)}")
            if past:
                out.append(
                    _table(
                        ("STARTED", "ORG", "CALLED", "OUTCOME", "REASON", "DURATION", "NODE"),
                        [
                            (
                                f"{c.started_at:%Y-%m-%d %H:%M:%S}",
                                c.org_slug or "-",
                                c.called,
                                c.outcome + (f" {c.reject_status}" if c.reject_status else ""),
                                c.reason or "-",
                                f"{c.duration.total_seconds():.1f} s" if c.duration else "-",
                                c.node_id,
                            )
                            for c in past
                        ],
                    )
                )
        return "\n".join(out)

    typer.echo(_run(config, work))
