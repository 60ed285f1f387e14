"""Constraints that make bad rows impossible, and the number-assignment audit trigger."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from psycopg import errors
from psycopg.types.json import Jsonb
from tests.integration.store.support import Seed

from frontdesk.store.engine import Pool

pytestmark = pytest.mark.integration


async def _execute(pool: Pool, query: bytes, params: tuple[Any, ...] = ()) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(query, params)


async def _rows(pool: Pool, query: bytes, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall()


ADD_NUMBER = (
    b"INSERT INTO sip_numbers (phone_number, organization_id, assigned_by, max_concurrent_calls)"
    b" VALUES (%s, %s, 'test', %s)"
)


async def test_a_number_belongs_to_one_organization(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.UniqueViolation) as caught:
        await _execute(pool, ADD_NUMBER, (seed.a.phone, seed.b.org, 1))
    assert seed.a.phone in str(caught.value)
    assert caught.value.diag.constraint_name == "sip_numbers_phone_number_key"


@pytest.mark.parametrize("limit", [0, -1])
async def test_number_limit_must_be_at_least_one(pool: Pool, seed: Seed, limit: int) -> None:
    with pytest.raises(errors.CheckViolation) as caught:
        await _execute(pool, ADD_NUMBER, ("+390550000001", seed.a.org, limit))
    assert caught.value.diag.constraint_name == "sip_numbers_max_concurrent_calls_check"


async def test_number_limit_defaults_to_one(pool: Pool, seed: Seed) -> None:
    rows = await _rows(
        pool, b"SELECT max_concurrent_calls FROM sip_numbers WHERE id = %s", (seed.a.number,)
    )
    assert rows == [(1,)]


async def test_number_limit_cannot_be_null(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.NotNullViolation):
        await _execute(pool, ADD_NUMBER, ("+390550000001", seed.a.org, None))


async def test_organization_limit_is_null_or_positive(pool: Pool, seed: Seed) -> None:
    await _execute(
        pool, b"UPDATE organizations SET max_concurrent_calls = NULL WHERE id = %s", (seed.a.org,)
    )
    await _execute(
        pool, b"UPDATE organizations SET max_concurrent_calls = 5 WHERE id = %s", (seed.a.org,)
    )
    with pytest.raises(errors.CheckViolation) as caught:
        await _execute(
            pool, b"UPDATE organizations SET max_concurrent_calls = 0 WHERE id = %s", (seed.a.org,)
        )
    assert caught.value.diag.constraint_name == "organizations_max_concurrent_calls_check"


@pytest.mark.parametrize(
    "phone", ["055 1234567", "0551234567", "+39-055", "1234567", "+0551234567", "", "abc"]
)
async def test_only_normalised_numbers_are_stored(pool: Pool, seed: Seed, phone: str) -> None:
    with pytest.raises(errors.CheckViolation) as caught:
        await _execute(pool, ADD_NUMBER, (phone, seed.a.org, 1))
    assert caught.value.diag.constraint_name == "sip_numbers_phone_number_check"


@pytest.mark.parametrize("phone", ["+390550000001", "1000", "7"])
async def test_e164_and_extensions_are_stored(pool: Pool, seed: Seed, phone: str) -> None:
    await _execute(pool, ADD_NUMBER, (phone, seed.a.org, 2))


async def test_a_number_needs_an_existing_organization(pool: Pool) -> None:
    with pytest.raises(errors.ForeignKeyViolation):
        await _execute(pool, ADD_NUMBER, ("+390550000001", uuid.uuid4(), 1))


async def test_config_override_must_be_an_object(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.CheckViolation):
        await _execute(
            pool,
            b"UPDATE sip_numbers SET config_override = %s WHERE id = %s",
            (Jsonb(["greeting"]), seed.a.number),
        )
    with pytest.raises(errors.NotNullViolation):
        await _execute(
            pool, b"UPDATE sip_numbers SET config_override = NULL WHERE id = %s", (seed.a.number,)
        )


async def test_one_agent_instance_per_organization(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.UniqueViolation):
        await _execute(
            pool, b"INSERT INTO agent_instances (organization_id) VALUES (%s)", (seed.a.org,)
        )


@pytest.mark.parametrize("slug", ["", "Alpha", "has space", "-dash", "x" * 64])
async def test_organization_slug_shape(pool: Pool, slug: str) -> None:
    with pytest.raises(errors.CheckViolation):
        await _execute(pool, b"INSERT INTO organizations (slug, name) VALUES (%s, 'n')", (slug,))


async def test_duplicate_slug_and_email_refused(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.UniqueViolation, match="alpha"):
        await _execute(pool, b"INSERT INTO organizations (slug, name) VALUES ('alpha', 'n')")
    with pytest.raises(errors.UniqueViolation):
        await _execute(
            pool,
            b"INSERT INTO users (email, password_hash) VALUES ('owner@alpha.example', 'y')",
        )
    with pytest.raises(errors.CheckViolation):  # emails are stored lower-cased
        await _execute(
            pool, b"INSERT INTO users (email, password_hash) VALUES ('Owner@Alpha.example', 'y')"
        )


async def test_membership_role_is_owner_or_member(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.CheckViolation):
        await _execute(
            pool,
            b"INSERT INTO memberships (user_id, organization_id, role) VALUES (%s, %s, 'admin')",
            (seed.a.user, seed.b.org),
        )


async def test_a_ticket_cannot_point_at_another_organizations_call(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.ForeignKeyViolation):
        await _execute(
            pool,
            b"INSERT INTO tickets (organization_id, session_id, subject) VALUES (%s, %s, 's')",
            (seed.a.org, seed.b.session),
        )
    with pytest.raises(errors.ForeignKeyViolation):
        await _execute(
            pool,
            b"INSERT INTO tickets (organization_id, customer_id, subject) VALUES (%s, %s, 's')",
            (seed.a.org, seed.b.customer),
        )


async def test_an_active_call_belongs_to_its_sessions_organization(pool: Pool, seed: Seed) -> None:
    rows = await _rows(
        pool,
        b"INSERT INTO sessions (organization_id, call_id_sip, called_number, node_id)"
        b" VALUES (%s, 'b2', '+390557654321', 'node-1') RETURNING id",
        (seed.b.org,),
    )
    with pytest.raises(errors.ForeignKeyViolation):
        await _execute(
            pool,
            b"INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,"
            b" call_id_sip) VALUES (%s, %s, %s, 'node-1', 'x')",
            (rows[0][0], seed.a.org, seed.a.number),
        )


async def test_one_active_call_per_session(pool: Pool, seed: Seed) -> None:
    with pytest.raises(errors.UniqueViolation):
        await _execute(
            pool,
            b"INSERT INTO active_calls (session_id, organization_id, sip_number_id, node_id,"
            b" call_id_sip) VALUES (%s, %s, %s, 'node-1', 'x')",
            (seed.a.session, seed.a.org, seed.a.number),
        )


@pytest.mark.parametrize(
    "assignments",
    [
        "outcome = 'completed'",  # ended_at missing
        "ended_at = now()",  # still 'in-progress'
        "outcome = 'rejected', ended_at = now()",  # no reject status
        "outcome = 'completed', ended_at = now()",  # never answered
        "answered_at = started_at - interval '1 second'",
        "outcome = 'rejected', reject_status = 200, ended_at = now()",
        "outcome = 'lost', ended_at = now()",
        "transcript = '{}'::jsonb",
        "duration = interval '5 seconds'",
    ],
)
async def test_impossible_sessions_are_refused(pool: Pool, seed: Seed, assignments: str) -> None:
    with pytest.raises((errors.CheckViolation, errors.GeneratedAlways)):
        await _execute(
            pool, f"UPDATE sessions SET {assignments} WHERE id = %s".encode(), (seed.a.session,)
        )


async def test_session_duration_is_derived(pool: Pool, seed: Seed) -> None:
    await _execute(
        pool,
        b"UPDATE sessions SET answered_at = started_at + interval '2 seconds',"
        b" ended_at = started_at + interval '62 seconds', outcome = 'completed',"
        b" reason = 'bye-caller' WHERE id = %s",
        (seed.a.session,),
    )
    rows = await _rows(
        pool, b"SELECT extract(epoch FROM duration) FROM sessions WHERE id = %s", (seed.a.session,)
    )
    assert float(rows[0][0]) == 60.0


async def test_rejected_attempt_to_unknown_number_has_no_organization(
    pool: Pool, seed: Seed
) -> None:
    await _execute(
        pool,
        b"INSERT INTO sessions (call_id_sip, called_number, node_id, outcome, reason,"
        b" reject_status, ended_at) VALUES ('c', '+390559999999', 'node-1', 'rejected',"
        b" 'unknown-number', 404, now())",
    )
    with pytest.raises(errors.CheckViolation):  # a number without its organization
        await _execute(
            pool,
            b"INSERT INTO sessions (call_id_sip, called_number, node_id, sip_number_id)"
            b" VALUES ('c', %s, 'node-1', %s)",
            (seed.a.phone, seed.a.number),
        )


async def test_assignments_are_audited(pool: Pool, seed: Seed) -> None:
    await _execute(
        pool,
        b"UPDATE sip_numbers SET organization_id = %s, assigned_by = 'cli:root' WHERE id = %s",
        (seed.b.org, seed.a.number),
    )
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(b"SELECT set_config('frontdesk.actor', 'cli:ops', true)")
        await conn.execute(b"DELETE FROM active_calls WHERE sip_number_id = %s", (seed.a.number,))
        await conn.execute(b"DELETE FROM sip_numbers WHERE id = %s", (seed.a.number,))
    rows = await _rows(
        pool,
        b"SELECT action, organization_id, previous_organization_id, assigned_by"
        b" FROM number_assignments WHERE phone_number = %s ORDER BY assigned_at, action",
        (seed.a.phone,),
    )
    assert rows == [
        ("add", seed.a.org, None, "test"),
        ("assign", seed.b.org, seed.a.org, "cli:root"),
        ("remove", seed.b.org, None, "cli:ops"),
    ]


async def test_reassignment_updates_assigned_at(pool: Pool, seed: Seed) -> None:
    before = await _rows(
        pool, b"SELECT assigned_at FROM sip_numbers WHERE id = %s", (seed.a.number,)
    )
    await _execute(
        pool,
        b"UPDATE sip_numbers SET organization_id = %s, assigned_by = 'x' WHERE id = %s",
        (seed.b.org, seed.a.number),
    )
    after = await _rows(
        pool, b"SELECT assigned_at FROM sip_numbers WHERE id = %s", (seed.a.number,)
    )
    assert after[0][0] > before[0][0]


async def test_reassigning_a_number_leaves_live_calls_alone(pool: Pool, seed: Seed) -> None:
    await _execute(
        pool,
        b"UPDATE sip_numbers SET organization_id = %s, assigned_by = 'x' WHERE id = %s",
        (seed.b.org, seed.a.number),
    )
    rows = await _rows(
        pool, b"SELECT organization_id FROM active_calls WHERE id = %s", (seed.a.call,)
    )
    assert rows == [(seed.a.org,)]
