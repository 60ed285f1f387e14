"""A cluster of real `frontdesk run` processes on one database, and sipp bursts against it.

Owns: starting N node processes (each with its own node id, SIP port, RTP range, data dir
and output file), waiting for their "is up" banner, stopping them (SIGTERM, then SIGKILL)
or killing one with SIGKILL as a crash; firing bursts of simultaneous INVITEs
(`tests/data/sipp/uac_admission.xml`, one sipp per node and number, in parallel threads)
and counting what came back from the scenario's log lines; seeding organizations and
numbers through the store functions; reading `active_calls` and `sessions` with psycopg.

Must not: touch any node's internals (everything goes over SIP, the process boundary and
the database), or use fixed ports (loopback is shared: every port is chosen free now).
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from tests.conftest import SIPP_DATA
from tests.integration.store.support import run_async
from tests.support.sipp import (
    EXIT_BIND_FAILED,
    SippResult,
    free_port,
    free_rtp_port,
    free_sip_port,
    run_sipp,
)

from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.tx import operator_tx

SCENARIO = SIPP_DATA / "uac_admission.xml"
FRONTDESK = (sys.executable, "-m", "frontdesk", "run")
RTP_RANGE_SIZE = 200
#: node RTP ranges lie in RTP_LOW .. the kernel's lowest ephemeral port
RTP_LOW = 20000
DEFAULT_COUNTRY = "IT"


class ClusterError(AssertionError):
    """A node did not come up, or did not stop, as the harness expected."""


# --------------------------------------------------------------------------- nodes


@dataclass
class Node:
    """One `frontdesk run` process."""

    node_id: str
    sip_port: int
    rtp_ports: str
    data_dir: Path
    log_path: Path
    env: Mapping[str, str]
    proc: subprocess.Popen[bytes]

    @property
    def target(self) -> str:
        """sipp's "host:port" for this node."""
        return f"127.0.0.1:{self.sip_port}"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        """Everything the process printed so far (stdout and stderr together)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.node_id} output (tail) ---\n{self.output()[-chars:]}"


def _ephemeral_low() -> int:
    """The lowest port the kernel hands out for port 0 (32768 on a stock Linux)."""
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text(encoding="ascii")
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _overlaps(low: int, high: int, taken: Sequence[tuple[int, int]]) -> bool:
    return any(low <= t_high and t_low <= high for t_low, t_high in taken)


class Cluster:
    """Node processes sharing one database. A context manager: leaving it stops them all.

    `env` is added to every node's environment (`FRONTDESK_NODE_MAX_CALLS`,
    `FRONTDESK_NODE_TTL`, ...); `start(..., **env)` adds more for the nodes it starts.
    """

    def __init__(self, conninfo: str, base_dir: Path, **env: str) -> None:
        self.conninfo = conninfo
        self.base_dir = base_dir
        self.env = dict(env)
        self.nodes: list[Node] = []
        self._taken: list[tuple[int, int]] = []  # SIP ports and RTP ranges in use here
        self._prefix = f"n{uuid.uuid4().hex[:6]}"

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    def _ports(self) -> tuple[int, str]:
        """A free SIP port (from the kernel's ephemeral range) and an RTP range below that
        range, apart from every other node's: the kernel never hands out a port in a
        node's RTP range to a sipp, so a node binding RTP for a call cannot take the port
        a sipp of the next burst was just given (nor the reverse)."""
        low_ephemeral = _ephemeral_low()
        for _ in range(200):
            sip_port = free_sip_port()
            if _overlaps(sip_port, sip_port, self._taken):
                continue
            base = random.randrange(RTP_LOW, low_ephemeral - RTP_RANGE_SIZE, 2)
            low, high = base, base + RTP_RANGE_SIZE
            if _overlaps(low, high, self._taken) or low <= sip_port <= high:
                continue
            self._taken += [(sip_port, sip_port), (low, high)]
            return sip_port, f"{low}-{high}"
        raise ClusterError("found no SIP port and RTP range apart from the other nodes")

    def spawn(self, **env: str) -> Node:
        """Start one node process (not waiting for it: see `wait_up`)."""
        index = len(self.nodes) + 1
        node_id = f"{self._prefix}-{index}"
        sip_port, rtp_ports = self._ports()
        data_dir = self.base_dir / node_id
        data_dir.mkdir(parents=True, exist_ok=True)
        node_env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        node_env.update(
            FRONTDESK_DATABASE_URL=self.conninfo,
            FRONTDESK_NODE_ID=node_id,
            FRONTDESK_SIP_HOST="127.0.0.1",
            FRONTDESK_SIP_PORT=str(sip_port),
            FRONTDESK_RTP_PORTS=rtp_ports,
            FRONTDESK_PBX_ADDRESSES="127.0.0.1",
            FRONTDESK_PUBLIC_IP="127.0.0.1",
            FRONTDESK_DATA_DIR=str(data_dir),
            # the web server (/metrics, /healthz) defaults to 8000: one port per node
            FRONTDESK_HTTP_PORT=str(free_port(kind=socket.SOCK_STREAM)),
            # these tests are about admission; the agent's calls are tested elsewhere, and
            # three nodes' model-loading workers would only load the two cores
            FRONTDESK_AGENT_ENABLED="false",
        )
        node_env.update(self.env)
        node_env.update(env)
        log_path = self.base_dir / f"{node_id}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                FRONTDESK,
                env=node_env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a signal for it reaches nothing else
            )
        node = Node(node_id, sip_port, rtp_ports, data_dir, log_path, node_env, proc)
        self.nodes.append(node)
        return node

    def restart(self, node: Node) -> Node:
        """A new process with `node`'s environment (same node id, ports and data dir), after
        the old one has exited (stop or kill9 it first). Not waited for: see `wait_up`."""
        if node.alive:
            raise ClusterError(f"node {node.node_id} is still running")
        log_path = node.log_path.with_name(f"{node.node_id}.{len(self.nodes)}.log")
        with log_path.open("wb") as out:
            proc = subprocess.Popen(
                FRONTDESK,
                env=dict(node.env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        again = Node(
            node.node_id, node.sip_port, node.rtp_ports, node.data_dir, log_path, node.env, proc
        )
        self.nodes.append(again)
        return again

    def wait_up(self, nodes: Sequence[Node], timeout_s: float = 30.0) -> None:
        """Wait for every node's "is up" banner; a node that exits first fails at once."""
        deadline = time.monotonic() + timeout_s
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if "is up" in node.output():
                    waiting.remove(node)
                elif not node.alive:
                    raise ClusterError(
                        f"node {node.node_id} exited with {node.proc.returncode} before it was"
                        f" up\n{node.tail()}"
                    )
            if waiting and time.monotonic() > deadline:
                tails = "\n".join(node.tail() for node in waiting)
                raise ClusterError(f"not up within {timeout_s:g} s\n{tails}")
            if waiting:
                time.sleep(0.05)

    def start(self, count: int, timeout_s: float = 30.0, **env: str) -> list[Node]:
        """Start `count` nodes at once and wait until each is up."""
        nodes = [self.spawn(**env) for _ in range(count)]
        self.wait_up(nodes, timeout_s)
        return nodes

    def stop(self, node: Node, grace_s: float = 10.0) -> int:
        """SIGTERM, then SIGKILL after `grace_s`; returns the exit code."""
        if node.alive:
            node.proc.send_signal(signal.SIGTERM)
            try:
                return node.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                node.proc.kill()
        return node.proc.wait()

    def kill9(self, node: Node) -> None:
        """A crash: SIGKILL to the node and its worker processes (agent, media) at once,
        no chance to clean up."""
        if node.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.proc.pid, signal.SIGKILL)  # its own session: see start()
        node.proc.wait()

    def stop_all(self, grace_s: float = 10.0) -> dict[str, int]:
        """Stop every node (SIGTERM to all at once, SIGKILL after `grace_s`); exit codes."""
        for node in self.nodes:
            if node.alive:
                node.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for node in self.nodes:
            try:
                node.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
        return {node.node_id: node.proc.returncode for node in self.nodes}

    def outputs(self) -> str:
        """Every node's output tail, for an assertion message."""
        return "\n".join(node.tail() for node in self.nodes)


