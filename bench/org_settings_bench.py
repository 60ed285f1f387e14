"""Organization settings: page and API latency, and knowledge-base save -> next call.

    python -m bench.org_settings_bench [--data-dir /tmp/frontdesk-orgsettings-bench]
                                       [--requests 200] [--saves 30]

An embedded PostgreSQL 18 (created once in the data directory) holds 100 organizations
with 10 numbers each; the measured one has 200 FAQ entries and a 20,000-character
knowledge text (a large but real knowledge base: the page renders every entry). The web
app (create_app, as `frontdesk run` serves it) runs in a child process under uvicorn;
this process times sequential requests as that organization's owner (keep-alive HTTP,
authentication included): the settings page, GET and PATCH /api/v1/organization, and
the knowledge-base form's save.

"KB save -> next call": a RoutingWatcher (what every node runs) listens here; each save
adds an FAQ entry through PATCH /api/v1/organization, and the figure is the time from
sending the request to the moment the node's routing snapshot (the route a call's
CallSpec is built from) has the entry. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.support.sipp import free_port, percentile

from bench.web_bench import serve
from frontdesk.calls.routing import Route, RoutingTable
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import open_pool
from frontdesk.store.migrate import migrate
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org, set_org_config
from frontdesk.store.routing import RoutingWatcher
from frontdesk.store.tx import operator_tx
from frontdesk.store.users import add_user
from frontdesk.store.web_auth import create_api_token, create_session

ORGS = 100
NUMBERS_PER_ORG = 10
ENTRIES = 200
OWNER = "owner@orgbench.example"
SLUG = "orgbench-001"
NUMBER = "+390550010000"


async def prepare(data_dir: Path) -> tuple[str, dict[str, Any]]:
    server = EmbeddedPostgres.for_data_dir(data_dir)
    await asyncio.to_thread(server.ensure_running)
    conninfo = await asyncio.to_thread(server.ensure_database, "frontdesk_orgbench")
    await migrate(conninfo)
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="bench") as conn:
            row = await (await conn.execute(b"SELECT count(*) FROM organizations")).fetchone()
            if row is None or row[0] < ORGS:
                for i in range(1, ORGS + 1):
                    slug = f"orgbench-{i:03d}"
                    await create_org(conn, slug, f"Bench org {i}")
                    for n in range(NUMBERS_PER_ORG):
                        await add_number(
                            conn, f"+39055{i:03d}{n:04d}", slug, assigned_by="bench",
                            default_country="IT",
                        )  # fmt: skip
                await add_user(conn, OWNER, "bench password 1", org_slug=SLUG, role="owner")
            faq = [
                {"question": f"Question number {i} about our service?", "answer": f"Answer {i}."}
                for i in range(ENTRIES)
            ]
            await set_org_config(
                conn, SLUG, {"knowledge_base": faq, "knowledge_text": "Opening hours. " * 1333}
            )
            token = await create_api_token(conn, OWNER, "bench")
            user = await (
                await conn.execute(b"SELECT id FROM users WHERE email = %s", (OWNER,))
            ).fetchone()
            assert user is not None
            session = await create_session(conn, user[0], 3600)
    finally:
        await pool.close()
    return conninfo, {"token": token, "cookie": session.token, "csrf": session.csrf_token}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (Linux /proc), whatever the load around it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(
    client: httpx.AsyncClient, n: int, method: str, url: str, **kwargs: Any
) -> list[float]:
    for _ in range(5):  # warm-up
        warm = await client.request(method, url, **kwargs)
        if warm.status_code not in (200, 303):
            raise RuntimeError(f"{method} {url} answered {warm.status_code}: {warm.text}")
    samples = []
    for _ in range(n):
        began = time.perf_counter()
        answer = await client.request(method, url, **kwargs)
        samples.append((time.perf_counter() - began) * 1000)
        if answer.status_code not in (200, 303):
            raise RuntimeError(f"{method} {url} answered {answer.status_code}: {answer.text}")
    return sorted(samples)


def has_question(table: RoutingTable, question: str) -> bool:
    route = table.route(NUMBER, "1000")
    return isinstance(route, Route) and any(
        e.question == question for e in route.config.knowledge_base
    )


async def measure(
    conninfo: str, port: int, creds: dict[str, Any], n: int, saves: int, server_pid: int
) -> tuple[list[tuple[str, list[float], float]], list[float]]:
    token = {"Authorization": f"Bearer {creds['token']}"}
    cookie = {"Cookie": f"fd_session={creds['cookie']}"}
    results: list[tuple[str, list[float], float]] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        current = (await client.get("/api/v1/organization", headers=token)).json()
        kb_form: dict[str, Any] = {
            "csrf_token": creds["csrf"],
            "position": [str(i + 1) for i in range(len(current["knowledge_base"]))] + [""],
            "question": [e["question"] for e in current["knowledge_base"]] + [""],
            "answer": [e["answer"] for e in current["knowledge_base"]] + [""],
            "knowledge_text": current["knowledge_text"],
        }
        plan: list[tuple[str, str, str, dict[str, Any]]] = [
            ("page /organization (200 FAQ entries)", "GET", "/organization", {"headers": cookie}),
            ("API GET /api/v1/organization", "GET", "/api/v1/organization", {"headers": token}),
            ("API PATCH /api/v1/organization (greeting)", "PATCH", "/api/v1/organization",
             {"headers": token, "json": {"greeting": "Hello from the bench."}}),
            ("form save of the whole knowledge base (200 entries)", "POST",
             "/organization/knowledge", {"headers": cookie, "data": kb_form}),
        ]  # fmt: skip
        for label, method, url, kwargs in plan:
            cpu = cpu_seconds(server_pid)
            samples = await timed(client, n, method, url, **kwargs)
            cpu_ms = (cpu_seconds(server_pid) - cpu) * 1000 / (n + 5)
            results.append((label, samples, cpu_ms))

        pool = await open_pool(conninfo, max_size=2)
        seen: list[tuple[float, RoutingTable]] = []
        watcher = RoutingWatcher(pool, "IT", lambda t: seen.append((time.perf_counter(), t)))
        task = asyncio.create_task(watcher.run())
        latencies: list[float] = []
        try:
            await asyncio.wait_for(watcher.listening.wait(), 10)
            faq = current["knowledge_base"]
            for i in range(saves):
                question = f"Bench question {i} {time.time_ns()}?"
                faq = [*faq[-ENTRIES:], {"question": question, "answer": "Bench answer."}]
                began = time.perf_counter()
                answer = await client.patch(
                    "/api/v1/organization", headers=token, json={"knowledge_base": faq}
                )
                answer.raise_for_status()
                while not any(has_question(t, question) for _, t in seen):
                    if time.perf_counter() - began > 10:
                        raise RuntimeError("the routing snapshot never got the entry")
                    await asyncio.sleep(0.002)
                at = next(at for at, t in seen if has_question(t, question))
                latencies.append((at - began) * 1000)
                seen.clear()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pool.close()
    return results, sorted(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontdesk-orgsettings-bench"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--serve", nargs=2, metavar=("CONNINFO", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    conninfo, creds = asyncio.run(prepare(args.data_dir))
    port = free_port(kind=socket.SOCK_STREAM)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.org_settings_bench", "--serve", conninfo, str(port)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise SystemExit("the web app did not start") from None
                time.sleep(0.2)
        results, latencies = asyncio.run(
            measure(conninfo, port, creds, args.requests, args.saves, child.pid)
        )
    finally:
        child.terminate()
        child.wait(10)
    print()
    print(f"python -m bench.org_settings_bench --requests {args.requests} --saves {args.saves}"
          f"  ({platform.node()}, {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,"
          f" load average {os.getloadavg()[0]:.1f})")  # fmt: skip
    print()
    print("| request | n | p50 ms | p95 ms | max ms | web process CPU ms per request |")
    print("|---|---|---|---|---|---|")
    rows = [*results, ("KB save -> routing snapshot of the next call", latencies, None)]
    for label, samples, cpu_ms in rows:
        print(
            f"| {label} | {len(samples)} | {percentile(samples, 50):.1f} |"
            f" {percentile(samples, 95):.1f} | {samples[-1]:.1f} |"
            f" {'' if cpu_ms is None else f'{cpu_ms:.1f}'} |"
        )


if __name__ == "__main__":
    main()
