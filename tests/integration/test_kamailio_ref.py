"""The Kamailio reference answers uac_busy with 486, and run_sipp reads the run right.

This is also the runner's end-to-end test: 200 calls through a real SIP server, every
figure of `SippResult` checked against what the run must have been.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from tests.support.sipp import run_sipp

# `python -m pytest` from the repository root can import bench/; plain `pytest` cannot
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.kamailio_ref import (
    BUSY_SCENARIO,
    KamailioError,
    kamailio_486,
    measure,
)

pytestmark = pytest.mark.integration


def _require_tools() -> None:
    if shutil.which("sipp") is None:
        pytest.fail("sipp is missing: apt-get install sip-tester")
    if shutil.which("kamailio") is None and not os.access("/usr/sbin/kamailio", os.X_OK):
        pytest.fail("kamailio is missing: apt-get install kamailio")


def test_kamailio_answers_200_busy_calls() -> None:
    _require_tools()
    with kamailio_486() as ref:
        pid = ref.pid
        result = measure(ref, calls=200, rate=400, timeout_s=30)
        trace = run_sipp(
            BUSY_SCENARIO, ref.target, calls=3, rate=100, timeout_s=20, trace_logs=True
        )
    assert result.ok, result.explain()
    assert result.exit_code == 0
    assert (result.total_calls, result.successful_calls, result.failed_calls) == (200, 200, 0)
    assert result.unexpected_messages == 0
    assert result.failed_timeouts == 0
    assert result.calls_per_second > 0
    latency = result.latency
    assert latency is not None and latency.count == 200  # one INVITE → 486 time per call
    assert 0 <= latency.p50_ms <= latency.p99_ms <= latency.max_ms
    assert result.command[result.command.index("-s") + 1] == "1000"
    # the header the reference adds is what uac_busy logs
    assert trace.log_lines == ("limit node",) * 3, trace.explain()
    # the reference is gone once the block is left
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_runner_reports_failures_when_nobody_answers() -> None:
    _require_tools()
    with kamailio_486() as ref:
        target = ref.target
    # kamailio is stopped: the INVITEs go unanswered until sipp's global timeout
    result = run_sipp(BUSY_SCENARIO, target, calls=2, rate=10, timeout_s=2)
    assert not result.ok
    assert result.exit_code != 0
    assert result.successful_calls == 0
    assert result.retransmissions > 0  # sipp retransmitted its INVITEs
    assert result.latency is None


def test_kamailio_on_a_taken_port_fails_loudly() -> None:
    _require_tools()
    with kamailio_486() as ref, pytest.raises(KamailioError):  # noqa: SIM117
        with kamailio_486(ref.port):
            pass
