"""The edge with database admission (embedded PostgreSQL 18), next to Kamailio's 486.

    python -m bench.admission_bench [--quick]

Every INVITE goes through routing and a batched admission turn (one Query message: node and
org row locks, counts, the session and active_calls inserts for every INVITE queued since
the previous turn); every call end frees its slot and ends its session row in one release
statement of its own, batched (store/releases.py), as on a node. Figures:

1. Kamailio stateless 486 (reference, same run).
2. 486 refusals/s at the number limit (one call holds the number's only slot).
3. Answered calls/s with admission (INVITE/100/200/ACK/BYE/200), at offered rates.
4. INVITE -> 200 latency at 200 calls/s with admission (tcpdump timestamps).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop
from tests.support.sipp import percentile

from bench import kamailio_ref
from bench.edge_bench import (
    SIPP,
    Figure,
    bench_settings,
    command,
    rate_and_outcome,
    sipp,
    target_of,
)
from bench.wire import capture, invite_to_answer_ms
from frontdesk.calls.routing import RoutingDecider
from frontdesk.config import load_settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool, open_database
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx

OPEN = "+390551000000"  # a number whose limit is never reached
ONE = "+390551000001"  # a number with one slot


@dataclass
class Node:
    edge: EdgeServer
    admission: Admission
    recorder: SessionRecorder
    tasks: list[asyncio.Task[None]]

    async def stop(self) -> None:
        await self.edge.stop(grace=0.5)
        await self.admission.aclose()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def start_node(pool: Pool) -> Node:
    settings = bench_settings()
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(
        pool, routing, node_id="bench", node_max_calls=2000, node_ttl=15, db_timeout=5.0
    )
    await admission.register()
    recorder = SessionRecorder(pool, "bench", ends_written_by_release=True)  # as the node
    tasks = [asyncio.create_task(recorder.run())]
    edge = EdgeServer(settings, admission, on_record=recorder.submit)
    await edge.start()
    return Node(edge, admission, recorder, tasks)


async def seed(pool: Pool) -> None:
    async with operator_tx(pool, actor="bench") as conn:
        await create_org(conn, "bench", "Bench")
        for number, limit in ((OPEN, 1_000_000), (ONE, 1)):
            await add_number(conn, number, "bench", max_concurrent_calls=limit,
                             assigned_by="bench", default_country="IT")  # fmt: skip


async def answered(pool: Pool, calls: int, rate: int) -> Figure:
    node = await start_node(pool)
    try:
        result = await sipp(
            SIPP / "uac_rate.xml", target_of(node.edge), calls=calls, rate=rate, service=OPEN,
            timeout_s=180, extra_args=["-buff_size", "4194304"],
        )  # fmt: skip
    finally:
        await node.stop()
    return Figure(
        f"answered calls/s with admission (offered {rate}/s)",
        rate_and_outcome(result) + ")",
        "≥ 1,000/s, 0 failed",
        command(result),
    )


async def refusals(pool: Pool, calls: int, rate: int) -> Figure:
    node = await start_node(pool)
    holder = asyncio.create_task(
        sipp(SIPP / "uac_basic.xml", target_of(node.edge), service=ONE,
             extra_args=["-d", "60000"], timeout_s=120)
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 5
        while not node.edge.calls and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        result = await sipp(
            SIPP / "uac_busy.xml", target_of(node.edge), calls=calls, rate=rate, service=ONE,
            timeout_s=120, extra_args=["-buff_size", "4194304"],
        )  # fmt: skip
    finally:
        await node.stop()
        await holder
    return Figure(
        f"486 refusals/s at the number limit (offered {rate}/s)",
        rate_and_outcome(result) + ")",
        "≥ 2,000/s",
        command(result),
    )


async def latency(pool: Pool, calls: int, work: Path) -> Figure:
    node = await start_node(pool)
    assert node.edge.sip_address is not None
    pcap = work / "admission-latency.pcap"
    try:
        with capture(f"udp port {node.edge.sip_address[1]}", pcap):
            result = await sipp(SIPP / "uac_rate.xml", target_of(node.edge), calls=calls,
                                rate=200, service=OPEN, timeout_s=120)  # fmt: skip
    finally:
        await node.stop()
    samples = sorted(invite_to_answer_ms(pcap))
    return Figure(
        "INVITE→200 latency with admission at 200 calls/s",
        f"p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms, "
        f"max {samples[-1]:.2f} ms ({len(samples)} calls, {result.failed_calls} failed)",
        "p50 ≤ 2 ms, p99 ≤ 10 ms",
        command(result),
    )


async def main_async(quick: bool) -> list[Figure]:
    scale = 0.2 if quick else 1.0
    with kamailio_ref.kamailio_486() as ref:
        kamailio = kamailio_ref.measure(ref, calls=int(40_000 * scale), rate=20_000)
    figures = [
        Figure(
            "Kamailio stateless 486 (reference)",
            rate_and_outcome(kamailio) + ")",
            "reference",
            command(kamailio),
        )
    ]
    with tempfile.TemporaryDirectory(prefix="fd-admission-") as tmp:
        settings = load_settings(None, data_dir=Path(tmp) / "data")
        async with open_database(settings, max_size=10) as pool:
            await seed(pool)
            for rate in (2_000, 3_000):
                figures.append(await refusals(pool, int(rate * 5 * scale), rate))
            for rate in (500, 800, 1_000):
                figures.append(await answered(pool, int(rate * 8 * scale), rate))
            figures.append(await latency(pool, int(2_000 * scale), Path(tmp)))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    figures = uvloop.run(main_async(args.quick))
    print(
        f"\n### Admission — {started}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print("Command: `python -m bench.admission_bench" + (" --quick" if args.quick else "") + "`\n")
    print("| figure | measured | target |\n|---|---|---|")
    for figure in figures:
        print(f"| {figure.name} | {figure.value} | {figure.target} |")
    print("\nsipp commands:")
    for figure in figures:
        print(f"- {figure.name}: `{figure.command}`")


if __name__ == "__main__":
    main()