# --------------------------------------------------------------------------- bursts


@dataclass(frozen=True)
class Shot:
    """One sipp run of a burst: `calls` INVITEs to `number` through `node`."""

    node: Node
    number: str
    calls: int


@dataclass
class ShotResult:
    shot: Shot
    sipp: SippResult | None
    error: str | None = None

    @property
    def answered(self) -> int:
        return sum(1 for line in self.lines if line.split(" ", 1)[0] == "answered")

    @property
    def busy(self) -> Counter[str]:
        """486 answers by their X-Frontdesk-Limit value ("" when the header was absent)."""
        found: Counter[str] = Counter()
        for line in self.lines:
            word, _, rest = line.partition(" ")
            if word == "busy":
                found[rest.strip()] += 1
        return found

    @property
    def failed(self) -> int:
        """Calls that did not end as a clean answered or busy call: those sipp counted as
        failed or never created, or else those that logged neither outcome (a call still
        waiting when sipp's -timeout stopped it is neither successful nor failed)."""
        if self.sipp is None:
            return self.shot.calls
        missing = max(self.shot.calls - self.sipp.total_calls, 0)
        silent = self.shot.calls - self.answered - sum(self.busy.values())
        return max(self.sipp.failed_calls + missing, silent)

    @property
    def lines(self) -> tuple[str, ...]:
        return () if self.sipp is None else self.sipp.log_lines


