"""Admission across a cluster (issue 4 "Done means"): several `frontdesk run` processes on
one PostgreSQL, bursts of simultaneous sipp INVITEs, exact nested limits.

Each test seeds its own fresh database through the store functions, starts real node
processes (tests/integration/store/cluster.py) and fires `uac_admission.xml` bursts, one
sipp per node in parallel. A call counts as answered or busy from the scenario's own log
lines; `active_calls` is sampled from the database while the calls are held, so
over-admission is caught both on the wire and in the rows. Figures are printed (-s).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from tests.conftest import require_tool
from tests.integration.sipp_fake_uas import FakeUas, UasBehaviour
from tests.integration.store.cluster import (
    SCENARIO,
    BurstResult,
    Cluster,
    Shot,
    burst,
    fire,
    reader,
    seed,
)
from tests.support.sipp import run_sipp

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 20
HOLD_MS = 1500
#: org and node bursts: their INVITEs all land within ~0.2 s, so a shorter hold still
#: outlasts every admission decision of the round
SHORT_HOLD_MS = 1000
#: after the last BYE's 200, the rows must be gone this soon
RELEASE_S = 3.0


def _require_sipp() -> None:
    require_tool("sipp", "sip-tester")


def _wait_released(conninfo: str, cluster: Cluster, what: str) -> float:
    with reader(conninfo) as db:
        waited = db.wait_until(lambda d: d.active_calls() == 0, RELEASE_S)
        assert waited is not None, (
            f"{what}: active_calls not back to 0 within {RELEASE_S:g} s after the calls ended:"
            f" {db.active_by_node()}\n{cluster.outputs()}"
        )
    return waited


def _wait_sessions(conninfo: str, expected: int, timeout_s: float = 10.0) -> None:
    """Wait until `expected` sessions rows exist and none is in progress (batched writes)."""
    with reader(conninfo) as db:
        db.wait_until(
            lambda d: (
                sum(d.session_counts().values()) >= expected
                and not any(key[0] == "in-progress" for key in d.session_counts())
            ),
            timeout_s,
            step_s=0.2,
        )


def _simultaneous(result: BurstResult, hold_ms: int) -> None:
    """Every INVITE of the burst had its answer before the first answered call could end
    (else a freed slot could rightly admit a late INVITE, and the count would mean nothing).

    The first BYE leaves no sooner than `hold_ms` after the first sipp started; the last
    decision came at most (start spread + slowest INVITE→answer) after it. 20 % margin."""
    window_ms = result.start_spread_s * 1000 + result.slowest_answer_ms
    assert window_ms < hold_ms * 0.8, (
        f"burst too spread out for a {hold_ms} ms hold: {result.summary()}"
    )


def _print_round(label: str, result: BurstResult, release_s: float) -> None:
    by_node = " ".join(f"{node}:{n}" for node, n in sorted(result.answered_by_node().items()))
    print(f"  {label}: {result.summary()} per-node[{by_node}] released {release_s * 1000:.0f} ms")


@pytest.mark.parametrize(
    ("behaviour", "lines", "ok"),
    [
        (UasBehaviour(final=200), ["answered m=audio"] * 2, True),
        (UasBehaviour(final=486, limit_header="org"), ["busy org"] * 2, True),
        (UasBehaviour(final=486), ["busy"] * 2, True),
        (UasBehaviour(final=503), [], False),
    ],
    ids=["200", "486-org", "486-no-header", "503-fails"],
)
def test_uac_admission_scenario(behaviour: UasBehaviour, lines: list[str], ok: bool) -> None:
    """The burst scenario against a scripted far end: a 200 and a 486 are both successful
    calls, logged as such; any other final answer fails the call."""
    _require_sipp()
    with FakeUas(behaviour) as uas:
        result = run_sipp(
            SCENARIO,
            uas.target,
            calls=2,
            rate=50,
            timeout_s=8,
            service="0551234567",
            call_length_ms=100,
            trace_logs=True,
        )
    assert [line[: len(want)] for line, want in zip(result.log_lines, lines, strict=False)] == (
        lines
    ), result.explain()
    assert len(result.log_lines) == len(lines)
    assert result.ok is ok, result.explain()
    assert uas.saw("recv ACK") == 2  # the 486 and the 503 are ACKed too
    assert uas.saw("recv BYE") == (2 if behaviour.final == 200 else 0)


def test_number_limit_exact_across_three_nodes(db: str, tmp_path: Path) -> None:
    """60 simultaneous INVITEs over 3 nodes at a number with limit 5: exactly 5 answered,
    55 × 486 `number`, active_calls peaks at exactly 5 and returns to 0; ROUNDS times."""
    _require_sipp()
    number = "+390551230001"
    seed(db, {"trattoria": None}, {number: ("trattoria", 5)})
    print(f"\nnumber limit 5, 3 nodes, 60 INVITEs per round, hold {HOLD_MS} ms")
    with Cluster(db, tmp_path) as cluster, reader(db) as rows:
        nodes = cluster.start(3)
        hold = HOLD_MS
        by_node: Counter[str] = Counter()
        for round_no in range(1, ROUNDS + 1):
            result = burst(nodes, number, 60, hold, sample=rows.active_calls)
            context = f"round {round_no}: {result.explain()}\n{cluster.outputs()}"
            assert result.failed == 0, context
            _simultaneous(result, hold)
            assert result.answered == 5, context
            assert result.busy == Counter({"number": 55}), context
            assert max(result.samples) == 5, f"active_calls samples {result.samples}\n{context}"
            released = _wait_released(db, cluster, f"round {round_no}")
            _print_round(f"round {round_no:2d}", result, released)
            by_node.update(result.answered_by_node())
        _wait_sessions(db, 60 * ROUNDS)
        assert cluster.stop_all() == {node.node_id: 0 for node in nodes}, cluster.outputs()
        counts = rows.session_counts()
        completed_by_node = Counter(s.node_id for s in rows.sessions() if s.outcome == "completed")
    print(f"  sessions: {dict(counts)}; answered per node over all rounds: {dict(by_node)}")
    assert completed_by_node == +by_node  # each node recorded the calls it answered
    assert counts == Counter(
        {
            ("completed", "remote-bye", None): 5 * ROUNDS,
            ("rejected", "limit-number", 486): 55 * ROUNDS,
        }
    )


ORG_ROUNDS = 20


def test_org_limit_spread_over_two_numbers(db: str, tmp_path: Path) -> None:
    """Org limit 4 over two numbers (limit 10 each), bursts at both at once through 3
    nodes: exactly 4 answered in total, every other INVITE 486 `org`."""
    _require_sipp()
    first, second = "+390551230011", "+390551230012"
    seed(db, {"pizzeria": 4}, {first: ("pizzeria", 10), second: ("pizzeria", 10)})
    print(
        "\norg limit 4 over two numbers (limit 10 each), 3 nodes, 2 x 30 INVITEs per round,"
        f" hold {SHORT_HOLD_MS} ms"
    )
    with Cluster(db, tmp_path) as cluster, reader(db) as rows:
        nodes = cluster.start(3)
        hold = SHORT_HOLD_MS
        for round_no in range(1, ORG_ROUNDS + 1):
            shots = [Shot(node, number, 10) for number in (first, second) for node in nodes]
            result = fire(shots, hold, sample=rows.active_calls)
            context = f"round {round_no}: {result.explain()}\n{cluster.outputs()}"
            assert result.failed == 0, context
            _simultaneous(result, hold)
            assert result.answered == 4, context
            assert result.busy == Counter({"org": 56}), context
            assert max(result.samples) == 4, f"active_calls samples {result.samples}\n{context}"
            released = _wait_released(db, cluster, f"round {round_no}")
            _print_round(f"round {round_no}", result, released)
        _wait_sessions(db, 60 * ORG_ROUNDS)
        counts = rows.session_counts()
    print(f"  sessions: {dict(counts)}")
    assert counts == Counter(
        {
            ("completed", "remote-bye", None): 4 * ORG_ROUNDS,
            ("rejected", "limit-org", 486): 56 * ORG_ROUNDS,
        }
    )


NODE_ROUNDS = 20


def test_node_capacity_per_node(db: str, tmp_path: Path) -> None:
    """3 nodes with FRONTDESK_NODE_MAX_CALLS=2, number limit 100: 30 INVITEs → exactly
    2 answered on each node (6 in all), the other 24 486 `node`."""
    _require_sipp()
    number = "+390551230021"
    seed(db, {"studio": None}, {number: ("studio", 100)})
    print(
        "\nnode capacity 2, 3 nodes, number limit 100, 30 INVITEs per round,"
        f" hold {SHORT_HOLD_MS} ms"
    )
    with Cluster(db, tmp_path, FRONTDESK_NODE_MAX_CALLS="2") as cluster, reader(db) as rows:
        nodes = cluster.start(3)
        hold = SHORT_HOLD_MS
        for round_no in range(1, NODE_ROUNDS + 1):
            result = burst(nodes, number, 30, hold, sample=rows.active_calls)
            context = f"round {round_no}: {result.explain()}\n{cluster.outputs()}"
            assert result.failed == 0, context
            _simultaneous(result, hold)
            assert result.answered_by_node() == {node.node_id: 2 for node in nodes}, context
            assert result.busy == Counter({"node": 24}), context
            assert max(result.samples) == 6, f"active_calls samples {result.samples}\n{context}"
            released = _wait_released(db, cluster, f"round {round_no}")
            _print_round(f"round {round_no}", result, released)
        _wait_sessions(db, 30 * NODE_ROUNDS)
        counts = rows.session_counts()
    print(f"  sessions: {dict(counts)}")
    assert counts == Counter(
        {
            ("completed", "remote-bye", None): 6 * NODE_ROUNDS,
            ("rejected", "limit-node", 486): 24 * NODE_ROUNDS,
        }
    )


NODE_TTL = 3.0
HELD = 4


def test_killed_node_calls_are_reaped(db: str, tmp_path: Path) -> None:
    """kill -9 of a node holding live calls: another node deletes its active_calls rows
    within NODE_TTL + 5 s, their sessions end failed `node-lost`, and the number, full
    until then, admits a new call again."""
    _require_sipp()
    number = "+390551230031"
    seed(db, {"garage": None}, {number: ("garage", HELD)})
    env = {"FRONTDESK_NODE_TTL": f"{NODE_TTL:g}"}
    hold_s = NODE_TTL + 8  # the held calls outlive the reaping
    with Cluster(db, tmp_path, **env) as cluster, reader(db) as rows:
        doomed, survivor = cluster.start(2)
        held: list[BurstResult] = []
        holder = threading.Thread(
            target=lambda: held.append(
                burst([doomed], number, HELD, int(hold_s * 1000), timeout_s=hold_s + 3)
            ),
            daemon=True,
        )
        holder.start()
        full = rows.wait_until(lambda d: d.active_calls(doomed.node_id) == HELD, 10)
        assert full is not None, f"{rows.active_by_node()}\n{cluster.outputs()}"
        # the number is full: the survivor refuses
        refused = burst([survivor], number, 1, 100)
        assert (refused.answered, refused.busy) == (0, Counter({"number": 1})), refused.explain()

        cluster.kill9(doomed)
        killed_at = time.monotonic()
        reaped = rows.wait_until(lambda d: d.active_calls() == 0, NODE_TTL + 5, step_s=0.1)
        reap_s = time.monotonic() - killed_at
        print(
            f"\nkill -9 of {doomed.node_id} holding {HELD} calls (NODE_TTL={NODE_TTL:g} s):"
            f" rows reaped after {reap_s:.2f} s"
            + ("" if reaped is not None else f" — NOT within {NODE_TTL + 5:g} s")
        )
        assert reaped is not None, (
            f"rows left after {NODE_TTL + 5:g} s: {rows.active_by_node()}\n{cluster.outputs()}"
        )
        # the last heartbeat was up to NODE_TTL / 3 before the kill
        assert reap_s >= NODE_TTL / 2, f"reaped after {reap_s:.2f} s: the TTL was not awaited"

        again = burst([survivor], number, 1, 200)
        assert (again.answered, again.failed) == (1, 0), again.explain()
        _wait_released(db, cluster, "the call after the reap")
        _wait_sessions(db, HELD + 2)
        counts = rows.session_counts()
        holder.join(hold_s + 20)
    print(f"  sessions: {dict(counts)}")
    assert counts == Counter(
        {
            ("failed", "node-lost", None): HELD,
            ("rejected", "limit-number", 486): 1,
            ("completed", "remote-bye", None): 1,
        }
    )


def test_graceful_stop_ends_live_calls_and_frees_their_slots(db: str, tmp_path: Path) -> None:
    """SIGTERM to a node with live calls: it exits 0, its active_calls rows are gone and
    none of its sessions is left in progress."""
    _require_sipp()
    number = "+390551230041"
    seed(db, {"bakery": None}, {number: ("bakery", 5)})
    hold_s = 10.0
    with Cluster(db, tmp_path) as cluster, reader(db) as rows:
        (node,) = cluster.start(1)
        held: list[BurstResult] = []
        holder = threading.Thread(
            target=lambda: held.append(burst([node], number, 3, int(hold_s * 1000))),
            daemon=True,
        )
        holder.start()
        assert rows.wait_until(lambda d: d.active_calls() == 3, 10) is not None, node.tail()
        began = time.monotonic()
        code = cluster.stop(node)
        stop_s = time.monotonic() - began
        active = rows.active_calls()
        sessions = rows.sessions()
        holder.join(hold_s + 25)
    print(
        f"\nSIGTERM with 3 live calls: exit {code} after {stop_s:.2f} s;"
        f" sessions {[(s.outcome, s.reason) for s in sessions]}"
    )
    assert code == 0, node.tail()
    assert active == 0
    assert len(sessions) == 3 and not [s for s in sessions if s.outcome == "in-progress"]
    # the held calls were ended by the node, not by sipp's own BYE
    assert held and held[0].answered == 3 and held[0].elapsed_s < hold_s, held


def test_restarted_node_reaps_its_own_calls_first(db: str, tmp_path: Path) -> None:
    """kill -9 of a node with live calls, then the same node id starts again long before
    the TTL: by the time it is up its old rows are gone (sessions failed `node-restart`)
    and the full number admits a call again."""
    _require_sipp()
    number = "+390551230051"
    seed(db, {"florist": None}, {number: ("florist", 2)})
    hold_s = 4.0
    with Cluster(db, tmp_path, FRONTDESK_NODE_TTL="60") as cluster, reader(db) as rows:
        (node,) = cluster.start(1)
        holder = threading.Thread(
            target=lambda: burst([node], number, 2, int(hold_s * 1000), timeout_s=hold_s + 2),
            daemon=True,
        )
        holder.start()
        assert rows.wait_until(lambda d: d.active_calls() == 2, 10) is not None, node.tail()
        cluster.kill9(node)
        began = time.monotonic()
        again = cluster.restart(node)
        cluster.wait_up([again])
        up_s = time.monotonic() - began
        left = rows.active_calls()
        admitted = burst([again], number, 2, 200)
        _wait_sessions(db, 4)
        counts = rows.session_counts()
        holder.join(hold_s + 20)
    print(
        f"\nrestart of {node.node_id} after kill -9: up in {up_s:.2f} s, rows left {left};"
        f" sessions {dict(counts)}"
    )
    assert left == 0, again.tail()
    assert (admitted.answered, admitted.failed) == (2, 0), admitted.explain()
    assert counts == Counter(
        {("failed", "node-restart", None): 2, ("completed", "remote-bye", None): 2}
    )
