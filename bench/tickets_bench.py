"""Ticket inbox latency with 1,000,000 tickets: `/tickets` and `/api/v1/tickets`.

    python -m bench.tickets_bench [--data-dir /tmp/frontdesk-tickets-bench] [--requests 200]

Seeds (once per data directory, with generate_series: a few minutes) an embedded PostgreSQL
18 with 1,000 organizations x 10 numbers and 1,000,000 tickets over the last 365 days: one
organization ("bench-0001") holds 20% of them, the rest share the others; kinds order 40%,
message 25%, callback 20%, complaint 10%, other 5%; 20% open, 10% in progress, 70% done;
summaries from 12 phrases, details with a street number, 0.1% mention an umbrella (a rare
search word). Tickets are bulk-loaded with their call's numbers already on them (the
insert trigger off, as for a restore), then VACUUM ANALYZE. Then the web app (create_app,
as `frontdesk run` serves it) runs in a child process (bench.web_bench's server) and this
process times sequential requests (httpx, keep-alive, auth included) as the operator
(every organization, or one) and as the big tenant's owner. Prints p50 / p95 / max ms.
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
from urllib.parse import quote

import httpx
from tests.support.sipp import free_port, percentile

from bench.web_bench import credentials, time_requests
from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.engine import open_pool
from frontdesk.store.migrate import migrate

TICKETS = 1_000_000
ORGS = 1_000
NUMBERS = 10_000
BIG = "bench-0001"

SEED_SQL = """
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
ALTER TABLE tickets DISABLE TRIGGER USER;
INSERT INTO tickets (organization_id, sip_number_id, caller_number, called_number, kind, status,
                     subject, body, created_at, updated_at, done_at)
SELECT n.organization_id, n.id,
       '+39333' || lpad((x.g::bigint * 7919 % 9000000)::text, 7, '0'), n.phone_number,
       x.kind, x.status,
       (ARRAY['Two pizzas for delivery', 'Table for four tonight',
              'Call back about the invoice', 'Complaint about a late order',
              'Message for the manager', 'Book a haircut on Friday',
              'Question about opening hours', 'Cancel tomorrow''s appointment',
              'Quote for a kitchen repair', 'Missed delivery, please call',
              'Allergy question about the menu', 'Change of address'])[1 + x.g % 12],
       'The caller said: ' ||
       CASE WHEN x.g % 1000 = 7 THEN 'I left my umbrella here. ' ELSE '' END ||
       'deliver to Via Roma ' || (x.g % 300) || ', ring twice, pay by card',
       x.created, x.created,
       CASE WHEN x.status = 'done' THEN x.created + interval '1 hour' END
FROM (
    SELECT g,
           now() - make_interval(secs => r3 * 365 * 86400) AS created,
           CASE WHEN rb < 0.2 THEN g % 10 ELSE 10 + g % ({numbers} - 10) END AS k,
           CASE WHEN rk < 0.40 THEN 'order' WHEN rk < 0.65 THEN 'message'
                WHEN rk < 0.85 THEN 'callback' WHEN rk < 0.95 THEN 'complaint'
                ELSE 'other' END AS kind,
           CASE WHEN rs < 0.2 THEN 'open' WHEN rs < 0.3 THEN 'in-progress'
                ELSE 'done' END AS status
    FROM (SELECT g, random() AS rk, random() AS rs, random() AS r3, random() AS rb
          FROM generate_series(1, {tickets}) g) raw
) x JOIN bench_numbers n ON n.k = x.k;
ALTER TABLE tickets ENABLE TRIGGER USER;
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
    conninfo = await asyncio.to_thread(server.ensure_database, "frontdesk_tickets_bench")
    await migrate(conninfo)
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with pool.connection() as conn:
            row = await (await conn.execute(b"SELECT count(*) FROM tickets")).fetchone()
            if row is not None and row[0] >= TICKETS:
                print(f"database already seeded ({row[0]:,} tickets)")
                return conninfo
            began = time.perf_counter()
            sql = SEED_SQL.format(orgs=ORGS, numbers=NUMBERS, tickets=TICKETS, big=BIG)
            async with conn.transaction():
                await conn.execute(sql.encode())
            seeded = time.perf_counter() - began
            await conn.execute(b"VACUUM ANALYZE")
            analysed = time.perf_counter() - began - seeded
            print(
                f"seeded {TICKETS:,} tickets, {NUMBERS:,} numbers, {ORGS:,} organizations"
                f" in {seeded:.0f} s; VACUUM ANALYZE in {analysed:.0f} s"
            )
    finally:
        await pool.close()
    return conninfo


