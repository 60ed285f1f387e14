"""The operator's store functions (orgs, numbers, users) against a real, migrated database.

Each test gets its own database (the `pool` fixture); writes go through `operator_tx` as the
CLI does, and the tenant cross-checks read back through `tenant_tx`, so RLS decides.
"""

from __future__ import annotations

from typing import Any

import pytest

from frontdesk.errors import Conflict, InvalidNumber, NotFound
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import (
    add_number,
    assign_number,
    get_number,
    list_numbers,
    remove_number,
    update_number,
)
from frontdesk.store.orgs import (
    UNCHANGED,
    create_org,
    get_org,
    get_org_config,
    list_orgs,
    set_org_config,
    update_org,
)
from frontdesk.store.tx import operator_tx, tenant_tx
from frontdesk.store.users import add_user, authenticate, get_user, verify_password
from frontdesk.tenancy.config import ConfigOverrideError, TenantConfig

pytestmark = pytest.mark.integration

ACTOR = "cli:tester"
IT = "IT"


async def rows(pool: Pool, query: bytes, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read as the owner (no RLS in the way): what is really stored."""
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall()


async def two_orgs(pool: Pool) -> None:
    async with operator_tx(pool, ACTOR) as conn:
        await create_org(conn, "alpha", "Alpha Pizza")
        await create_org(conn, "beta", "Beta Dental", max_concurrent_calls=3)


# --- organizations -----------------------------------------------------------------------


async def test_create_org_stores_it_with_the_default_config(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        orgs = await list_orgs(conn)
        beta = await get_org(conn, "beta")
        config = await get_org_config(conn, "alpha")
    assert [(o.slug, o.name, o.active, o.max_concurrent_calls) for o in orgs] == [
        ("alpha", "Alpha Pizza", True, None),
        ("beta", "Beta Dental", True, 3),
    ]
    assert beta == orgs[1]
    assert config == TenantConfig()
    stored = await rows(pool, b"SELECT config, version FROM agent_instances ORDER BY created_at")
    assert [row[1] for row in stored] == [1, 1]
    assert stored[0][0] == TenantConfig().model_dump(mode="json")


async def test_create_org_refusals_are_ours_and_leave_the_transaction_usable(
    pool: Pool,
) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        with pytest.raises(Conflict, match="organization 'alpha' already exists"):
            await create_org(conn, "alpha", "Again")
        with pytest.raises(Conflict, match=r"slug 'Not A Slug' is not valid"):
            await create_org(conn, "Not A Slug", "x")
        with pytest.raises(Conflict, match="at least 1"):
            await create_org(conn, "gamma", "Gamma", max_concurrent_calls=0)
        with pytest.raises(NotFound, match="no organization 'nope'"):
            await get_org(conn, "nope")
        await create_org(conn, "delta", "Delta")  # the savepoints kept the transaction alive
    assert await rows(pool, b"SELECT slug FROM organizations ORDER BY slug") == [
        ("alpha",),
        ("beta",),
        ("delta",),
    ]
    assert await rows(pool, b"SELECT count(*) FROM agent_instances") == [(3,)]


async def test_update_org_changes_only_what_it_is_given(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        renamed = await update_org(conn, "beta", name="Beta Dental Care")
        assert (renamed.name, renamed.max_concurrent_calls, renamed.active) == (
            "Beta Dental Care",
            3,
            True,
        )
        unlimited = await update_org(conn, "beta", max_concurrent_calls=None)
        assert (unlimited.name, unlimited.max_concurrent_calls) == ("Beta Dental Care", None)
        suspended = await update_org(conn, "beta", active=False, name=UNCHANGED)
        assert (suspended.active, suspended.max_concurrent_calls) == (False, None)
        with pytest.raises(NotFound):
            await update_org(conn, "nope", active=False)
        with pytest.raises(Conflict, match="at least 1"):
            await update_org(conn, "beta", max_concurrent_calls=0)
    assert await rows(
        pool, b"SELECT name, max_concurrent_calls, active FROM organizations WHERE slug = 'beta'"
    ) == [("Beta Dental Care", None, False)]


async def test_set_org_config_merges_validates_and_bumps_the_version(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        first = await set_org_config(conn, "alpha", {"greeting": "Pronto, pizzeria!"})
        second = await set_org_config(conn, "alpha", {"language": "it"})
    assert first.greeting == "Pronto, pizzeria!"
    assert (second.greeting, second.language) == ("Pronto, pizzeria!", "it")
    assert second.system_prompt == TenantConfig().system_prompt
    async with operator_tx(pool, ACTOR) as conn:
        with pytest.raises(ConfigOverrideError, match="unknown config key 'colour'") as info:
            await set_org_config(conn, "alpha", {"greeting": "half", "colour": "red"})
        assert info.value.key == "colour"
        with pytest.raises(ConfigOverrideError, match="'language'"):
            await set_org_config(conn, "alpha", {"language": "not a language"})
        with pytest.raises(NotFound):
            await set_org_config(conn, "nope", {"greeting": "x"})
    stored = await rows(
        pool,
        b"SELECT a.config->>'greeting', a.config->>'language', a.version FROM agent_instances a"
        b" JOIN organizations o ON o.id = a.organization_id WHERE o.slug = 'alpha'",
    )
    assert stored == [("Pronto, pizzeria!", "it", 3)]


# --- numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("+39 055 1234567", "+390551234567"),
        ("0039 055 1234567", "+390551234567"),
        ("055 1234567", "+390551234567"),
        ("sip:+390551234567@pbx.example;user=phone", "+390551234567"),
        ("1000", "1000"),
    ],
)
async def test_add_number_stores_it_normalised(pool: Pool, raw: str, stored: str) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        row = await add_number(
            conn, raw, "alpha", label="main", assigned_by=ACTOR, default_country=IT
        )
    assert (row.phone_number, row.org_slug, row.label, row.max_concurrent_calls) == (
        stored,
        "alpha",
        "main",
        1,
    )
    assert (row.active, dict(row.config_override), row.assigned_by) == (True, {}, ACTOR)
    assert await rows(pool, b"SELECT phone_number FROM sip_numbers") == [(stored,)]
    audit = await rows(pool, b"SELECT action, phone_number, assigned_by FROM number_assignments")
    assert audit == [("add", stored, ACTOR)]


async def test_a_duplicate_number_is_refused_naming_the_number_and_its_org(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        await add_number(conn, "+390551234567", "alpha", assigned_by=ACTOR, default_country=IT)
        with pytest.raises(Conflict) as info:
            await add_number(conn, "055 123 4567", "beta", assigned_by=ACTOR, default_country=IT)
        with pytest.raises(InvalidNumber, match="'call me' is not a phone number"):
            await add_number(conn, "call me", "beta", assigned_by=ACTOR, default_country=IT)
        with pytest.raises(NotFound, match="no organization 'nope'"):
            await add_number(conn, "+390557654321", "nope", assigned_by=ACTOR, default_country=IT)
        with pytest.raises(Conflict, match="label"):
            await add_number(
                conn,
                "+390557654321",
                "beta",
                label="x" * 201,
                assigned_by=ACTOR,
                default_country=IT,
            )
    assert str(info.value) == "number +390551234567 already belongs to organization 'alpha'"
    assert await rows(pool, b"SELECT phone_number FROM sip_numbers") == [("+390551234567",)]


async def test_reassigning_records_who_and_when_and_writes_an_audit_row(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, "cli:first") as conn:
        added = await add_number(
            conn,
            "+390551234567",
            "alpha",
            label="orders",
            assigned_by="cli:first",
            default_country=IT,
        )
        await update_number(
            conn, "+390551234567", default_country=IT, override_changes={"greeting": "Pizza!"}
        )
    async with operator_tx(pool, ACTOR) as conn:
        moved = await assign_number(conn, "0551234567", "beta", ACTOR, IT)
        again = await assign_number(conn, "+390551234567", "beta", "cli:someone-else", IT)
    assert (moved.org_slug, moved.assigned_by, moved.label, dict(moved.config_override)) == (
        "beta",
        ACTOR,
        "",
        {},
    )
    assert moved.assigned_at > added.assigned_at
    assert again == moved  # already there: nothing changed, nothing audited
    audit = await rows(
        pool,
        b"SELECT a.action, o.slug, p.slug, a.assigned_by FROM number_assignments a"
        b" JOIN organizations o ON o.id = a.organization_id"
        b" LEFT JOIN organizations p ON p.id = a.previous_organization_id"
        b" ORDER BY a.assigned_at",
    )
    assert audit == [("add", "alpha", None, "cli:first"), ("assign", "beta", "alpha", ACTOR)]
    async with operator_tx(pool, ACTOR) as conn:
        with pytest.raises(NotFound, match=r"no number \+390559999999"):
            await assign_number(conn, "+390559999999", "beta", ACTOR, IT)


async def test_update_number_refuses_bad_overrides_with_nothing_written(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        await add_number(conn, "+390551234567", "alpha", assigned_by=ACTOR, default_country=IT)
        first = await update_number(
            conn,
            "+390551234567",
            default_country=IT,
            label="orders",
            override_changes={"greeting": "Ready to take your order"},
        )
        assert dict(first.config_override) == {"greeting": "Ready to take your order"}
        with pytest.raises(ConfigOverrideError, match="unknown config key 'greting'") as info:
            await update_number(
                conn,
                "+390551234567",
                default_country=IT,
                label="half written?",
                active=False,
                override_changes={"greting": "typo"},
            )
        assert info.value.key == "greting"
        with pytest.raises(ConfigOverrideError, match="'stt'"):
            await update_number(
                conn,
                "+390551234567",
                default_country=IT,
                max_concurrent_calls=5,
                override_changes={"stt": "carrier-pigeon"},
            )
        with pytest.raises(Conflict, match="at least 1"):
            await update_number(
                conn,
                "+390551234567",
                default_country=IT,
                label="half written?",
                max_concurrent_calls=0,
            )
        merged = await update_number(
            conn, "+390551234567", default_country=IT, override_changes={"language": "it"}
        )
    assert dict(merged.config_override) == {
        "greeting": "Ready to take your order",
        "language": "it",
    }
    assert await rows(
        pool, b"SELECT label, active, max_concurrent_calls, config_override FROM sip_numbers"
    ) == [("orders", True, 1, {"greeting": "Ready to take your order", "language": "it"})]


async def test_list_and_remove_numbers(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        for raw, org in [("+390557654321", "beta"), ("+390551234568", "alpha"), ("1000", "alpha")]:
            await add_number(conn, raw, org, assigned_by=ACTOR, default_country=IT)
        everything = await list_numbers(conn)
        alphas = await list_numbers(conn, "alpha")
        with pytest.raises(NotFound):
            await list_numbers(conn, "nope")
    assert [(n.org_slug, n.phone_number) for n in everything] == [
        ("alpha", "+390551234568"),
        ("alpha", "1000"),
        ("beta", "+390557654321"),
    ]
    assert [n.phone_number for n in alphas] == ["+390551234568", "1000"]
    async with operator_tx(pool, "cli:remover") as conn:
        removed = await remove_number(conn, "055 1234568", default_country=IT)
        with pytest.raises(NotFound):
            await get_number(conn, "+390551234568", default_country=IT)
        with pytest.raises(NotFound):
            await remove_number(conn, "+390551234568", default_country=IT)
    assert (removed.phone_number, removed.org_slug) == ("+390551234568", "alpha")
    audit = await rows(
        pool, b"SELECT phone_number, assigned_by FROM number_assignments WHERE action = 'remove'"
    )
    assert audit == [("+390551234568", "cli:remover")]


async def test_a_number_with_a_live_call_cannot_be_removed(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        number = await add_number(
            conn, "+390551234567", "alpha", assigned_by=ACTOR, default_country=IT
        )
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(b"INSERT INTO nodes (id, max_calls) VALUES ('node-1', 10)")
        cursor = await conn.execute(
            b"INSERT INTO sessions (organization_id, sip_number_id, call_id_sip,"
            b" called_number, node_id) VALUES (%s, %s, 'c1@pbx', %s, 'node-1') RETURNING id",
            (number.organization_id, number.id, number.phone_number),
        )
        session = (await cursor.fetchone() or [None])[0]
        await conn.execute(
            b"INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,"
            b" call_id_sip) VALUES (%s, %s, %s, 'node-1', 'c1@pbx')",
            (session, number.organization_id, number.id),
        )
    async with operator_tx(pool, ACTOR) as conn:
        with pytest.raises(Conflict, match=r"number \+390551234567 has live calls"):
            await remove_number(conn, "+390551234567", default_country=IT)
    assert await rows(pool, b"SELECT count(*) FROM sip_numbers") == [(1,)]


async def test_a_tenant_sees_only_its_own_numbers_after_operator_writes(pool: Pool) -> None:
    await two_orgs(pool)
    async with operator_tx(pool, ACTOR) as conn:
        alpha = await get_org(conn, "alpha")
        beta = await get_org(conn, "beta")
        await add_number(conn, "+390551234567", "alpha", assigned_by=ACTOR, default_country=IT)
        await add_number(conn, "+390551234568", "alpha", assigned_by=ACTOR, default_country=IT)
        await add_number(conn, "+390557654321", "beta", assigned_by=ACTOR, default_country=IT)

    async def seen_by(org_id: Any) -> list[str]:
        async with tenant_tx(pool, org_id) as conn:
            cursor = await conn.execute(b"SELECT phone_number FROM sip_numbers ORDER BY 1")
            return [row[0] for row in await cursor.fetchall()]

    assert await seen_by(alpha.id) == ["+390551234567", "+390551234568"]
    assert await seen_by(beta.id) == ["+390557654321"]
    async with operator_tx(pool, ACTOR) as conn:
        await assign_number(conn, "+390551234568", "beta", ACTOR, IT)
    assert await seen_by(alpha.id) == ["+390551234567"]
    assert await seen_by(beta.id) == ["+390551234568", "+390557654321"]


# --- users -------------------------------------------------------------------------------


async def test_add_user_hashes_with_argon2_and_verifies(pool: Pool) -> None:
    await two_orgs(pool)
    password = "correct horse battery"
    async with operator_tx(pool, ACTOR) as conn:
        owner = await add_user(
            conn, "  Alice@Example.COM ", password, org_slug="alpha", role="owner"
        )
        ops = await add_user(conn, "ops@example.com", "another secret", operator=True)
        assert await get_user(conn, "ALICE@example.com") == owner
        assert await authenticate(conn, "alice@example.com", password) == owner
        assert await authenticate(conn, "alice@example.com", "wrong password") is None
        assert await authenticate(conn, "nobody@example.com", password) is None
    assert (owner.email, owner.is_operator) == ("alice@example.com", False)
    assert [(m.org_slug, m.role) for m in owner.memberships] == [("alpha", "owner")]
    assert (ops.is_operator, ops.memberships) == (True, ())
    [(stored,)] = await rows(
        pool, b"SELECT password_hash FROM users WHERE email = 'alice@example.com'"
    )
    assert stored.startswith("$argon2id$")
    assert password not in stored
    assert verify_password(stored, password)
    assert not verify_password(stored, "correct horse battery!")
    assert not verify_password("not a hash", password)
    members = await rows(
        pool,
        b"SELECT u.email, o.slug, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        b" JOIN organizations o ON o.id = m.organization_id",
    )
    assert members == [("alice@example.com", "alpha", "owner")]


async def test_add_user_refusals_never_show_the_password(pool: Pool) -> None:
    await two_orgs(pool)
    secret = "s3cret-passw0rd"
    async with operator_tx(pool, ACTOR) as conn:
        await add_user(conn, "bob@example.com", secret, org_slug="beta")
        refusals = []
        for email, password, org in [
            ("BOB@example.com", secret, "beta"),
            ("not-an-email", secret, "beta"),
            ("carol@example.com", "short", "beta"),
            ("carol@example.com", secret, "nope"),
        ]:
            with pytest.raises((Conflict, NotFound)) as info:
                await add_user(conn, email, password, org_slug=org)
            refusals.append(str(info.value))
        with pytest.raises(ValueError, match="organization or the operator flag"):
            await add_user(conn, "dave@example.com", secret)
    assert refusals == [
        "user 'bob@example.com' already exists",
        "'not-an-email' is not an email address",
        "the password must have at least 8 characters",
        "no organization 'nope'",
    ]
    assert all(secret not in text for text in refusals)
    assert await rows(pool, b"SELECT email FROM users") == [("bob@example.com",)]
