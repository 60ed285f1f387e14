"""Notifications: hang-up → email and → webhook latency, and the outbox's webhook throughput.

    python -m bench.outbox_bench [--calls 100] [--rows 5000]

1. Latency over `--calls` sipp calls (uac_rate.xml, 10 calls/s, 1 s each) through a real
   edge with admission on the embedded PostgreSQL, the session recorder, the post-call
   summariser and the outbox dispatcher, as `frontdesk run` wires them (the agent is off:
   the echo responder answers, so each call's summary is made from an empty transcript by
   the offline summariser; the path after the hang-up is the product's). The org has one
   email address and a webhook; the business's side (aiosmtpd, and an aiohttp receiver that
   verifies every signature) runs in a process of its own, so its CPU is not the node's.
   Hang-up = the moment the edge closed the call's record; arrival = when aiosmtpd accepted
   the message / the receiver got the POST (one machine, one clock).
2. Throughput: `--rows` webhook deliveries already in the outbox; one dispatcher (this
   process, 4 lanes, batches of 200) sends them to the same receiver process, which
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
from tests.support.sipp import free_port, percentile

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
    pool: Pool, settings: Settings, calls: int, receivers: Receivers
) -> list[tuple[str, str, str]]:
    await seed(pool, receivers.url)
    hung_up: dict[str, float] = {}
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id="bench", node_max_calls=1000, node_ttl=15)
    await admission.register()
    recorder = SessionRecorder(pool, "bench")
    # as `frontdesk run` does: notifications on a pool of their own
    conninfo = pool.conninfo
    assert isinstance(conninfo, str)
    notify_pool = await open_pool(conninfo, max_size=8)
    dispatcher = OutboxDispatcher(notify_pool, settings)
    summaries = PostCallSummaries(notify_pool, settings, on_enqueued=dispatcher.wake, concurrency=3)

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
        await receivers.wait("webhook", answered, 30)
        await receivers.wait("email", answered, 30)
    finally:
        await edge.stop(grace=0.5)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await notify_pool.close()
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT id::text, payload->'call'->>'call_id', extract(epoch FROM created_at)"
            " FROM outbox WHERE event = 'call.ended'"
        )
        found = await cursor.fetchall()
    call_of = {delivery: call for delivery, call, _ in found}
    written = {call: float(at) for _, call, at in found}
    to_written = [(written[call] - ended) * 1000 for call, ended in hung_up.items()]
    delays: dict[str, list[float]] = {"email": [], "webhook": []}
    for channel, delivery, _event, at in receivers.arrivals:
        if delivery in call_of:
            delays[channel].append((at - hung_up[call_of[delivery]]) * 1000)
    how = (
        f"{command(result)} ({answered} answered by the edge; sipp: {result.successful_calls}"
        f" ok, {result.failed_calls} failed)"
    )
    return [
        ("hang-up → summary stored and `call.ended` written", _stats(to_written), how),
        ("hang-up → `call.ended` email accepted by SMTP", _stats(delays["email"]), how),
        (
            "hang-up → `call.ended` webhook received (signature verified)",
            _stats(delays["webhook"]),
            how,
        ),
    ]


# -- throughput --------------------------------------------------------------------------


def _receivers(http_port: int, smtp_port: int, secret: str, arrivals: Any, ready: Any) -> None:
    """The business's side, in a process of its own (its CPU is not the node's): a webhook
    receiver that verifies every signature, and aiosmtpd. Each arrival is put on `arrivals`
    as (channel, delivery id, event, time.time()); a bad signature gets 401 and no entry."""
    from aiosmtpd.controller import Controller

    class Mail:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            at = time.time()
            head = envelope.content.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
            delivery = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in head.split("\r\n")
                    if line.lower().startswith("x-frontdesk-delivery:")
                ),
                "",
            )
            arrivals.put(("email", delivery, "", at))
            return "250 Message accepted for delivery"

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        at = time.time()
        headers = request.headers
        if not verify_signature(
            secret,
            headers.get("X-Frontdesk-Timestamp", ""),
            body,
            headers.get("X-Frontdesk-Signature", ""),
            at,
        ):
            return web.Response(status=401)
        event = headers.get("X-Frontdesk-Event", "")
        arrivals.put(("webhook", headers.get("X-Frontdesk-Delivery", ""), event, at))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", handle)

    async def serve() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", http_port, backlog=1024).start()
        ready.set()
        await asyncio.Event().wait()

    mail = Controller(Mail(), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    uvloop.run(serve())


class Receivers:
    """The receivers' process, and the arrivals it reports."""

    def __init__(self) -> None:
        self.http_port = free_port(kind=socket.SOCK_STREAM)
        self.smtp_port = free_port(kind=socket.SOCK_STREAM)
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.ready = context.Event()
        self.process = context.Process(
            target=_receivers,
            args=(self.http_port, self.smtp_port, SECRET, self.queue, self.ready),
            daemon=True,
        )
        self.arrivals: list[tuple[str, str, str, float]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/hooks"

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp_port}"

    async def start(self) -> None:
        self.process.start()
        if not await asyncio.to_thread(self.ready.wait, 30):
            raise RuntimeError("the receivers did not start")

    def drain(self) -> None:
        while not self.queue.empty():
            self.arrivals.append(self.queue.get_nowait())

    async def wait(self, channel: str, count: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while True:
            self.drain()
            got = sum(1 for a in self.arrivals if a[0] == channel)
            if got >= count or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        self.process.kill()
        self.process.join()


async def throughput(
    pool: Pool, settings: Settings, rows: int, receivers: Receivers
) -> tuple[str, str, str]:
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
            (org[0], receivers.url, rows),
        )
    receivers.drain()
    before = len(receivers.arrivals)
    dispatcher = OutboxDispatcher(pool, settings)
    started = time.perf_counter()
    task = asyncio.create_task(dispatcher.run())
    try:
        while dispatcher.delivered < rows and time.perf_counter() - started < 120:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    webhooks_before = sum(1 for a in receivers.arrivals[:before] if a[0] == "webhook")
    # the receiver's reports cross a multiprocessing queue: let them all arrive
    received = await receivers.wait("webhook", webhooks_before + rows, 10) - webhooks_before
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT detail, count(*) FROM outbox_attempts a JOIN outbox o ON o.id = a.outbox_id"
            " WHERE NOT a.ok GROUP BY detail"
        )
        failures = "; ".join(f"{n} × {detail}" for detail, n in await cursor.fetchall())
    return (
        "outbox throughput to a local webhook receiver (edge idle)",
        f"{dispatcher.delivered / elapsed:,.0f} webhooks/s ({dispatcher.delivered} delivered"
        f" in {elapsed:.2f} s, {received} verified by the receiver,"
        f" {dispatcher.failed_attempts} failed attempts"
        f"{' (retried): ' + failures if failures else ''})",
        f"{rows} rows pre-written; dispatcher: 4 lanes × batches of {settings.outbox_batch}",
    )


async def main_async(calls: int, rows: int) -> list[tuple[str, str, str]]:
    receivers = Receivers()
    await receivers.start()
    try:
        with tempfile.TemporaryDirectory(prefix="fd-outbox-") as tmp:
            db_settings = load_settings(None, data_dir=Path(tmp) / "data")
            async with open_database(db_settings, max_size=12) as pool:
                settings = bench_settings(
                    agent_enabled=False,
                    data_dir=Path(tmp) / "data",
                    smtp_url=receivers.smtp_url,
                    mail_from="frontdesk@bench.example",
                    webhook_allow_networks=["127.0.0.0/8"],  # the receivers are on loopback
                )
                figures = await latency(pool, settings, calls, receivers)
                figures.append(await throughput(pool, settings, rows, receivers))
    finally:
        receivers.stop()
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