async def big_tenant_ticket_and_number(conninfo: str) -> tuple[str, str]:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with pool.connection() as conn:
            row = await (
                await conn.execute(
                    b"SELECT t.id, t.sip_number_id FROM tickets t JOIN organizations o"
                    b" ON o.id = t.organization_id WHERE o.slug = %s"
                    b" ORDER BY t.created_at DESC LIMIT 1",
                    (BIG,),
                )
            ).fetchone()
            assert row is not None
            return str(row[0]), str(row[1])
    finally:
        await pool.close()


async def measure(
    port: int, creds: dict[str, Any], n: int, ticket: str, number: str
) -> list[tuple[str, list[float]]]:
    base = f"http://127.0.0.1:{port}"
    ops = {"Authorization": f"Bearer {creds['ops']}"}
    owner = {"Authorization": f"Bearer {creds['owner']}"}
    cookie = {"Cookie": f"fd_session={creds['cookie']}"}
    today = datetime.now(UTC).date()
    week = f"from={today - timedelta(days=6)}&to={today}"
    api = "/api/v1/tickets"
    results: list[tuple[str, list[float]]] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        deep: list[str] = []
        url = f"{api}?limit=50"
        for _ in range(n):
            page = (await client.get(url, headers=ops)).json()
            if not page["next_cursor"]:
                break
            url = f"{api}?limit=50&cursor={page['next_cursor']}"
            deep.append(url)
        plan: list[tuple[str, list[str], dict[str, str]]] = [
            ("API list, operator, all orgs, first page", [api] * n, ops),
            ("API list, operator, next pages (cursor, up to page 200)", deep, ops),
            ("API list, tenant (200k tickets), first page", [api] * n, owner),
            ("API list, tenant, status=open", [f"{api}?status=open"] * n, owner),
            ("API list, tenant, kind=complaint", [f"{api}?kind=complaint"] * n, owner),
            ("API list, tenant, one number", [f"{api}?number={number}"] * n, owner),
            ("API list, tenant, caller prefix +393331", [f"{api}?caller=%2B393331"] * n, owner),
            ("API list, tenant, last 7 days", [f"{api}?{week}"] * n, owner),
            ("API list, tenant, open + order + 7 days",
             [f"{api}?status=open&kind=order&{week}"] * n, owner),
            ("API list, tenant, search 'umbrella' (0.1%)", [f"{api}?q=umbrella"] * n, owner),
            ("API list, tenant, search 'invoice' (8%)", [f"{api}?q=invoice"] * n, owner),
            ("API list, tenant, search 'Via Roma 12' (~1%)",
             [f"{api}?q={quote('Via Roma 12,')}"] * n, owner),
            ("API list, operator, all orgs, search 'umbrella'", [f"{api}?q=umbrella"] * n, ops),
            ("API list, operator, all orgs, status=in-progress",
             [f"{api}?status=in-progress"] * n, ops),
            ("API list, operator, one org (bench-0500)", [f"{api}?org=bench-0500"] * n, ops),
            ("API one ticket, tenant", [f"{api}/{ticket}"] * n, owner),
            ("page /tickets, operator, all orgs", ["/tickets"] * n, cookie),
            ("page /tickets, operator, org bench-0001", [f"/tickets?org={BIG}"] * n, cookie),
            ("page /tickets, operator, search 'umbrella'", ["/tickets?q=umbrella"] * n, cookie),
            ("page /tickets, operator, next page",
             ["/tickets?" + u.split("?", 1)[1].replace("limit=50&", "") for u in deep[:n]],
             cookie),
            ("page /tickets/{id}, operator", [f"/tickets/{ticket}"] * n, cookie),
        ]  # fmt: skip
        for label, urls, headers in plan:
            results.append(await time_requests(client, label, urls, headers))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/frontdesk-tickets-bench"))
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    conninfo = asyncio.run(prepare(args.data_dir))
    creds = asyncio.run(credentials(conninfo))
    ticket, number = asyncio.run(big_tenant_ticket_and_number(conninfo))
    port = free_port(kind=socket.SOCK_STREAM)
    here = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.web_bench", "--serve", conninfo, str(port)],
        env={**os.environ, "PYTHONPATH": f"{here / 'src'}{os.pathsep}{here}"},
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
        results = asyncio.run(measure(port, creds, args.requests, ticket, number))
    finally:
        child.terminate()
        child.wait(10)
    print()
    print(f"python -m bench.tickets_bench --requests {args.requests}  ({platform.node()},"
          f" {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d})")  # fmt: skip
    print(f"{TICKETS:,} tickets, {NUMBERS:,} numbers, {ORGS:,} organizations; sequential"
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
