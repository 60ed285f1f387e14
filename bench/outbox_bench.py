"""Notifications: hang-up → email and → webhook latency, and the outbox's webhook throughput.

    python -m bench.outbox_bench [--calls 100] [--rows 5000]

1. Latency over `--calls` sipp calls (uac_rate.xml, 10 calls/s, 1 s each) through a real
   edge with admission on the embedded PostgreSQL, the session recorder, the post-call
   summariser and the outbox dispatcher, as `frontdesk run` wires them (the agent is off:
   the echo responder answers, so each call's summary is made from an empty transcript by
   the offline summariser; the path after the hang-up is the product's). The org has one
   email address (aiosmtpd on loopback) and a webhook (an aiohttp receiver on loopback that
   verifies every signature). Hang-up = the moment the edge closed the call's record;
   arrival = when aiosmtpd accepted the message / the receiver got the POST.
2. Throughput: `--rows` webhook deliveries already in the outbox; one dispatcher (this
   process, 4 lanes, batches of 200) sends them to a receiver in another process that
   verifies each signature; rows/s from the first claim until the last row is delivered.
   The SIP edge is idle (not started).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from aiohttp import web

from bench.edge_bench import SIPP, bench_settings, command, sipp, target_of
from frontdesk.agent.summary import PostCallSummaries
from frontdesk.calls.record import CallRecord
from frontdesk.calls.routing import RoutingDecider
from frontdesk.config import Settings, load_settings
from frontdesk.edge.server import EdgeServer
from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.notify.message import verify_signature
from frontdesk.store.admission import Admission
from frontdesk.store.engine import Pool, open_database, open_pool
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org, set_org_config
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx
from frontdesk.testing.receivers import SmtpSink, WebhookReceiver
from frontdesk.testing.sipp import free_port, percentile

NUMBER = "+390551000077"
SECRET = "bench-webhook-secret-0123456789"


async def seed(pool: Pool, webhook_url: str) -> None:
    async with operator_tx(pool, actor="bench") as conn:
        await create_org(conn, "bench", "Bench Pizzeria")
        await set_org_config(
            conn,
            "bench",
            {
                "notify_email": ["kitchen@bench.example"],
                "webhook_url": webhook_url,
                "webhook_secret": SECRET,
            },
        )
        await add_number(conn, NUMBER, "bench", max_concurrent_calls=1000,
                         assigned_by="bench", default_country="IT")  # fmt: skip


def _stats(samples: list[float]) -> str:
    samples = sorted(samples)
    return (
        f"p50 {percentile(samples, 50):.0f} ms, p95 {percentile(samples, 95):.0f} ms,"
        f" max {samples[-1]:.0f} ms ({len(samples)} calls)"
    )


async def latency(
    pool: Pool, settings: Settings, calls: int, smtp: SmtpSink
) -> list[tuple[str, str, str]]:
    smtp.start()
    hooks = WebhookReceiver(SECRET)
    await hooks.start()
    await seed(pool, hooks.url)
    hung_up: dict[str, float] = {}
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id="bench", node_max_calls=1000, node_ttl=15)
    await admission.register()
    recorder = SessionRecorder(pool, "bench")
    # as `frontdesk run` does: notifications on a pool of their own
    conninfo = pool.conninfo
    assert isinstance(conninfo, str)
    notify_pool = await open_pool(conninfo, max_size=7)
    dispatcher = OutboxDispatcher(notify_pool, settings)
    summaries = PostCallSummaries(notify_pool, settings, on_enqueued=dispatcher.wake, concurrency=2)

    def on_record(record: CallRecord) -> None:
        if record.outcome == "answered":
            hung_up[record.call_id] = record.ended_at or time.time()
        recorder.submit(record)
        summaries.submit(record)

    tasks = [
        asyncio.create_task(recorder.run()),
        asyncio.create_task(dispatcher.run()),
        asyncio.create_task(summaries.run()),
    ]
    edge = EdgeServer(settings, admission, on_record=on_record)
    await edge.start()
    try:
        result = await sipp(
            SIPP / "uac_rate.xml", target_of(edge), calls=calls, rate=10, service=NUMBER,
            call_length_ms=1000, timeout_s=120,
        )  # fmt: skip
        answered = len(hung_up)  # every answered call has its call.ended
        await hooks.wait(answered, 30)
        await smtp.wait(answered, 30)
    finally:
        await edge.stop(grace=0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hooks.stop()
        smtp.stop()
        await notify_pool.close()
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT id::text, payload->'call'->>'call_id' FROM outbox WHERE event = 'call.ended'"
        )
        call_of = dict(await cursor.fetchall())
    to_hook = [
        (h.at - hung_up[h.json()["call"]["call_id"]]) * 1000
        for h in hooks.received
        if h.event == "call.ended"
    ]
    to_mail = [
        (m.at - hung_up[call_of[str(m.message["X-Frontdesk-Delivery"])]]) * 1000
        for m in smtp.messages
    ]
    how = (
        f"{command(result)} ({answered} answered by the edge; sipp: {result.successful_calls}"
        f" ok, {result.failed_calls} failed)"
    )
    return [
        ("hang-up → `call.ended` email accepted by SMTP", _stats(to_mail), how),
        ("hang-up → `call.ended` webhook received (signature verified)", _stats(to_hook), how),
    ]


# -- throughput --------------------------------------------------------------------------


def _receiver(port: int, secret: str, count: Any, ready: Any) -> None:
    """A receiver process: verify, count, answer 204."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        headers = request.headers
        if not verify_signature(
            secret,
            headers.get("X-Frontdesk-Timestamp", ""),
            body,
            headers.get("X-Frontdesk-Signature", ""),
            time.time(),
        ):
            return web.Response(status=401)
        with count.get_lock():
            count.value += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", handle)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    try:
        import uvloop

        uvloop.run(serve())
    except ImportError:
        asyncio.run(serve())


