"""Issue 12's "Done means" on a real call: the order reaches the business by email and webhook.

baresip (caller +393331112222, a piper voice) dials the pizzeria's orders line on a real
edge with the agent workers, says "I want to order two pizzas for delivery" and hangs up.
The agent files the order (a ticket, and its `ticket.created` event in the same
transaction); after the hang-up the call is summarised and `call.ended` is written with
the summary; the node's dispatcher sends both to aiosmtpd and to a webhook receiver that
checks the signature. The `call.ended` email must arrive within 5 s of the hang-up and hold
the caller's number, the dialled number, the kind and the summary.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.call_node import running_call_node
from tests.conftest import edge_settings, require_tool
from tests.support.baresip import place_call
from tests.support.receivers import SmtpSink, WebhookReceiver
from tests.support.speech import caller_wav

from frontdesk.agent.summary import PostCallSummaries
from frontdesk.cli.demo import seed_demo
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.store.engine import Pool
from frontdesk.store.orgs import set_org_config
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = "+390551234567"
CALLER = "+393331112222"
SECRET = "pizzeria-kitchen-webhook-secret"


@dataclass
class NotifyingNode:
    settings: Settings
    edge: EdgeServer
    pool: Pool
    smtp: SmtpSink
    hooks: WebhookReceiver
    summaries: PostCallSummaries


@pytest.fixture
async def notifying_node(pool: Pool, tmp_path: Path) -> AsyncIterator[NotifyingNode]:
    require_tool("baresip", "baresip")
    smtp = SmtpSink()
    smtp.start()
    hooks = WebhookReceiver(SECRET)
    await hooks.start()
    settings = edge_settings(
        agent_workers=1,
        data_dir=tmp_path / "data",
        media_timeout=30.0,
        smtp_url=smtp.url,
        mail_from="frontdesk@frontdesk.example",
        outbox_poll_interval=1.0,
        webhook_allow_networks=["127.0.0.0/8"],  # the test receivers listen on loopback
    )
    await seed_demo(pool, settings)
    async with operator_tx(pool, actor="test") as conn:
        await set_org_config(
            conn,
            "pizzeria",
            {
                "notify_email": ["kitchen@pizzeria.example"],
                "webhook_url": hooks.url,
                "webhook_secret": SECRET,
            },
        )
    dispatcher = OutboxDispatcher(pool, settings)
    summaries = PostCallSummaries(pool, settings, on_enqueued=dispatcher.wake)
    try:
        async with running_call_node(
            pool,
            settings,
            also_on_record=summaries.submit,
            on_outbox=dispatcher.wake,
            background=(("dispatcher", dispatcher.run()), ("summaries", summaries.run())),
        ) as node:
            yield NotifyingNode(settings, node.edge, pool, smtp, hooks, summaries)
    finally:
        await hooks.stop()
        smtp.stop()


async def test_an_order_by_phone_arrives_by_email_and_webhook_within_5_s_of_the_hang_up(
    notifying_node: NotifyingNode, tmp_path: Path
) -> None:
    node = notifying_node
    wav = await asyncio.to_thread(
        caller_wav,
        tmp_path / "caller.wav",
        [(3.5, "I want to order two pizzas for delivery.")],
        13.0,
    )
    result = await place_call(
        ORDERS, "127.0.0.1", node.settings.sip_port, wav, workdir=tmp_path, user=CALLER,
        timeout_s=45,
    )  # fmt: skip
    assert result.call_id is not None, result.log_tail
    record = node.edge.record(result.call_id)
    assert record is not None and record.ended_at is not None, record
    hung_up = record.ended_at

    assert await node.smtp.wait_for(
        lambda mails: any("call from" in str(m.message["Subject"]) for m in mails), 10
    ), [str(m.message["Subject"]) for m in node.smtp.messages]
    mail = next(m for m in node.smtp.messages if "call from" in str(m.message["Subject"]))
    waited = mail.at - hung_up
    print(f"\nhang-up -> call.ended email accepted by SMTP: {waited * 1000:.0f} ms")
    assert waited < 5.0, waited
    text = mail.text
    assert CALLER in text and ORDERS in text, text
    assert "Kind: order" in text, text
    assert "Summary: The caller placed an order:" in text and "pizza" in text.lower(), text
    subject = str(mail.message["Subject"])
    assert "Pizzeria Da Mario" in subject and CALLER in subject and "order" in subject
    # the ticket's own email, and both events on the webhook, signed
    assert any("new order" in str(m.message["Subject"]) for m in node.smtp.messages)
    assert await node.hooks.wait(2, 5)
    events = sorted(h.event for h in node.hooks.received)
    assert events == ["call.ended", "ticket.created"], events
    assert all(h.signature_ok for h in node.hooks.received)
    ended = next(h for h in node.hooks.received if h.event == "call.ended").json()
    assert ended["call"]["caller"] == CALLER and ended["call"]["called"] == ORDERS
    assert ended["summary_data"]["intent"] == "order"
    async with operator_tx(node.pool) as conn:
        cursor = await conn.execute(
            "SELECT summary, summary_data->>'intent' FROM sessions WHERE call_id_sip = %s",
            (result.call_id,),
        )
        row = await cursor.fetchone()
    assert row is not None and row[0] == ended["summary"] and row[1] == "order"
