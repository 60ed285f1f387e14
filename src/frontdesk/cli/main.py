"""The `frontdesk` command line (typer). Each command loads Settings once and hands it on.

Owns: argument parsing and exit codes. Must not: hold logic of its own beyond wiring;
heavy modules are imported inside the commands so `frontdesk --help` stays fast.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from frontdesk.cli.admin import calls, number_app, org_app, user_app
from frontdesk.cli.livekit import livekit_app
from frontdesk.cli.web import token_app
from frontdesk.config import Settings, load_settings
from frontdesk.errors import ConfigError

app = typer.Typer(
    name="frontdesk",
    help="Multi-tenant AI voice receptionist behind one SIP peer trunk.",
    no_args_is_help=True,
    add_completion=False,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (else FRONTDESK_CONFIG)."),
]


def _settings(config: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(config, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def run(
    config: ConfigOption = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Demo mode: trust only 127.0.0.1 and ::1 as the PBX.")
    ] = False,
) -> None:
    """Start the node: SIP edge, media, agent workers and the web app."""
    from frontdesk.cli.node import run_node

    settings = _settings(config)
    if demo and not settings.pbx_addresses:
        settings = settings.model_copy(update={"pbx_addresses": ["127.0.0.1", "::1"]})
    if not settings.pbx_addresses:
        typer.echo(
            "error: FRONTDESK_PBX_ADDRESSES is empty: set the PBX address(es) "
            "(or use --demo to trust only 127.0.0.1 and ::1)",
            err=True,
        )
        raise typer.Exit(2)
    try:
        run_node(settings, demo=demo)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


class FirewallFormat(StrEnum):
    nftables = "nftables"
    iptables = "iptables"
    ufw = "ufw"


@app.command()
def firewall(
    pbx: Annotated[
        list[str] | None, typer.Option("--pbx", help="PBX address or CIDR (repeatable).")
    ] = None,
    fmt: Annotated[FirewallFormat, typer.Option("--format")] = FirewallFormat.nftables,
    config: ConfigOption = None,
) -> None:
    """Print firewall rules that drop SIP and RTP from anything but the PBX."""
    from frontdesk.cli.firewall import FirewallError, render_rules

    settings = _settings(config)
    addresses = list(pbx or settings.pbx_addresses)
    try:
        text = render_rules(
            addresses,
            sip_port=settings.sip_port,
            rtp_ports=settings.rtp_port_range,
            fmt=fmt.value,
        )
    except FirewallError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(text, nl=not text.endswith("\n"))


@app.command()
def doctor(config: ConfigOption = None) -> None:
    """Check this node's settings and ports; exit non-zero when a check fails."""
    from frontdesk.cli.doctor import run_checks

    settings = _settings(config)
    results = run_checks(settings)
    failed = False
    for result in results:
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[result.status]
        typer.echo(f"[{mark}] {result.name}: {result.detail}")
        failed = failed or result.status == "fail"
    raise typer.Exit(1 if failed else 0)


db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(number_app, name="number")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.add_typer(livekit_app, name="livekit")
app.command("calls")(calls)


@db_app.command("migrate")
def db_migrate(config: ConfigOption = None) -> None:
    """Apply pending migrations (embedded server, or FRONTDESK_DATABASE_URL)."""
    from frontdesk.errors import FrontdeskError
    from frontdesk.store.cli_support import migrate_command

    settings = _settings(config)
    try:
        typer.echo(migrate_command(settings))
    except FrontdeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc


def main() -> None:
    app()


if __name__ == "__main__":
    main()
