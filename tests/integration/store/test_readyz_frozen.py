"""A `frontdesk run` node says it is not ready while its database hangs, and ready again
after: /readyz over HTTP, a dedicated embedded PostgreSQL frozen with SIGSTOP (what a
network partition looks like: connections open, queries waiting) and thawed with SIGCONT."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.integration.store.cluster import Cluster
from tests.integration.store.test_admission_edge import _server_processes, _signal_all

from frontdesk.store.embedded import EmbeddedPostgres

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _readyz(port: str, timeout_s: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=timeout_s) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_node_is_not_ready_while_its_database_hangs(tmp_path: Path) -> None:
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fd-readyz-", dir="/tmp")) / "pg")
    server.ensure_running()
    frozen: list[int] = []
    try:
        conninfo = server.ensure_database("frontdesk")
        with Cluster(conninfo, tmp_path) as cluster:
            node = cluster.start(1)[0]
            port = node.env["FRONTDESK_HTTP_PORT"]
            assert _readyz(port) == 200, node.tail()
            frozen = _server_processes(server)
            _signal_all(frozen, signal.SIGSTOP)
            began = time.monotonic()
            status = _readyz(port)
            waited = time.monotonic() - began
            print(f"\nfrozen database: /readyz {status} after {waited:.2f} s")
            assert status == 503 and waited < 2.5, node.tail()
            _signal_all(frozen, signal.SIGCONT)
            frozen = []
            thawed = time.monotonic()
            while _readyz(port) != 200:
                assert time.monotonic() - thawed < 5, "not ready 5 s after the thaw"
                time.sleep(0.1)
            print(f"ready again {time.monotonic() - thawed:.2f} s after the thaw")
    finally:
        _signal_all(frozen, signal.SIGCONT)
        server.force_stop()
        shutil.rmtree(server.pgdata.parent, ignore_errors=True)