async def throughput(pool: Pool, settings: Settings, rows: int) -> tuple[str, str, str]:
    port = free_port(kind=socket.SOCK_STREAM)
    url = f"http://127.0.0.1:{port}/hooks"
    context = multiprocessing.get_context("spawn")
    count = context.Value("l", 0)
    ready = context.Event()
    process = context.Process(target=_receiver, args=(port, SECRET, count, ready), daemon=True)
    process.start()
    try:
        await asyncio.to_thread(ready.wait, 30)
        async with operator_tx(pool, actor="bench") as conn:
            cursor = await conn.execute("SELECT id FROM organizations WHERE slug = 'bench'")
            org = await cursor.fetchone()
            assert org is not None
            await conn.execute("DELETE FROM outbox")  # the latency run's rows are done
            await conn.execute(
                "INSERT INTO outbox (organization_id, event, channel, target, payload)"
                " SELECT %s, 'call.ended', 'webhook', %s, jsonb_build_object('event',"
                " 'call.ended', 'n', g, 'summary', 'The caller placed an order: two pizzas"
                " for delivery.') FROM generate_series(1, %s) g",
                (org[0], url, rows),
            )
        dispatcher = OutboxDispatcher(pool, settings)
        started = time.perf_counter()
        task = asyncio.create_task(dispatcher.run())
        try:
            while dispatcher.delivered < rows:
                if time.perf_counter() - started > 120:
                    break
                await asyncio.sleep(0.01)
            elapsed = time.perf_counter() - started
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        received = count.value
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(
                "SELECT detail, count(*) FROM outbox_attempts WHERE NOT ok GROUP BY detail"
            )
            failures = "; ".join(f"{n} × {detail}" for detail, n in await cursor.fetchall())
    finally:
        process.kill()
        process.join()
    return (
        "outbox throughput to a local webhook receiver (edge idle)",
        f"{dispatcher.delivered / elapsed:,.0f} webhooks/s ({dispatcher.delivered} delivered"
        f" in {elapsed:.2f} s, {received} verified by the receiver,"
        f" {dispatcher.failed_attempts} failed attempts"
        f"{' (retried): ' + failures if failures else ''})",
        f"{rows} rows pre-written; dispatcher: 4 lanes × batches of {settings.outbox_batch}",
    )


async def main_async(calls: int, rows: int) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory(prefix="fd-outbox-") as tmp:
        db_settings = load_settings(None, data_dir=Path(tmp) / "data")
        smtp = SmtpSink()
        async with open_database(db_settings, max_size=12) as pool:
            settings = bench_settings(
                agent_enabled=False,
                data_dir=Path(tmp) / "data",
                smtp_url=smtp.url,
                mail_from="frontdesk@bench.example",
            )
            figures = await latency(pool, settings, calls, smtp)
            figures.append(await throughput(pool, settings, rows))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--rows", type=int, default=5000)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M")
    figures = uvloop.run(main_async(args.calls, args.rows))  # as `frontdesk run` runs
    print(
        f"\n### Notifications (outbox) — {started}, {os.cpu_count()} cores,"
        f" Python {platform.python_version()}"
    )
    print(f"Command: `python -m bench.outbox_bench --calls {args.calls} --rows {args.rows}`\n")
    print("| figure | measured | how |\n|---|---|---|")
    for name, value, how in figures:
        print(f"| {name} | {value} | {how} |")


if __name__ == "__main__":
    main()
