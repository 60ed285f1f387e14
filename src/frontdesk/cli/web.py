"""`frontdesk token …`: API tokens for scripts that call the REST API (`/api/v1`).

Owns: the `token add EMAIL [--name NAME]` command (prints the new token once: only its digest
is stored) and `token revoke EMAIL` (every token of that user stops working). Runs in one
operator transaction through `frontdesk.cli.admin`'s runner, like the other admin commands.

Must not: print a token other than the one just created, or store it anywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from frontdesk.cli.admin import ConfigOption, _actor, _run
from frontdesk.config import Settings

if TYPE_CHECKING:
    from frontdesk.store.engine import Connection

token_app = typer.Typer(
    help="API tokens for scripts (Authorization: Bearer …).", no_args_is_help=True
)


@token_app.command("add")
def token_add(
    email: Annotated[str, typer.Argument(help="The user the token acts as.")],
    name: Annotated[str, typer.Option("--name", help="What the token is for.")] = "",
    config: ConfigOption = None,
) -> None:
    """Create an API token for a user; it is shown once."""
    from frontdesk.store.web_auth import create_api_token

    async def work(conn: Connection, settings: Settings) -> str:
        return await create_api_token(conn, email, name or _actor())

    token = _run(config, work)
    typer.echo(token)
    typer.echo("store it now: it cannot be shown again", err=True)


@token_app.command("revoke")
def token_revoke(
    email: Annotated[str, typer.Argument()],
    config: ConfigOption = None,
) -> None:
    """Revoke every API token of a user."""
    from frontdesk.store.web_auth import revoke_api_tokens

    async def work(conn: Connection, settings: Settings) -> int:
        return await revoke_api_tokens(conn, email)

    typer.echo(f"revoked {_run(config, work)} token(s)")
