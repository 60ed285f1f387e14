"""The business-hours migration: old free text becomes a schedule, or a note; SQL = Python."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.types.json import Jsonb

from frontdesk.store.migrate import available_migrations, migrate
from frontdesk.tenancy.config import TenantConfig
from frontdesk.tenancy.hours import parse_hours_text

pytestmark = pytest.mark.integration

TEXTS = [
    "Mon-Fri 9:00-18:00; Sat 10-14",
    "mon to fri 9-13, 15.30-19\nsaturday 9am-1pm",
    "Fri-Mon: 18-24",
    "Monday, Wednesday and Friday 8.30-12.30 and 14-18",
    "Tue-Sun 12-15, 19-23; Mon closed",
    "Mon-Fri 9-18; Mon 10-12",  # overlapping on Monday: a note
    "Sat 9-25",  # no such hour: a note
    "Tutti i giorni dalle 9 alle 18",  # not English: a note
    "by appointment only",
    "Sun 20:00-02:00",
]


async def test_sql_reads_what_python_reads(empty_db: str) -> None:
    await migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        for text in TEXTS:
            row = conn.execute("SELECT frontdesk_hours_from_text(%s)", (text,)).fetchone()
            assert row is not None
            parsed = parse_hours_text(text)
            if parsed is None:
                assert row[0] is None, text
            else:
                assert row[0] is not None, text
                assert row[0]["weekly"] == parsed.model_dump(mode="json")["weekly"], text


async def test_stored_free_text_is_migrated(empty_db: str) -> None:
    shipped = available_migrations()
    cut = next(i for i, m in enumerate(shipped) if m.name == "business_hours")
    await migrate(empty_db, shipped[:cut])
    with psycopg.connect(empty_db) as conn:
        org = conn.execute(
            "INSERT INTO organizations (slug, name) VALUES ('alpha', 'Alpha') RETURNING id"
        ).fetchone()
        assert org is not None
        conn.execute(
            "INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
            (org[0], Jsonb({"greeting": "Hi", "business_hours": "Mon-Fri 9-18; Sat 10-14"})),
        )
        for phone, hours in (("+390551110001", "by appointment"), ("+390551110002", "  ")):
            conn.execute(
                "INSERT INTO sip_numbers (phone_number, organization_id,"
                " config_override, assigned_by) VALUES (%s, %s, %s, 'test')",
                (phone, org[0], Jsonb({"business_hours": hours})),
            )
    await migrate(empty_db)
    with psycopg.connect(empty_db) as conn:
        config = conn.execute("SELECT config FROM agent_instances").fetchone()
        overrides = dict(
            conn.execute("SELECT phone_number, config_override FROM sip_numbers").fetchall()
        )
    assert config is not None
    org_config = TenantConfig.model_validate(config[0])
    assert org_config.greeting == "Hi" and org_config.business_hours is not None
    assert [str(i) for i in org_config.business_hours.weekly["fri"]] == ["09:00-18:00"]
    assert org_config.business_hours.timezone == "Europe/Rome"
    assert overrides["+390551110001"]["business_hours"] == {"note": "by appointment"}
    assert overrides["+390551110002"]["business_hours"] is None
    note = TenantConfig.model_validate(overrides["+390551110001"])
    assert note.business_hours is not None and note.business_hours.note == "by appointment"
