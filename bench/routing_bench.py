"""Routing with 10,000 numbers over 1,000 organizations, on the embedded PostgreSQL.

    python -m bench.routing_bench

- cold: loading the routing snapshot from the database (what a node does at start and
  after every change notification), and the first route() after it;
- warm: route() p50/p99 over every number, dialled in national format (so each decision
  includes E.164 normalisation);
- INVITE → 200 latency at 200 calls/s through routing (the edge with the database-backed
  decider; tcpdump timestamps), in the same run.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import uvloop
from psycopg.types.json import Jsonb
from tests.support.sipp import percentile

from bench.edge_bench import bench_latency
from frontdesk.calls.routing import Route, RoutingDecider
from frontdesk.config import load_settings
from frontdesk.store.engine import open_database
from frontdesk.store.routing import load_routing_table
from frontdesk.store.tx import operator_tx

ORGS = 1_000
PER_ORG = 10


async def seed(pool: object) -> list[str]:
    numbers: list[str] = []
    async with operator_tx(pool) as conn:  # type: ignore[arg-type]
        for org in range(ORGS):
            cursor = await conn.execute(
                "INSERT INTO organizations (slug, name) VALUES (%s, %s) RETURNING id",
                (f"org-{org}", f"Org {org}"),
            )
            row = await cursor.fetchone()
            assert row is not None
            await conn.execute(
                "INSERT INTO agent_instances (organization_id, config) VALUES (%s, %s)",
                (row[0], Jsonb({"greeting": f"Hello from org {org}"})),
            )
            for k in range(PER_ORG):
                number = f"+39055{org:04d}{k:03d}"
                numbers.append(number)
                await conn.execute(
                    "INSERT INTO sip_numbers (phone_number, organization_id, config_override,"
                    " assigned_by) VALUES (%s, %s, %s, 'bench')",
                    (number, row[0], Jsonb({"greeting": f"Line {k}"} if k % 2 else {})),
                )
    return numbers


async def main_async() -> None:
    with tempfile.TemporaryDirectory(prefix="fd-routing-") as tmp:
        settings = load_settings(None, data_dir=Path(tmp))
        async with open_database(settings) as pool:
            numbers = await seed(pool)
            loads = []
            for _ in range(5):
                started = time.perf_counter()
                table = await load_routing_table(pool, "IT")
                loads.append((time.perf_counter() - started) * 1000)
            national = [n[3:] for n in numbers]  # +390550001002 → 0550001002
            random.shuffle(national)
            first = time.perf_counter()
            table.route(national[0], "3331234567")
            first_ms = (time.perf_counter() - first) * 1000
            samples = []
            for dialled in national:
                started = time.perf_counter()
                routed = table.route(dialled, "3331234567")
                samples.append((time.perf_counter() - started) * 1e6)
                assert isinstance(routed, Route)
            samples.sort()
            latency = await bench_latency(
                2_000,
                200,
                Path(tmp),
                decider=RoutingDecider(table),
                number=national[0],
                name="INVITE→200 through routing (10,000 numbers)",
            )
    loads.sort()
    print(f"### Routing — {time.strftime('%Y-%m-%d %H:%M')}")
    print("Command: `python -m bench.routing_bench`\n")
    print("| figure | measured | target |\n|---|---|---|")
    print(
        f"| cold: load the snapshot ({len(table):,} numbers, {ORGS:,} orgs) | median "
        f"{loads[2]:.0f} ms (5 loads: {loads[0]:.0f}–{loads[-1]:.0f} ms); first route() "
        f"{first_ms * 1000:.0f} µs | |"
    )
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    print(
        f"| warm: route() over all {len(samples):,} numbers, national format | "
        f"p50 {p50:.1f} µs, p99 {p99:.1f} µs | no DB round trip |"
    )
    print(f"| {latency.name} | {latency.value} | {latency.target} |")


if __name__ == "__main__":
    uvloop.run(main_async())