@dataclass
class BurstResult:
    """What a burst's calls got, in total and per sipp run."""

    shots: list[ShotResult]
    #: `sample()` values taken every `sample_every_s` while the burst ran
    samples: list[int] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(result.shot.calls for result in self.shots)

    @property
    def answered(self) -> int:
        return sum(result.answered for result in self.shots)

    @property
    def busy(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for result in self.shots:
            found.update(result.busy)
        return found

    @property
    def busy_total(self) -> int:
        return sum(self.busy.values())

    @property
    def failed(self) -> int:
        return sum(result.failed for result in self.shots)

    @property
    def start_spread_s(self) -> float:
        """Seconds between the first and the last of the burst's sipp processes starting."""
        starts = [_start_epoch(result.sipp) for result in self.shots if result.sipp is not None]
        starts = [start for start in starts if start > 0]
        return max(starts) - min(starts) if starts else 0.0

    @property
    def slowest_answer_ms(self) -> float:
        """The longest INVITE → final answer time of any call of the burst (sipp measure 1)."""
        return max(
            (max(r.sipp.rtd_ms.get("1", (0.0,)), default=0.0) for r in self.shots if r.sipp),
            default=0.0,
        )

    def answered_by_node(self) -> dict[str, int]:
        by_node: Counter[str] = Counter()
        for result in self.shots:
            by_node[result.shot.node.node_id] += result.answered
        return dict(by_node)

    def summary(self) -> str:
        busy = ", ".join(f"{level or '(no header)'}={n}" for level, n in sorted(self.busy.items()))
        peak = f" active-peak={max(self.samples)}" if self.samples else ""
        return (
            f"{self.total} INVITEs: answered={self.answered} busy[{busy}]"
            f" failed={self.failed}{peak} starts-spread={self.start_spread_s * 1000:.0f} ms"
            f" slowest-answer={self.slowest_answer_ms:.0f} ms in {self.elapsed_s:.2f} s"
        )

    def explain(self) -> str:
        """The summary plus every sipp run that did not go cleanly, for assertion messages."""
        parts = [self.summary()]
        for result in self.shots:
            who = f"{result.shot.node.node_id} {result.shot.number} x{result.shot.calls}"
            if result.sipp is None:
                parts.append(f"[{who}] sipp did not run: {result.error}")
            elif result.failed or not result.sipp.ok:
                parts.append(f"[{who}] {result.sipp.explain()}")
        return "\n".join(parts)


def _start_epoch(sipp: SippResult) -> float:
    """sipp's StartTime cell is `date<TAB>time<TAB>epoch`: the epoch, or 0 if unreadable."""
    try:
        return float(sipp.stats.get("StartTime", "").strip().split("\t")[-1])
    except ValueError:
        return 0.0


def _distinct_ports(count: int) -> list[tuple[int, int]]:
    """`count` (SIP port, media port) pairs, free now and all different from each other
    (sipp binds media P and P+2, so each media block of four is kept apart as a whole).
    Chosen here, before the burst, so parallel sipps never race for the same port."""
    pairs: list[tuple[int, int]] = []
    used: set[int] = set()
    while len(pairs) < count:
        sip_port, media_port = free_port(), free_rtp_port()
        block = set(range(media_port, media_port + 4))
        if sip_port in used or sip_port in block or block & used:
            continue
        used |= block | {sip_port}
        pairs.append((sip_port, media_port))
    return pairs


def spread(total: int, parts: int) -> list[int]:
    """`total` split into `parts` shares that differ by at most one (the first get more)."""
    if parts < 1:
        raise ValueError("parts must be at least 1")
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def fire(
    shots: Sequence[Shot],
    hold_ms: int,
    *,
    sample: Callable[[], int] | None = None,
    sample_every_s: float = 0.05,
    timeout_s: float | None = None,
    workdir: Path | None = None,
) -> BurstResult:
    """Run every shot's sipp at once (one thread each) and gather their outcomes.

    Each sipp places its calls with `-r` far above the count and `-l`/`-m` equal to it,
    so all INVITEs leave within a few milliseconds. Answered calls are held `hold_ms`, then
    hung up. While the burst runs, `sample()` (e.g. an active_calls count) is called every
    `sample_every_s` seconds from this thread and its values kept in `samples`.
    """
    shots = [shot for shot in shots if shot.calls > 0]
    limit_s = timeout_s if timeout_s is not None else hold_ms / 1000 + 20
    results: list[ShotResult | None] = [None] * len(shots)
    gate = threading.Barrier(len(shots))  # the sipps start together
    ports = _distinct_ports(len(shots))

    def run(index: int, shot: Shot) -> None:
        try:
            gate.wait(timeout=10)
            local_port, media_port = ports[index]
            for attempt in range(3):
                sipp = run_sipp(
                    SCENARIO,
                    shot.node.target,
                    local_port=local_port,
                    media_port=media_port,
                    calls=shot.calls,
                    rate=max(1000.0, shot.calls * 100.0),
                    concurrent=shot.calls,
                    call_length_ms=hold_ms,
                    service=shot.number,
                    trace_logs=True,
                    timeout_s=limit_s,
                    workdir=None if workdir is None else workdir / f"shot{index}-{attempt}",
                )
                # a port someone else on the machine took since: nothing was sent, retry
                if sipp.exit_code != EXIT_BIND_FAILED or sipp.total_calls:
                    break
                local_port, media_port = free_port(), free_rtp_port()
            results[index] = ShotResult(shot, sipp)
        except Exception as exc:  # reported in the result, asserted by the tests
            results[index] = ShotResult(shot, None, f"{type(exc).__name__}: {exc}")

    threads = [
        threading.Thread(target=run, args=(index, shot), name=f"burst-{index}", daemon=True)
        for index, shot in enumerate(shots)
    ]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    samples: list[int] = []
    while any(thread.is_alive() for thread in threads):
        if sample is not None:
            samples.append(sample())
        time.sleep(sample_every_s)
    for thread in threads:
        thread.join()
    done = [result for result in results if result is not None]
    return BurstResult(done, samples, time.monotonic() - began)


def burst(
    nodes: Sequence[Node],
    number: str,
    total: int,
    hold_ms: int,
    **kwargs: Any,
) -> BurstResult:
    """`total` simultaneous INVITEs to `number`, spread evenly over `nodes` (see `fire`)."""
    shots = [
        Shot(node, number, share)
        for node, share in zip(nodes, spread(total, len(nodes)), strict=True)
    ]
    return fire(shots, hold_ms, **kwargs)


# --------------------------------------------------------------------------- database


def seed(
    conninfo: str,
    orgs: Mapping[str, int | None],
    numbers: Mapping[str, tuple[str, int]],
) -> None:
    """Organizations (slug → org limit, None = none) and numbers (number → (slug, limit)),
    through the store functions, as the operator."""

    async def write() -> None:
        pool = await open_pool(conninfo, max_size=1)
        try:
            async with operator_tx(pool, actor="test:cluster") as conn:
                for slug, org_limit in orgs.items():
                    await create_org(conn, slug, slug.title(), max_concurrent_calls=org_limit)
                for phone, (slug, limit) in numbers.items():
                    await add_number(
                        conn,
                        phone,
                        slug,
                        label="burst",
                        max_concurrent_calls=limit,
                        assigned_by="test",
                        default_country=DEFAULT_COUNTRY,
                    )
        finally:
            await pool.close()

    run_async(write())


@dataclass(frozen=True)
class SessionRow:
    number: str
    node_id: str
    call_id: str
    outcome: str
    reason: str | None
    reject_status: int | None


class Db:
    """A plain (autocommit) connection for reading what the nodes wrote."""

    def __init__(self, conninfo: str) -> None:
        self.conn = psycopg.connect(conninfo, autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def active_calls(self, node_id: str | None = None) -> int:
        """`active_calls` rows, of one node or of all."""
        if node_id is None:
            row = self.conn.execute("SELECT count(*) FROM active_calls").fetchone()
        else:
            row = self.conn.execute(
                "SELECT count(*) FROM active_calls WHERE node_id = %s", (node_id,)
            ).fetchone()
        assert row is not None
        return int(row[0])

    def active_by_node(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT node_id, count(*) FROM active_calls GROUP BY node_id"
        ).fetchall()
        return {str(node): int(count) for node, count in rows}

    def sessions(self) -> list[SessionRow]:
        rows = self.conn.execute(
            "SELECT called_number, node_id, call_id_sip, outcome, reason, reject_status"
            " FROM sessions ORDER BY started_at"
        ).fetchall()
        return [SessionRow(*row) for row in rows]

    def session_counts(self) -> Counter[tuple[str, str | None, int | None]]:
        """Sessions rows by (outcome, reason, reject_status)."""
        return Counter((row.outcome, row.reason, row.reject_status) for row in self.sessions())

    def node_heartbeats(self) -> dict[str, float]:
        """Seconds since each node's last heartbeat (database clock)."""
        rows = self.conn.execute(
            "SELECT id, extract(epoch FROM now() - heartbeat_at) FROM nodes"
        ).fetchall()
        return {str(node): float(age) for node, age in rows}

    def wait_until(
        self, predicate: Callable[[Db], bool], timeout_s: float, step_s: float = 0.05
    ) -> float | None:
        """Seconds until `predicate(self)` held, or None if it still fails after `timeout_s`."""
        began = time.monotonic()
        while True:
            if predicate(self):
                return time.monotonic() - began
            if time.monotonic() - began > timeout_s:
                return None
            time.sleep(step_s)


@contextmanager
def reader(conninfo: str) -> Iterator[Db]:
    db = Db(conninfo)
    try:
        yield db
    finally:
        db.close()
