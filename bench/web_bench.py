"""Operations dashboard latency with 1,000,000 sessions and 10,000 numbers.

    python -m bench.web_bench [--data-dir /tmp/frontdesk-web-bench] [--requests 200]

Seeds (once per data directory, in the database with generate_series: ~1-2 minutes) an
embedded PostgreSQL 18 with 1,000 organizations x 10 numbers and 1,000,000 sessions over
the last 90 days: one organization ("bench-0001") takes 20% of all calls, the rest share
the others; 80% completed, 12% refused (number/org/node limit, inactive, unknown number),
5% cancelled, 3% failed. The rollups are rebuilt from the rows (0007's function), then
VACUUM ANALYZE. Then the web app (frontdesk.web.app.create_app, the same as `frontdesk run`
serves) runs in a child process under uvicorn, and this process times sequential HTTP
requests (httpx, keep-alive) to the history and analytics pages and API as the operator
(every organization, or one) and as the big tenant. Prints a table: p50 / p95 / max ms.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from tests.support.sipp import free_port, percentile

from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import open_pool
from frontdesk.store.migrate import migrate
from frontdesk.store.tx import operator_tx
from frontdesk.store.web_auth import create_api_token, create_session

SESSIONS = 1_000_000
ORGS = 1_000
NUMBERS = 10_000
BIG = "bench-0001"

SEED_SQL = """
INSERT INTO nodes (id, max_calls) VALUES ('bench-node', 1000) ON CONFLICT DO NOTHING;
INSERT INTO organizations (slug, name, max_concurrent_calls)
SELECT 'bench-' || lpad(i::text, 4, '0'), 'Bench org ' || i, 20 FROM generate_series(1, {orgs}) i;
INSERT INTO sip_numbers (phone_number, organization_id, label, assigned_by, max_concurrent_calls)
SELECT '+39055' || lpad(i::text, 7, '0'), o.id, 'line ' || i, 'bench', 2
FROM generate_series(0, {numbers} - 1) i
JOIN organizations o ON o.slug = 'bench-' || lpad((i / 10 + 1)::text, 4, '0');
CREATE TEMP TABLE bench_numbers AS
SELECT (row_number() OVER (ORDER BY phone_number) - 1)::int AS k, id, organization_id, phone_number
FROM sip_numbers WHERE phone_number LIKE '+39055%';
CREATE UNIQUE INDEX ON bench_numbers (k);
ALTER TABLE sessions DISABLE TRIGGER USER;
INSERT INTO sessions (organization_id, sip_number_id, call_id_sip, caller_number,
                      called_number, node_id, started_at, answered_at, ended_at, outcome,
                      reason, reject_status)
SELECT CASE WHEN x.kind = 'unknown' THEN NULL ELSE n.organization_id END,
       CASE WHEN x.kind = 'unknown' THEN NULL ELSE n.id END,
       'bench-' || x.g || '@pbx',
       '+39333' || lpad((x.g::bigint * 7919 % 9000000)::text, 7, '0'),
       CASE WHEN x.kind = 'unknown' THEN '+39066' || lpad(x.g::text, 7, '0')
            ELSE n.phone_number END,
       'bench-node', x.started,
       CASE WHEN x.kind IN ('completed', 'failed') THEN x.started + interval '2 s' END,
       CASE WHEN x.kind IN ('completed', 'failed')
            THEN x.started + interval '2 s' + make_interval(secs => 10 + x.r2 * 590)
            ELSE x.started + interval '1 s' END,
       CASE x.kind WHEN 'completed' THEN 'completed' WHEN 'failed' THEN 'failed'
                   WHEN 'cancelled' THEN 'cancelled' ELSE 'rejected' END,
       CASE x.kind WHEN 'completed'
                   THEN (CASE WHEN x.r2 < 0.5 THEN 'bye-caller' ELSE 'remote-bye' END)
                   WHEN 'failed' THEN 'media-timeout' WHEN 'cancelled' THEN 'cancel'
                   WHEN 'unknown' THEN 'unknown-number' ELSE x.kind END,
       CASE x.kind WHEN 'completed' THEN NULL WHEN 'failed' THEN NULL WHEN 'cancelled' THEN NULL
                   WHEN 'unknown' THEN 404 WHEN 'number-inactive' THEN 480 ELSE 486 END
