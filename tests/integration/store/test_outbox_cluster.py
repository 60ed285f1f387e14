"""Nothing is lost when a node dies mid-delivery (issue 12, item 4), with real node processes.

A `frontdesk run` node claims a ticket's webhook and POSTs it to a receiver that holds the
request open; the node is killed with SIGKILL while the request is pending. PostgreSQL drops
the dead node's connection and with it the row lock that was its claim; another node finds
the row due and delivers it: same delivery id, signed, accepted once. (A restarted node with
the same id was tested the same way and behaves alike: the claim is the lock, not the id.)
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.integration.store.cluster import Cluster, seed
from tests.support.receivers import WebhookReceiver

from frontdesk.store import agent_records
from frontdesk.store.engine import open_pool
from frontdesk.store.orgs import set_org_config
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECRET = "cluster-webhook-secret-0123456789"
NUMBER = "+390551239999"
NODE_ENV = {
    "FRONTDESK_OUTBOX_POLL_INTERVAL": "0.2",
    "FRONTDESK_OUTBOX_FIRST_BACKOFF": "0.5",
    "FRONTDESK_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",  # the test receivers are on loopback
}


async def _configure_and_ticket(conninfo: str, url: str) -> uuid.UUID:
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await set_org_config(conn, "trattoria", {"webhook_url": url, "webhook_secret": SECRET})
            cursor = await conn.execute("SELECT id FROM organizations WHERE slug = 'trattoria'")
            row = await cursor.fetchone()
        assert row is not None
        await agent_records.create_ticket(
            pool, row[0], kind="order", subject="a crash-proof order", body="",
            session_id=None, customer_id=None,
        )  # fmt: skip
        async with operator_tx(pool) as conn:
            cursor = await conn.execute("SELECT id FROM outbox")
            (delivery,) = await cursor.fetchall()
        return uuid.UUID(str(delivery[0]))
    finally:
        await pool.close()


async def _outbox_row(conninfo: str) -> tuple[Any, ...]:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool) as conn:
            cursor = await conn.execute("SELECT status, attempts FROM outbox")
            row = await cursor.fetchone()
        assert row is not None
        return tuple(row)
    finally:
        await pool.close()


async def test_a_node_killed_while_sending_leaves_the_delivery_to_the_next_node(
    db: str, tmp_path: Path
) -> None:
    seed(db, {"trattoria": None}, {NUMBER: ("trattoria", 1)})
    receiver = WebhookReceiver(SECRET, hang_s=120.0)  # the first POST is never answered
    await receiver.start()
    delivery = await _configure_and_ticket(db, receiver.url)
    with Cluster(db, tmp_path, **NODE_ENV) as cluster:
        try:
            (first,) = await asyncio.to_thread(cluster.start, 1)
            assert await receiver.wait(1, 10, attempts=True), cluster.outputs()
            assert receiver.attempts[0].delivery_id == str(delivery)
            await asyncio.to_thread(cluster.kill9, first)  # mid-request: no commit, no cleanup
            receiver.release()  # the dead node's request ends; the next one is answered
            await asyncio.to_thread(cluster.start, 1)  # another node (a restart works alike)
            assert await receiver.wait(1, 15), cluster.outputs()
            redelivered = receiver.received[0]
            assert redelivered.delivery_id == str(delivery) and redelivered.signature_ok
            assert redelivered.event == "ticket.created"
            for _ in range(50):
                if (await _outbox_row(db))[0] == "delivered":
                    break
                await asyncio.sleep(0.1)
            assert await _outbox_row(db) == ("delivered", 1)  # the killed attempt left no trace
            await asyncio.sleep(1.0)
            assert len(receiver.received) == 1  # delivered once
        finally:
            await receiver.stop()
