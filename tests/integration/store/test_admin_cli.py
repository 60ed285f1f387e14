"""`frontdesk org|number|user …` through the real command line, against a per-test database.

Each command runs as a user would run it (settings from the environment, migrations, one
operator transaction); what it stored is read back with a plain connection.
"""

from __future__ import annotations

import getpass
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner, Result

from frontdesk.cli.main import app
from frontdesk.store.users import verify_password

pytestmark = pytest.mark.integration

ACTOR = f"cli:{getpass.getuser()}"


def cli(db: str, *args: str, stdin: str | None = None) -> Result:
    env = {"FRONTDESK_DATABASE_URL": db, "FRONTDESK_DEFAULT_COUNTRY": "IT"}
    return CliRunner().invoke(app, list(args), env=env, input=stdin)


def ok(result: Result) -> str:
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def refused(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.output, result.exception)
    assert result.stdout == ""
    return result.stderr


def query(db: str, sql: bytes, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def test_org_add_list_set(db: str) -> None:
    assert ok(cli(db, "org", "list")) == "no organizations\n"
    assert ok(cli(db, "org", "add", "alpha", "--name", "Alpha Pizza")) == (
        "added organization alpha (Alpha Pizza), active, max calls no limit\n"
    )
    ok(cli(db, "org", "add", "beta", "--name", "Beta Dental", "--max-calls", "3"))
    assert ok(cli(db, "org", "list")) == (
        "SLUG   NAME         STATUS  MAX CALLS  NUMBERS\n"
        "alpha  Alpha Pizza  active  no limit   0\n"
        "beta   Beta Dental  active  3          0\n"
    )
    out = ok(
        cli(
            db, "org", "set", "alpha", "--name", "Alpha Pizzeria", "--max-calls", "2",
            "--suspended", "--greeting", "Pronto!", "--language", "it", "--prompt", "Be brief.",
            "--voice", "aria", "--transfer-target", "1000", "--set", "llm_model=null",
        )
    )  # fmt: skip
    assert out == (
        "updated organization alpha (Alpha Pizzeria), suspended, max calls 2\n"
        "config changed: greeting, language, llm_model, system_prompt, transfer_target, voice\n"
    )
    assert ok(cli(db, "org", "set", "beta", "--max-calls", "none", "--active")) == (
        "updated organization beta (Beta Dental), active, max calls no limit\n"
    )
    stored = query(
        db,
        b"SELECT o.slug, o.name, o.active, o.max_concurrent_calls, a.config, a.version"
        b" FROM organizations o JOIN agent_instances a ON a.organization_id = o.id ORDER BY 1",
    )
    (alpha, beta) = stored
    assert alpha[:4] == ("alpha", "Alpha Pizzeria", False, 2)
    assert {k: alpha[4][k] for k in ("greeting", "language", "system_prompt", "voice")} == {
        "greeting": "Pronto!",
        "language": "it",
        "system_prompt": "Be brief.",
        "voice": "aria",
    }
    assert (alpha[4]["transfer_target"], alpha[5]) == ("1000", 2)
    assert beta[:4] == ("beta", "Beta Dental", True, None)


def test_org_errors(db: str) -> None:
    ok(cli(db, "org", "add", "alpha", "--name", "Alpha"))
    assert refused(cli(db, "org", "add", "alpha", "--name", "Again")) == (
        "error: organization 'alpha' already exists\n"
    )
    assert "slug 'Bad Slug' is not valid" in refused(
        cli(db, "org", "add", "Bad Slug", "--name", "x")
    )
    assert refused(cli(db, "org", "set", "nope", "--name", "x")) == (
        "error: no organization 'nope'\n"
    )
    err = refused(cli(db, "org", "set", "alpha", "--name", "Renamed", "--set", "colour=red"))
    assert err.startswith("error: unknown config key 'colour' (known: ")
    assert "bad value for 'language'" in refused(cli(db, "org", "set", "alpha", "--language", "?"))
    assert "nothing to change" in refused(cli(db, "org", "set", "alpha"), code=2)
    assert cli(db, "org", "set", "alpha", "--max-calls", "0").exit_code == 2
    # nothing of the refused changes was written
    assert query(db, b"SELECT name, max_concurrent_calls FROM organizations") == [("Alpha", None)]
    assert query(db, b"SELECT version FROM agent_instances") == [(1,)]


def test_number_add_assign_set_list_remove(db: str) -> None:
    ok(cli(db, "org", "add", "alpha", "--name", "Alpha"))
    ok(cli(db, "org", "add", "beta", "--name", "Beta"))
    assert ok(
        cli(db, "number", "add", "0039 055 1234567", "--org", "alpha", "--label", "orders")
    ) == ("added +390551234567 (alpha): label 'orders', active, max calls 1, overrides: none\n")
    ok(cli(db, "number", "add", "055 7654321", "--org", "beta", "--max-calls", "4"))
    out = ok(
        cli(db, "number", "set", "+39 055 1234567", "--greeting", "Ready to take your order",
            "--language", "it", "--max-calls", "2")
    )  # fmt: skip
    assert out == (
        "updated +390551234567 (alpha): label 'orders', active, max calls 2,"
        " overrides: greeting, language\n"
    )
    assert ok(cli(db, "number", "list")) == (
        "NUMBER         ORG    LABEL   STATUS  MAX CALLS  OVERRIDES          ASSIGNED BY\n"
        f"+390551234567  alpha  orders  active  2          greeting,language  {ACTOR}\n"
        f"+390557654321  beta           active  4          -                  {ACTOR}\n"
    )
    assert ok(cli(db, "number", "assign", "+390551234567", "--org", "beta")) == (
        "assigned +390551234567 to beta (was alpha); label and overrides cleared\n"
    )
    assert ok(cli(db, "number", "assign", "+390551234567", "--org", "beta")) == (
        "+390551234567 already belongs to beta: nothing changed\n"
    )
    assert ok(cli(db, "number", "list", "--org", "alpha")) == "no numbers\n"
    assert ok(cli(db, "number", "set", "0551234567", "--inactive", "--label", "front")) == (
        "updated +390551234567 (beta): label 'front', inactive, max calls 2, overrides: none\n"
    )
    audit = query(
        db,
        b"SELECT a.action, o.slug, a.assigned_by FROM number_assignments a"
        b" JOIN organizations o ON o.id = a.organization_id"
        b" WHERE a.phone_number = '+390551234567' ORDER BY a.assigned_at",
    )
    assert audit == [("add", "alpha", ACTOR), ("assign", "beta", ACTOR)]
    assert ok(cli(db, "number", "remove", "+390557654321")) == (
        "removed +390557654321 (was beta)\n"
    )
    assert query(db, b"SELECT phone_number, active FROM sip_numbers") == [("+390551234567", False)]
    assert query(db, b"SELECT assigned_by FROM number_assignments WHERE action = 'remove'") == [
        (ACTOR,)
    ]


def test_number_errors(db: str) -> None:
    ok(cli(db, "org", "add", "alpha", "--name", "Alpha"))
    ok(cli(db, "org", "add", "beta", "--name", "Beta"))
    ok(cli(db, "number", "add", "+390551234567", "--org", "alpha"))
    assert refused(cli(db, "number", "add", "+39 055 123 4567", "--org", "beta")) == (
        "error: number +390551234567 already belongs to organization 'alpha'\n"
    )
    assert refused(cli(db, "number", "add", "+390557654321", "--org", "gamma")) == (
        "error: no organization 'gamma'\n"
    )
    assert "'pizza' is not a phone number" in refused(
        cli(db, "number", "add", "pizza", "--org", "alpha")
    )
    err = refused(
        cli(db, "number", "set", "+390551234567", "--label", "half", "--set", "greting=Hi")
    )
    assert err.startswith("error: unknown config key 'greting'")
    assert "bad value for 'stt'" in refused(
        cli(db, "number", "set", "+390551234567", "--inactive", "--set", "stt=carrier-pigeon")
    )
    assert refused(cli(db, "number", "assign", "+390559999999", "--org", "beta")) == (
        "error: no number +390559999999\n"
    )
    assert refused(cli(db, "number", "remove", "+390559999999")) == (
        "error: no number +390559999999\n"
    )
    assert query(db, b"SELECT label, active, config_override FROM sip_numbers") == [("", True, {})]


def test_user_add(db: str) -> None:
    ok(cli(db, "org", "add", "alpha", "--name", "Alpha"))
    secret = "correct horse battery"
    out = ok(
        cli(db, "user", "add", "Alice@Example.com", "--org", "alpha", "--role", "owner",
            "--password-stdin", stdin=secret + "\n")
    )  # fmt: skip
    assert out == "added user alice@example.com: owner of alpha\n"
    out = ok(cli(db, "user", "add", "ops@example.com", "--operator"))
    first, second = out.splitlines()
    assert first == "added operator ops@example.com"
    assert second.startswith("password (shown once): ")
    generated = second.removeprefix("password (shown once): ")
    assert len(generated) == 20
    hashes = dict(query(db, b"SELECT email, password_hash FROM users"))
    assert verify_password(hashes["alice@example.com"], secret)
    assert verify_password(hashes["ops@example.com"], generated)
    assert not verify_password(hashes["ops@example.com"], secret)
    assert query(db, b"SELECT is_operator FROM users ORDER BY email") == [(False,), (True,)]

    duplicate = cli(db, "user", "add", "alice@example.com", "--org", "alpha",
                    "--password-stdin", stdin=secret + "\n")  # fmt: skip
    assert refused(duplicate) == "error: user 'alice@example.com' already exists\n"
    assert secret not in duplicate.output
    assert refused(cli(db, "user", "add", "bob@example.com", "--org", "nope")) == (
        "error: no organization 'nope'\n"
    )
    short = cli(db, "user", "add", "bob@example.com", "--operator", "--password-stdin",
                stdin="short\n")  # fmt: skip
    assert "at least 8 characters" in refused(short)
    both = cli(db, "user", "add", "bob@example.com", "--org", "alpha", "--operator")
    assert both.exit_code == 2
    assert "exactly one of --org SLUG and --operator" in both.output
    assert cli(db, "user", "add", "bob@example.com").exit_code == 2
    assert query(db, b"SELECT count(*) FROM users") == [(2,)]