FROM (
    SELECT g, r2,
           now() - make_interval(secs => r3 * 90 * 86400) AS started,
           CASE WHEN rb < 0.2 THEN g % 10 ELSE 10 + g % ({numbers} - 10) END AS k,
           CASE WHEN r < 0.80 THEN 'completed' WHEN r < 0.86 THEN 'limit-number'
                WHEN r < 0.88 THEN 'limit-org' WHEN r < 0.89 THEN 'limit-node'
                WHEN r < 0.90 THEN 'number-inactive' WHEN r < 0.92 THEN 'unknown'
                WHEN r < 0.97 THEN 'cancelled' ELSE 'failed' END AS kind
    FROM (SELECT g, random() AS r, random() AS r2, random() AS r3, random() AS rb
          FROM generate_series(1, {sessions}) g) raw
) x JOIN bench_numbers n ON n.k = x.k;
ALTER TABLE sessions ENABLE TRIGGER USER;
INSERT INTO users (email, password_hash, is_operator) VALUES ('ops@bench.example', 'x', true);
INSERT INTO users (email, password_hash) VALUES ('owner@bench.example', 'x');
INSERT INTO memberships (user_id, organization_id, role)
SELECT u.id, o.id, 'owner' FROM users u, organizations o
WHERE u.email = 'owner@bench.example' AND o.slug = '{big}';
"""


async def prepare(data_dir: Path) -> str:
    """The bench database's conninfo, seeded (once) and migrated."""
    server = EmbeddedPostgres.for_data_dir(data_dir)
    await asyncio.to_thread(server.ensure_running)
    conninfo = await asyncio.to_thread(server.ensure_database, "frontdesk_bench")
    await migrate(conninfo)
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with pool.connection() as conn:
            row = await (await conn.execute(b"SELECT count(*) FROM sessions")).fetchone()
            if row is not None and row[0] >= SESSIONS:
                print(f"database already seeded ({row[0]:,} sessions)")
                return conninfo
            began = time.perf_counter()
            sql = SEED_SQL.format(orgs=ORGS, numbers=NUMBERS, sessions=SESSIONS, big=BIG)
            async with conn.transaction():
                await conn.execute(sql.encode())
            seeded = time.perf_counter() - began
            async with operator_tx(pool) as op:
                await op.execute(b"SELECT frontdesk_rebuild_session_stats()")
            await conn.execute(b"VACUUM ANALYZE")
            print(
                f"seeded {SESSIONS:,} sessions, {NUMBERS:,} numbers, {ORGS:,} organizations"
                f" in {seeded:.0f} s; rollups + VACUUM ANALYZE in"
                f" {time.perf_counter() - began - seeded:.0f} s"
            )
    finally:
        await pool.close()
    return conninfo


async def credentials(conninfo: str) -> dict[str, Any]:
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool) as conn:
            ops = await create_api_token(conn, "ops@bench.example", "bench")
            owner = await create_api_token(conn, "owner@bench.example", "bench")
            row = await (
                await conn.execute(b"SELECT id FROM users WHERE email = 'ops@bench.example'")
            ).fetchone()
            assert row is not None
            session = await create_session(conn, row[0], 3600)
    finally:
        await pool.close()
    return {"ops": ops, "owner": owner, "cookie": session.token}


def serve(conninfo: str, port: int) -> None:
    """The child process: the web app on 127.0.0.1:port, as `frontdesk run` builds it."""
    import uvicorn
    from prometheus_client import CollectorRegistry

    from frontdesk.config import load_settings
    from frontdesk.tasks import TaskOwner
    from frontdesk.web.app import create_app
    from frontdesk.web.security import server_config

    async def main() -> None:
        settings = load_settings(None, database_url=conninfo, http_port=port)
        pool = await open_pool(conninfo, max_size=8)
        tasks = TaskOwner("web")

        async def ready() -> dict[str, bool]:
            return {"database": True}

        app = create_app(
            settings=settings, pool=pool, registry=CollectorRegistry(), ready=ready, tasks=tasks
        )
        config = server_config(app, host="127.0.0.1", port=port, log_level="warning")
        try:
            await uvicorn.Server(config).serve()
        finally:
            await tasks.close()
            await pool.close()

    asyncio.run(main())


