"""`frontdesk db migrate` without the command line: what it does and what it says."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from tests.integration.store.support import scratch_dir

from frontdesk.config import load_settings
from frontdesk.store.cli_support import describe_target, migrate_command
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.migrate import available_migrations

pytestmark = pytest.mark.integration


def test_migrate_command_with_a_url_applies_then_reports_up_to_date(empty_db: str) -> None:
    settings = load_settings(None, database_url=f"{empty_db} password=hunter2")
    latest = available_migrations()[-1]
    first = migrate_command(settings)
    assert "applied 0001_initial, 0002_row_level_security" in first
    assert f"now at version {latest.version:04d}" in first
    second = migrate_command(settings)
    assert second.endswith(f"up to date (version {latest.version:04d}_{latest.name})")
    assert "hunter2" not in first + second
    assert "database empty_" in second


def test_migrate_command_starts_and_stops_the_embedded_server() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="frontdesk-pgcli-", dir=scratch_dir()))
    try:
        settings = load_settings(None, data_dir=data_dir)
        report = migrate_command(settings)
        assert report.startswith("embedded PostgreSQL, database frontdesk on ")
        assert "applied 0001_initial" in report
        assert EmbeddedPostgres.for_data_dir(data_dir).running() is None
    finally:
        server = EmbeddedPostgres.for_data_dir(data_dir)
        if server.running() is not None:
            server.force_stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_describe_target_hides_credentials() -> None:
    text = describe_target("postgresql://app:s3cret@db.example:6543/prod?sslmode=require", False)
    assert text == "database prod on db.example:6543"
    assert describe_target("not a conninfo ===", False) == "the configured database"
