"""Delay from a call's answer to the dashboard's live count (`/events/live`, SSE).

    python -m bench.live_delay [--calls 20]

A throw-away embedded PostgreSQL; the web app (the same create_app `frontdesk run` serves)
in a child process under uvicorn; in this process an EdgeServer with Admission and the
session recorder on the same database, and an SSE reader logged in as the organization's
owner (API token). sipp places `--calls` real calls one after another (INVITE/200/ACK,
2 s of call, BYE) to one number; for each, the delay is from the moment the edge sent
200 OK (its `on_setup` hook) to the first SSE event that shows the number's count at 1.
The poll period is FRONTDESK_WEB_LIVE_INTERVAL (default 0.25 s), so the expected delay is
about half of it on average, all of it at worst, plus the query and the event's trip.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from tests.support.sipp import free_port, percentile, run_sipp

from bench.edge_bench import bench_settings, target_of
from frontdesk.calls.routing import RoutingDecider
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import open_pool
from frontdesk.store.migrate import migrate
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx
from frontdesk.store.users import add_user
from frontdesk.store.web_auth import create_api_token

NUMBER = "+390551234567"


async def run(conninfo: str, port: int, calls: int) -> list[float]:
    pool = await open_pool(conninfo, max_size=4)
    async with operator_tx(pool, actor="bench") as conn:
        await create_org(conn, "pizzeria", "Pizzeria")
        row = await add_number(conn, NUMBER, "pizzeria", max_concurrent_calls=1,
                               assigned_by="bench", default_country="IT")  # fmt: skip
        await add_user(conn, "owner@pizzeria.example", "bench password 1", org_slug="pizzeria",
                       role="owner")  # fmt: skip
        token = await create_api_token(conn, "owner@pizzeria.example", "bench")
    number_id = str(row.id)
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id="bench", node_max_calls=10, node_ttl=15)
    await admission.register()
    recorder = SessionRecorder(pool, "bench")
    answered: list[float] = []
    seen: list[float] = []
    edge = EdgeServer(
        bench_settings(), admission, on_record=recorder.submit,
        on_setup=lambda _s: answered.append(time.monotonic()),
    )  # fmt: skip
    await edge.start()

    async def read_events() -> None:
        last = 0
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=None) as client,
            client.stream("GET", "/events/live", headers=headers) as response,
        ):
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    count = json.loads(line[6:]).get(number_id, 0)
                    if count == 1 and last == 0:
                        seen.append(time.monotonic())
                    last = count

    tasks = [asyncio.create_task(recorder.run()), asyncio.create_task(read_events())]
    try:
        await asyncio.sleep(1.0)  # the stream is open and has its first view
        for _ in range(calls):
            result = await asyncio.to_thread(
                run_sipp, "uac", target_of(edge), service=NUMBER, call_length_ms=2000,
                timeout_s=30,
            )  # fmt: skip
            if result.successful_calls != 1:
                raise SystemExit(f"a call failed: {result.summary()}")
            await asyncio.sleep(0.6)  # the count is back at 0 before the next call
    finally:
        await edge.stop(grace=1.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
    if len(seen) != len(answered):
        raise SystemExit(f"{len(answered)} calls answered but {len(seen)} seen live")
    return sorted(b - a for a, b in zip(answered, seen, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="frontdesk-live-bench-"))
    server = EmbeddedPostgres(base / "pg")
    server.ensure_running()
    child: subprocess.Popen[bytes] | None = None
    try:
        conninfo = server.ensure_database("frontdesk")
        asyncio.run(migrate(conninfo))
        port = free_port(kind=socket.SOCK_STREAM)
        child = subprocess.Popen(
            [sys.executable, "-m", "bench.web_bench", "--serve", conninfo, str(port)]
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the web app did not start") from None
                time.sleep(0.2)
        delays = asyncio.run(run(conninfo, port, args.calls))
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
        server.force_stop()
        shutil.rmtree(base, ignore_errors=True)
    ms = [d * 1000 for d in delays]
    print()
    print(f"python -m bench.live_delay --calls {args.calls}  ({platform.node()},"
          f" {datetime.now(UTC):%Y-%m-%d})")  # fmt: skip
    print("| figure | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    print(
        f"| 200 OK sent -> SSE event with the live count | {len(ms)} |"
        f" {percentile(ms, 50):.0f} | {percentile(ms, 95):.0f} | {ms[-1]:.0f} |"
    )


if __name__ == "__main__":
    main()
