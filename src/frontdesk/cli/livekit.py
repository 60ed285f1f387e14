"""`frontdesk livekit …`: provision LiveKit SIP for the PBX, and run the LiveKit worker.

Owns: the `livekit` typer sub-app (`sync [--dry-run]`, `worker`) and its exit codes
(2: settings, 1: LiveKit or the database refused). Must not: hold logic of its own.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from frontdesk.config import Settings, load_settings
from frontdesk.errors import ConfigError, FrontdeskError

livekit_app = typer.Typer(help="The LiveKit front: sync the trunk and rule, run the worker.",
                          no_args_is_help=True)  # fmt: skip

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (else FRONTDESK_CONFIG)."),
]


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


async def _sync(settings: Settings, dry_run: bool) -> list[str]:
    from frontdesk.livekit.client import LiveKitCredentials, open_api
    from frontdesk.livekit.sync import active_numbers, sync
    from frontdesk.store.engine import open_database

    credentials = LiveKitCredentials.from_settings(settings)
    numbers: list[str] = []
    if not settings.livekit_wildcard_trunk:
        async with open_database(settings) as pool:
            numbers = await active_numbers(pool)
    async with open_api(credentials) as lkapi:
        steps = await sync(lkapi.sip, settings, numbers, dry_run=dry_run)
    return [step.describe() for step in steps]


@livekit_app.command("sync")
def sync_command(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the requests; write nothing to LiveKit.")
    ] = False,
) -> None:
    """Create or update the inbound trunk (the PBX, our numbers) and the dispatch rule."""
    settings = _settings(config)
    try:
        lines = asyncio.run(_sync(settings, dry_run))
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except FrontdeskError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if dry_run:
        typer.echo("dry run: nothing was written to LiveKit")
    for line in lines:
        typer.echo(line)


@livekit_app.command("worker")
def worker_command(config: ConfigOption = None) -> None:
    """Run frontdesk as the LiveKit agent (explicit dispatch), until SIGINT/SIGTERM."""
    from frontdesk.livekit.worker import run_worker

    settings = _settings(config)
    try:
        run_worker(settings)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