async def time_requests(
    client: httpx.AsyncClient, label: str, urls: list[str], headers: dict[str, str]
) -> tuple[str, list[float]]:
    for url in urls[:5]:  # warm-up
        (await client.get(url, headers=headers)).raise_for_status()
    samples: list[float] = []
    for url in urls:
        began = time.perf_counter()
        response = await client.get(url, headers=headers)
        samples.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{label}: {url} answered {response.status_code}")
    return label, sorted(samples)


async def measure(port: int, creds: dict[str, Any], n: int) -> list[tuple[str, list[float]]]:
    base = f"http://127.0.0.1:{port}"
    ops = {"Authorization": f"Bearer {creds['ops']}"}
    owner = {"Authorization": f"Bearer {creds['owner']}"}
    cookie = {"Cookie": f"fd_session={creds['cookie']}"}
    today = datetime.now(UTC).date()
    week = f"from={today - timedelta(days=6)}&to={today}"
    results: list[tuple[str, list[float]]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        # deep pages: follow the cursor n times from the first page
        deep: list[str] = []
        url = "/api/v1/operations/calls?limit=50"
        for _ in range(n):
            page = (await client.get(url, headers=ops)).json()
            if not page["next_cursor"]:
                break
            url = f"/api/v1/operations/calls?limit=50&cursor={page['next_cursor']}"
            deep.append(url)
        api = "/api/v1/operations"
        plan: list[tuple[str, list[str], dict[str, str]]] = [
            ("API history, operator, all orgs, first page", [f"{api}/calls"] * n, ops),
            ("API history, operator, next pages (cursor, up to page 200)", deep, ops),
            ("API history, tenant (200k calls), first page", [f"{api}/calls"] * n, owner),
            ("API history, tenant, outcome=rejected", [f"{api}/calls?outcome=rejected"] * n,
             owner),
            ("API history, operator, reason=limit-node", [f"{api}/calls?reason=limit-node"] * n,
             ops),
            ("API history, operator, caller prefix +393331", [f"{api}/calls?caller=%2B393331"] * n,
             ops),
            ("API history, operator, last 7 days", [f"{api}/calls?{week}"] * n, ops),
            ("API history, operator, one org (bench-0500)", [f"{api}/calls?org=bench-0500"] * n,
             ops),
            ("API analytics, operator, all orgs, 30 days", [f"{api}/analytics"] * n, ops),
            ("API analytics, operator, all orgs, 90 days",
             [f"{api}/analytics?from={today - timedelta(days=89)}"] * n, ops),
            ("API analytics, tenant (200k calls), 90 days",
             [f"{api}/analytics?from={today - timedelta(days=89)}"] * n, owner),
            ("API live calls, operator", [f"{api}/live"] * n, ops),
            ("page /operations, operator, all orgs", ["/operations"] * n, cookie),
            ("page /operations, operator, org bench-0001", ["/operations?org=bench-0001"] * n,
             cookie),
            ("page /operations, operator, next page",
             ["/operations?" + u.split("?", 1)[1] for u in deep[:n]], cookie),
        ]  # fmt: skip
        for label, urls, headers in plan:
            results.append(await time_requests(client, label, urls, headers))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontdesk-web-bench"))
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--serve", nargs=2, metavar=("CONNINFO", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    conninfo = asyncio.run(prepare(args.data_dir))
    creds = asyncio.run(credentials(conninfo))
    port = free_port(kind=socket.SOCK_STREAM)
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.web_bench", "--serve", conninfo, str(port)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
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
        results = asyncio.run(measure(port, creds, args.requests))
    finally:
        child.terminate()
        child.wait(10)
    print()
    print(f"python -m bench.web_bench --requests {args.requests}  ({platform.node()},"
          f" {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d})")  # fmt: skip
    print(f"{SESSIONS:,} sessions, {NUMBERS:,} numbers, {ORGS:,} organizations; sequential"
          " requests over keep-alive HTTP, auth included")  # fmt: skip
    print()
    print("| request | n | p50 ms | p95 ms | max ms |")
    print("|---|---|---|---|---|")
    for label, samples in results:
        print(
            f"| {label} | {len(samples)} | {percentile(samples, 50):.1f} |"
            f" {percentile(samples, 95):.1f} | {samples[-1]:.1f} |"
        )


if __name__ == "__main__":
    main()
