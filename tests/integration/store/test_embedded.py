"""The embedded server: start, reuse by another handle, clean stop, restart, crash recovery;
and `open_database` over it or over a URL."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from tests.integration.store.support import TEST_SERVER_OPTIONS, PgServer, scratch_dir

from frontdesk.config import load_settings
from frontdesk.errors import EmbeddedPostgresError, StoreError
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import EMBEDDED_DATABASE, open_database, resolve_target
from frontdesk.store.migrate import available_migrations

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="frontdesk-pgown-", dir=scratch_dir()))
    yield base
    server = EmbeddedPostgres.for_data_dir(base)
    if server.running() is not None:
        server.force_stop()
    shutil.rmtree(base, ignore_errors=True)


def _select_one(conninfo: str) -> int:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT 1").fetchone()
    assert row is not None
    return int(row[0])


def test_start_stop_restart_keeps_data(data_dir: Path) -> None:
    server = EmbeddedPostgres.for_data_dir(data_dir, TEST_SERVER_OPTIONS)
    began = time.perf_counter()
    assert server.ensure_running() is True
    first_start = time.perf_counter() - began
    assert first_start < 10, f"init + start took {first_start:.2f} s"
    assert server.started_here
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
        # Unix socket only: no TCP listener
        row = conn.execute("SHOW listen_addresses").fetchone()
        assert row == ("",)
    server.stop()
    assert server.running() is None
    with pytest.raises(EmbeddedPostgresError, match="no PostgreSQL server is running"):
        server.conninfo()

    assert server.ensure_running() is True
    with psycopg.connect(server.conninfo()) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    server.stop()
    assert server.running() is None


def test_a_second_handle_reuses_and_leaves_the_server_running(pg: PgServer) -> None:
    other = EmbeddedPostgres(pg.server.pgdata)
    assert other.ensure_running() is False
    assert not other.started_here
    assert _select_one(other.conninfo()) == 1
    other.stop()  # not the owner: nothing happens
    assert pg.server.running() is not None
    with other:  # the context manager is start-if-needed / stop-if-started
        pass
    assert _select_one(pg.conninfo()) == 1


def test_recovers_after_the_server_was_killed(data_dir: Path) -> None:
    server = EmbeddedPostgres.for_data_dir(data_dir, TEST_SERVER_OPTIONS)
    server.ensure_running()
    info = server.running()
    assert info is not None
    os.kill(info.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.running() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.running() is None  # a stale postmaster.pid is not a running server
    assert server.ensure_running() is True
    assert _select_one(server.conninfo()) == 1
    server.stop()


def test_long_data_dir_gets_a_short_socket_dir(data_dir: Path) -> None:
    deep = data_dir / ("d" * 60) / ("e" * 40)
    deep.mkdir(parents=True)
    server = EmbeddedPostgres.for_data_dir(deep, TEST_SERVER_OPTIONS)
    server.ensure_running()
    try:
        info = server.running()
        assert info is not None
        assert info.socket_dir != server.pgdata
        assert len(str(info.socket_dir)) < 60
        assert _select_one(server.conninfo()) == 1
    finally:
        server.stop()


def test_refuses_options_that_would_reach_a_shell(data_dir: Path) -> None:
    with pytest.raises(EmbeddedPostgresError, match="not allowed"):
        EmbeddedPostgres.for_data_dir(data_dir, {"work_mem": "1MB; rm -rf /"})


async def test_open_database_uses_the_running_server(pg: PgServer) -> None:
    settings = load_settings(None, data_dir=pg.server.pgdata.parent)
    async with open_database(settings) as pool, pool.connection() as conn:
        cursor = await conn.execute(b"SELECT current_database(), count(*) FROM schema_migrations")
        assert await cursor.fetchone() == (EMBEDDED_DATABASE, len(available_migrations()))
    assert pg.server.running() is not None  # it did not start it, so it did not stop it


async def test_open_database_starts_and_stops_when_none_runs(data_dir: Path) -> None:
    settings = load_settings(None, data_dir=data_dir)
    async with open_database(settings) as pool, pool.connection() as conn:
        cursor = await conn.execute(b"SELECT count(*) FROM organizations")
        assert await cursor.fetchone() == (0,)
        assert EmbeddedPostgres.for_data_dir(data_dir).running() is not None
    assert EmbeddedPostgres.for_data_dir(data_dir).running() is None


async def test_open_database_with_a_url(db: str) -> None:
    settings = load_settings(None, database_url=db, data_dir=Path("/nonexistent"))
    assert resolve_target(settings).embedded is None
    async with open_database(settings) as pool, pool.connection() as conn:
        cursor = await conn.execute(b"SELECT to_regclass('sip_numbers') IS NOT NULL")
        assert await cursor.fetchone() == (True,)


async def test_unreachable_url_is_a_store_error(pg: PgServer) -> None:
    settings = load_settings(None, database_url=pg.conninfo("no_such_database"))
    with pytest.raises(StoreError, match="no_such_database"):
        async with open_database(settings, run_migrations=False):
            pass


def test_concurrent_starts_agree_on_one_server(data_dir: Path) -> None:
    handles = [EmbeddedPostgres.for_data_dir(data_dir, TEST_SERVER_OPTIONS) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=len(handles)) as executor:
        started = list(executor.map(lambda handle: handle.ensure_running(), handles))
    assert sorted(started) == [False, False, False, True]
    owner = handles[started.index(True)]
    pids = {info.pid for handle in handles if (info := handle.running()) is not None}
    assert len(pids) == 1
    owner.stop()
    assert owner.running() is None


def test_the_starter_leaves_the_server_running_while_others_use_it(data_dir: Path) -> None:
    starter = EmbeddedPostgres.for_data_dir(data_dir, TEST_SERVER_OPTIONS)
    assert starter.ensure_running()
    user = EmbeddedPostgres.for_data_dir(data_dir)
    assert not user.ensure_running()
    with psycopg.connect(user.conninfo()) as conn:
        assert starter.stop(grace=0.2) is False
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert starter.stop() is True
    assert starter.running() is None
