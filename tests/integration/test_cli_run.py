"""`frontdesk run` as a real process: demo mode answers a sipp call, SIGTERM stops it cleanly,
and an empty allowlist refuses to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.conftest import require_tool
from tests.support.messages import rtp_range_avoiding
from tests.support.sipp import free_port, free_sip_port, run_sipp

pytestmark = pytest.mark.integration

FRONTDESK = [sys.executable, "-m", "frontdesk"]


def node_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    sip_port = free_sip_port()
    env.update(
        FRONTDESK_SIP_HOST="127.0.0.1",
        FRONTDESK_SIP_PORT=str(sip_port),
        FRONTDESK_RTP_PORTS=rtp_range_avoiding(sip_port, 100),
        FRONTDESK_PUBLIC_IP="127.0.0.1",
        FRONTDESK_DATA_DIR=str(data_dir),
        FRONTDESK_HTTP_PORT=str(free_port(kind=socket.SOCK_STREAM)),
    )
    env.update(extra)
    return env


def test_run_demo_answers_a_call_and_stops_on_sigterm(tmp_path: Path) -> None:
    require_tool("sipp", "sip-tester")
    env = node_env(tmp_path)
    proc = subprocess.Popen(
        [*FRONTDESK, "run", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = ""
        # the agent workers load whisper, the embedding and end-of-turn models first
        deadline = time.monotonic() + 60
        while "call one:" not in banner and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            banner += line
        assert "is up" in banner, banner
        assert "127.0.0.1" in banner and "sipp" in banner
        result = run_sipp(
            "uac",
            f"127.0.0.1:{env['FRONTDESK_SIP_PORT']}",
            calls=2,
            rate=5,
            service="+390551234567",
            timeout_s=15,
        )
        assert result.successful_calls == 2, result.errors_tail
        web = f"http://127.0.0.1:{env['FRONTDESK_HTTP_PORT']}"
        assert httpx.get(f"{web}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{web}/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"sip": True, "database": True}
        metrics = httpx.get(f"{web}/metrics").text
        assert (
            'frontdesk_call_attempts_total{outcome="answered",reason="remote-bye"} 2.0' in metrics
        )
        assert "frontdesk_call_setup_seconds_count 2.0" in metrics
        assert 'frontdesk_stranger_packets_total{kind="sip"} 0.0' in metrics
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0, out
        assert "remote-bye" in out  # both calls were logged with their end reason
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_run_refuses_an_empty_allowlist(tmp_path: Path) -> None:
    done = subprocess.run(
        [*FRONTDESK, "run"],
        env=node_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "FRONTDESK_PBX_ADDRESSES is empty" in done.stderr


def test_bad_setting_is_a_clear_error(tmp_path: Path) -> None:
    env = node_env(tmp_path, FRONTDESK_PBX_ADDRESSES="10.0.0.1,not-an-ip")
    done = subprocess.run(
        [*FRONTDESK, "run"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "'not-an-ip' is not an IP address or CIDR" in done.stderr


def test_a_taken_http_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        env = node_env(tmp_path, FRONTDESK_HTTP_PORT=str(taken.getsockname()[1]))
        done = subprocess.run(
            [*FRONTDESK, "run", "--demo"], env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "is not free" in done.stderr and "FRONTDESK_HTTP_PORT" in done.stderr
    assert "is up" not in done.stdout  # never announced as up
