"""The outbox on the embedded PostgreSQL, with a real webhook receiver and a real SMTP server.

Events are written the way the product writes them (a ticket through `create_ticket`, a
call's summary through `PostCallSummaries.summarise`); the dispatcher is the product's,
sending over loopback to an aiohttp receiver that checks signatures and to aiosmtpd.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.conftest import edge_settings
from tests.support.receivers import SmtpSink, WebhookReceiver

from frontdesk.agent.summary import FinishedCall, PostCallSummaries
from frontdesk.config import Settings
from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.store import agent_records, outbox
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import add_number, update_number
from frontdesk.store.orgs import create_org, set_org_config
from frontdesk.store.tx import operator_tx, tenant_tx

pytestmark = [pytest.mark.integration]

SECRET = "s3cret-for-the-pizzeria-hooks"
NUMBER = "+390551230001"
CALLER = "+393331112222"


@dataclass
class Business:
    org_id: uuid.UUID
    number_id: uuid.UUID


async def business(pool: Pool, **config: Any) -> Business:
    async with operator_tx(pool, actor="test") as conn:
        org = await create_org(conn, "pizzeria", "Pizzeria Da Mario")
        await set_org_config(conn, "pizzeria", config)
        number = await add_number(
            conn, NUMBER, "pizzeria", label="Orders", assigned_by="test", default_country="IT"
        )
    return Business(org.id, number.id)


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "outbox_poll_interval": 0.2,
        "outbox_first_backoff": 0.5,
        "outbox_max_backoff": 2.0,
        "webhook_allow_networks": ["127.0.0.0/8"],  # the test receivers listen on loopback
    }
    values.update(overrides)
    return edge_settings(**values)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    hooks = WebhookReceiver(SECRET)
    try:
        yield hooks
    finally:
        await hooks.stop()


@pytest.fixture
def smtp() -> Any:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def ticket(pool: Pool, biz: Business, subject: str = "two pizzas for delivery") -> uuid.UUID:
    return await agent_records.create_ticket(
        pool,
        biz.org_id,
        kind="order",
        subject=subject,
        body="margherita and marinara, to Via Roma 3",
        session_id=None,
        customer_id=None,
        call=agent_records.TicketCall("call-1@test", CALLER, NUMBER, biz.number_id),
    )


async def rows(pool: Pool) -> list[tuple[Any, ...]]:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT id, event, channel, status, attempts FROM outbox ORDER BY created_at, channel"
        )
        return await cursor.fetchall()


async def wait_status(pool: Pool, status: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (await rows(pool))[0][3] != status:
        assert time.monotonic() < deadline, await rows(pool)
        await asyncio.sleep(0.1)


async def attempts(pool: Pool, delivery: uuid.UUID) -> list[tuple[Any, ...]]:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT attempted_at, ok, detail FROM outbox_attempts WHERE outbox_id = %s"
            " ORDER BY attempted_at",
            (delivery,),
        )
        return await cursor.fetchall()


async def test_a_ticket_and_its_events_commit_together_and_nothing_without_channels(
    pool: Pool,
) -> None:
    biz = await business(pool)  # no channels configured: the ticket, and no event
    await ticket(pool, biz)
    assert await rows(pool) == []
    async with operator_tx(pool, actor="test") as conn:
        await set_org_config(
            conn,
            "pizzeria",
            {"notify_email": ["kitchen@pizzeria.example"], "webhook_url": "http://127.0.0.1:9/h"},
        )
    await ticket(pool, biz)
    assert [(r[1], r[2], r[3]) for r in await rows(pool)] == [
        ("ticket.created", "email", "pending"),
        ("ticket.created", "webhook", "pending"),
    ]
    # a ticket that fails (an empty summary) leaves no event behind
    with pytest.raises(ValueError):
        await ticket(pool, biz, subject="  ")
    # and a transaction that rolls back after the insert takes its events with it
    with pytest.raises(RuntimeError):
        async with tenant_tx(pool, biz.org_id) as conn:
            await outbox.enqueue(conn, "test", biz.org_id, biz.number_id, {"message": "x"})
            raise RuntimeError("rolled back")
    assert len(await rows(pool)) == 2


async def test_tenants_see_only_their_own_deliveries(pool: Pool) -> None:
    biz = await business(pool, notify_email=["a@pizzeria.example"])
    async with operator_tx(pool, actor="test") as conn:
        other = await create_org(conn, "studio", "Studio Rossi")
    await ticket(pool, biz)
    async with tenant_tx(pool, biz.org_id) as conn:
        assert len(await outbox.recent(conn)) == 1
    async with operator_tx(pool) as conn:
        cursor = await conn.execute("SELECT id FROM outbox")
        (delivery,) = [row[0] for row in await cursor.fetchall()]
        await conn.execute(
            "INSERT INTO outbox_attempts (outbox_id, organization_id, node_id, ok, duration_ms)"
            " VALUES (%s, %s, 'n1', false, 1)",
            (delivery, biz.org_id),
        )
    async with tenant_tx(pool, biz.org_id) as conn:
        cursor = await conn.execute("SELECT count(*) FROM outbox_attempts")
        assert await cursor.fetchone() == (1,)
        with pytest.raises(Exception, match="permission denied"):  # only the dispatcher
            await conn.execute("UPDATE outbox SET status = 'delivered'")
    async with tenant_tx(pool, other.id) as conn:
        assert await outbox.recent(conn) == []
        assert await outbox.get_status(conn, delivery) is None
        cursor = await conn.execute("SELECT count(*) FROM outbox_attempts")
        assert await cursor.fetchone() == (0,)
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                "INSERT INTO outbox (organization_id, event, channel, target, payload)"
                " VALUES (%s, 'test', 'email', 'x@y.example', '{}')",
                (biz.org_id,),
            )


async def test_webhook_and_email_are_delivered_signed_with_the_summary(
    pool: Pool, receiver: WebhookReceiver, smtp: SmtpSink, running: list[asyncio.Task[None]]
) -> None:
    await receiver.start()
    biz = await business(
        pool,
        notify_email=["kitchen@pizzeria.example"],
        webhook_url=receiver.url,
        webhook_secret=SECRET,
    )
    config = settings(smtp_url=smtp.url, mail_from="frontdesk@frontdesk.example")
    dispatcher = OutboxDispatcher(pool, config)
    running.append(asyncio.create_task(dispatcher.run()))
    await ticket(pool, biz)
    dispatcher.wake()
    assert await receiver.wait(1, 5), receiver.attempts
    assert await smtp.wait(1, 5)
    hook = receiver.received[0]
    assert hook.signature_ok and hook.event == "ticket.created"
    body = hook.json()
    assert body["delivery_id"] == hook.delivery_id
    assert body["ticket"]["kind"] == "order" and body["call"]["caller"] == CALLER
    assert body["organization"]["name"] == "Pizzeria Da Mario"
    assert body["number"] == {"id": str(biz.number_id), "phone_number": NUMBER, "label": "Orders"}
    mail = smtp.messages[0]
    assert mail.recipients == ["kitchen@pizzeria.example"]
    subject = str(mail.message["Subject"])
    assert "Pizzeria Da Mario" in subject and "order" in subject and CALLER in subject
    assert CALLER in mail.text and NUMBER in mail.text and "two pizzas" in mail.text
    assert mail.message.get_body(("html",)) is not None
    # the call's summary: stored on the session row with its call.ended, in one transaction
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "INSERT INTO sessions (organization_id, sip_number_id, call_id_sip, caller_number,"
            " called_number, node_id, answered_at) VALUES (%s, %s, 'call-2@test', %s, %s,"
            " 'n1', now()) RETURNING id",
            (biz.org_id, biz.number_id, CALLER, NUMBER),
        )
        row = await cursor.fetchone()
        assert row is not None
        session_id = row[0]
    await agent_records.create_ticket(
        pool,
        biz.org_id,
        kind="order",
        subject="two pizzas for delivery",
        body="",
        session_id=session_id,
        customer_id=None,
    )
    transcript = [
        {"role": "agent", "text": "Ready to take your order", "at": 1.0},
        {"role": "caller", "text": "My name is Anna, two pizzas for delivery", "at": 2.0},
    ]
    now = time.time()
    summaries = PostCallSummaries(pool, config, on_enqueued=dispatcher.wake)
    summary = await summaries.summarise(
        FinishedCall(
            session_id, biz.org_id, biz.number_id, "call-2@test", CALLER, NUMBER,
            "bye-caller", now - 20, now - 19, now, tuple(transcript),
        )
    )  # fmt: skip
    assert "Anna placed an order: two pizzas for delivery." in summary.text
    assert await receiver.wait(3, 5)
    ended = [m for m in receiver.received if m.event == "call.ended"]
    assert len(ended) == 1 and ended[0].json()["summary"] == summary.text
    assert ended[0].json()["summary_data"]["intent"] == "order"
    assert await smtp.wait(3, 5)
    ended_mail = next(m for m in smtp.messages if "call from" in str(m.message["Subject"]))
    assert summary.text in ended_mail.text and "Kind: order" in ended_mail.text
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT summary, summary_data->>'caller_name' FROM sessions WHERE id = %s",
            (session_id,),
        )
        assert await cursor.fetchone() == (summary.text, "Anna")


async def test_per_number_override_sends_the_orders_line_to_the_kitchen(
    pool: Pool, receiver: WebhookReceiver, running: list[asyncio.Task[None]]
) -> None:
    await receiver.start()
    biz = await business(pool, notify_email=["office@pizzeria.example"])
    async with operator_tx(pool, actor="test") as conn:
        await update_number(
            conn,
            NUMBER,
            default_country="IT",
            override_changes={"webhook_url": receiver.url, "webhook_secret": SECRET},
        )
    dispatcher = OutboxDispatcher(pool, settings())
    running.append(asyncio.create_task(dispatcher.run()))
    await ticket(pool, biz)
    assert await receiver.wait(1, 5)
    assert receiver.received[0].signature_ok


@pytest.mark.slow
async def test_receiver_down_for_60_s_gets_the_event_once_it_is_back(
    pool: Pool, receiver: WebhookReceiver, running: list[asyncio.Task[None]]
) -> None:
    biz = await business(pool, webhook_url=receiver.url, webhook_secret=SECRET)
    dispatcher = OutboxDispatcher(pool, settings(outbox_max_backoff=5.0))
    running.append(asyncio.create_task(dispatcher.run()))
    await ticket(pool, biz)
    await asyncio.sleep(60)  # nobody listens on the receiver's port
    ((delivery, *_),) = await rows(pool)
    tried = await attempts(pool, delivery)
    assert len(tried) >= 5 and not any(ok for _, ok, _ in tried), tried
    gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(tried)]
    assert gaps[1] > gaps[0] * 1.5 and max(gaps) < 5.0 * 1.5, gaps  # growing, then capped
    back = time.time()
    await receiver.start()
    assert await receiver.wait(1, 8), "not delivered after the receiver came back"
    assert receiver.received[0].at - back < 6.0
    await asyncio.sleep(2 * 0.2 + 1)  # a duplicate would come within a poll or two
    assert len(receiver.attempts) == 1
    assert receiver.received[0].delivery_id == str(delivery)
    await wait_status(pool, "delivered")


async def test_a_500_receiver_gets_growing_retries_then_failed_then_the_operator_retries(
    pool: Pool, receiver: WebhookReceiver, running: list[asyncio.Task[None]]
) -> None:
    receiver.status = 500
    await receiver.start()
    biz = await business(pool, webhook_url=receiver.url, webhook_secret=SECRET)
    dispatcher = OutboxDispatcher(
        pool, settings(outbox_first_backoff=0.3, outbox_max_backoff=1.2, outbox_retry_window=4.0)
    )
    running.append(asyncio.create_task(dispatcher.run()))
    await ticket(pool, biz)
    await wait_status(pool, "failed", 10)
    times = [a.at for a in receiver.attempts]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 4, times
    assert gaps[1] > gaps[0] * 1.4 and gaps[2] > gaps[1] * 1.4 - 0.2, gaps
    assert max(gaps) < 1.2 + 0.6, gaps  # the cap
    ids = {a.delivery_id for a in receiver.attempts}
    assert len(ids) == 1  # one delivery id on every attempt
    async with operator_tx(pool) as conn:
        failed = await outbox.list_failed(conn)
    assert [f.id for f in failed] == [uuid.UUID(ids.pop())]
    assert failed[0].last_error == "HTTP 500" and failed[0].organization == "pizzeria"
    receiver.status = 200
    async with operator_tx(pool, actor="test") as conn:
        assert await outbox.retry(conn, failed[0].id)
    dispatcher.wake()
    assert await receiver.wait(1, 5)
    await wait_status(pool, "delivered")


async def test_webhook_without_a_secret_is_not_sent_unsigned(
    pool: Pool, receiver: WebhookReceiver, running: list[asyncio.Task[None]]
) -> None:
    await receiver.start()
    biz = await business(pool, webhook_url=receiver.url)
    dispatcher = OutboxDispatcher(pool, settings())
    running.append(asyncio.create_task(dispatcher.run()))
    await ticket(pool, biz)
    await asyncio.sleep(1.0)
    assert receiver.attempts == []
    ((delivery, *_),) = await rows(pool)
    tried = await attempts(pool, delivery)
    assert tried and "no webhook_secret" in tried[0][2]


def test_the_cli_sets_notifications_for_an_org_and_a_number_and_never_prints_the_secret(
    db: str,
) -> None:
    from typer.testing import CliRunner

    from frontdesk.cli.main import app

    def cli(*args: str) -> str:
        env = {"FRONTDESK_DATABASE_URL": db, "FRONTDESK_DEFAULT_COUNTRY": "IT"}
        result = CliRunner().invoke(app, list(args), env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        assert SECRET not in result.output
        return result.stdout

    cli("org", "add", "pizzeria", "--name", "Pizzeria Da Mario")
    cli("number", "add", NUMBER, "--org", "pizzeria", "--label", "Orders")
    out = cli(
        "org", "set", "pizzeria", "--set", 'notify_email=["orders@pizzeria.example"]',
        "--set", "webhook_url=https://pizzeria.example/hooks", "--set", f"webhook_secret={SECRET}",
    )  # fmt: skip
    assert "config changed: notify_email, webhook_secret, webhook_url" in out
    cli("number", "set", NUMBER, "--set", 'notify_email=["kitchen@pizzeria.example"]')
    listing = cli("number", "list") + cli("org", "list")
    assert "notify_email" in listing
    bad = CliRunner().invoke(
        app,
        ["org", "set", "pizzeria", "--set", 'notify_email=["nope"]'],
        env={"FRONTDESK_DATABASE_URL": db},
    )
    assert bad.exit_code == 1 and "'nope' is not an email address" in bad.stderr


async def test_the_livekit_front_summarises_at_session_close_with_its_event(pool: Pool) -> None:
    from frontdesk.agent.livekit import finish_session
    from frontdesk.agent.spec import CallSpec
    from frontdesk.calls.record import TranscriptLine

    biz = await business(pool, notify_email=["kitchen@pizzeria.example"])
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "INSERT INTO sessions (organization_id, sip_number_id, call_id_sip, caller_number,"
            " called_number, node_id, answered_at) VALUES (%s, %s, 'lk-1', %s, %s, 'lk',"
            " now()) RETURNING id",
            (biz.org_id, biz.number_id, CALLER, NUMBER),
        )
        row = await cursor.fetchone()
    assert row is not None
    spec = CallSpec(
        call_id="lk-1", session_id=str(row[0]), org_id=str(biz.org_id),
        number_id=str(biz.number_id), called=NUMBER, caller=CALLER,
    )  # fmt: skip
    transcript = [{"role": "caller", "text": "Do you deliver?", "at": 1.0}]
    lines = [TranscriptLine.from_json(line) for line in transcript]
    await finish_session(pool, settings(), spec, lines, time.time() - 30)
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT transcript, summary, summary_data->>'intent' FROM sessions WHERE id = %s",
            (row[0],),
        )
        stored = await cursor.fetchone()
    assert stored == (transcript, 'The caller said: "Do you deliver?".', "enquiry")
    assert [(r[1], r[2]) for r in await rows(pool)] == [("call.ended", "email")]


async def test_the_sweep_summarises_calls_whose_node_died_and_each_call_is_announced_once(
    pool: Pool,
) -> None:
    biz = await business(pool, webhook_url="http://127.0.0.1:9/h", webhook_secret=SECRET)

    async def session(reason: str, ended_ago_s: int, answered: bool, summary: str | None) -> Any:
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(
                "INSERT INTO sessions (organization_id, sip_number_id, call_id_sip,"
                " caller_number, called_number, node_id, started_at, answered_at, ended_at,"
                " outcome, reason, summary) VALUES (%s, %s, %s, %s, %s, 'dead',"
                " now() - make_interval(secs => %s + 60),"
                " CASE WHEN %s THEN now() - make_interval(secs => %s + 50) END,"
                " now() - make_interval(secs => %s), %s, %s, %s) RETURNING id",
                (biz.org_id, biz.number_id, f"sweep-{uuid.uuid4().hex[:8]}", CALLER, NUMBER,
                 ended_ago_s, answered, ended_ago_s, ended_ago_s,
                 "failed" if reason.startswith("node-") else "completed", reason, summary),
            )  # fmt: skip
            row = await cursor.fetchone()
        assert row is not None
        return row[0]

    lost = await session("node-lost", 60, False, None)  # reaped from a dead node
    unsummarised = await session("bye-caller", 90, True, None)  # its node lost its queue
    await session("bye-caller", 90, True, "already summarised")
    await session("bye-caller", 5, True, None)  # its own node still has time
    await session("bye-caller", 7200, True, None)  # too old: left alone
    summaries = PostCallSummaries(pool, settings())
    assert await summaries.sweep() == 2
    assert await summaries.sweep() == 0
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT id, summary, summary_data->>'outcome' FROM sessions WHERE id IN (%s, %s)",
            (lost, unsummarised),
        )
        found = {row[0]: row[1:] for row in await cursor.fetchall()}
    assert found[lost] == (
        "The call was cut off when its node stopped; its transcript is lost.",
        "cut-off",
    )
    assert found[unsummarised][1] == "no-speech"
    events = [r for r in await rows(pool) if r[1] == "call.ended"]
    assert len(events) == 2
    # a call summarised twice at once (its node and a sweep): stored and announced once
    twice = await session("bye-caller", 90, True, None)
    call = FinishedCall(
        twice, biz.org_id, biz.number_id, "twice", CALLER, NUMBER, "bye-caller",
        time.time() - 100, time.time() - 95, time.time() - 90, (),
    )  # fmt: skip
    await asyncio.gather(summaries.summarise(call), summaries.summarise(call))
    assert len([r for r in await rows(pool) if r[1] == "call.ended"]) == 3
