"""`OutboxDispatcher`: the task on every node that sends what the outbox holds.

Owns: a few claim loops (`lanes`), each: open an operator transaction, claim up to
`FRONTDESK_OUTBOX_BATCH` due rows with FOR UPDATE SKIP LOCKED, send them concurrently
(email or signed webhook), record every attempt and each row's next state, commit. The
claim is the row lock itself: while a lane sends, no other node can take its rows; if this
node dies, PostgreSQL drops its connection and the rows are due again at once for anyone.
A hung node (stopped, partitioned) loses its claims after `idle_in_transaction_session_timeout`,
set per transaction above the longest send. Several lanes keep one slow receiver from
holding back everyone else's notifications.

Delivery is at least once: a crash after a send but before the commit sends the row again,
with the same delivery id (`X-Frontdesk-Delivery`) so receivers can drop the repeat.

Must not: write events (they are written with what they announce) or build messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

import psycopg

from frontdesk.config import Settings
from frontdesk.notify import message
from frontdesk.notify.policy import RetryPolicy
from frontdesk.notify.senders import EmailSender, SendResult, WebhookSender
from frontdesk.store import outbox
from frontdesk.store.engine import Connection, Pool
from frontdesk.store.tx import operator_tx

log = logging.getLogger(__name__)

_SECRET_TTL_S = 5.0  # a rotated secret signs new attempts within this long


class OutboxDispatcher:
    def __init__(
        self,
        pool: Pool,
        settings: Settings,
        *,
        lanes: int = 4,
        email: EmailSender | None = None,
        webhook: WebhookSender | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pool = pool
        self._settings = settings
        self._node_id = settings.node_id
        self._lanes = lanes
        self.policy = RetryPolicy(
            first_s=min(settings.outbox_first_backoff, settings.outbox_max_backoff),
            max_s=settings.outbox_max_backoff,
            window_s=settings.outbox_retry_window,
        )
        self.email = email or EmailSender(settings)
        self.webhook = webhook or WebhookSender(settings)
        self._clock = clock
        self._wake = asyncio.Event()
        self._secrets: dict[tuple[UUID, UUID | None], tuple[str | None, float]] = {}
        # the longest a lane may sit in its transaction between statements
        self._idle_limit_ms = int(max(30.0, 3 * settings.outbox_send_timeout) * 1000)
        self.delivered = 0
        self.failed_attempts = 0
        self.db_errors = 0

    def wake(self) -> None:
        """Rows were just committed on this node: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                for lane in range(self._lanes):
                    group.create_task(self._lane(), name=f"outbox lane {lane}")
        finally:
            await self.webhook.close()

    async def _lane(self) -> None:
        poll = self._settings.outbox_poll_interval
        while True:
            try:
                sent = await self.send_due()
            except (psycopg.Error, OSError) as exc:
                self.db_errors += 1
                log.warning("outbox: database unavailable (%s); retrying", type(exc).__name__)
                sent = 0
                await asyncio.sleep(poll)
            except Exception:  # a bug must not end this node's deliveries for good
                self.db_errors += 1
                log.exception("outbox: a batch failed; its rows stay due")
                sent = 0
                await asyncio.sleep(poll)
            if sent >= self._settings.outbox_batch:
                continue  # more may be due: no wait
            if self._wake.is_set():  # woken while sending: those rows may not be claimed yet
                self._wake.clear()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll)

    async def send_due(self) -> int:
        """Claim one batch, send it, record the attempts; returns how many rows it sent."""
        async with operator_tx(self._pool) as conn:
            await conn.execute(
                b"SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
                (str(self._idle_limit_ms),),
            )
            due = await outbox.claim_due(conn, self._settings.outbox_batch)
            if not due:
                return 0
            results = await asyncio.gather(*(self._attempt(conn, d) for d in due))
            await outbox.record_attempts(conn, results, self._node_id, self.policy.window_s)
        for result in results:
            if result.ok:
                self.delivered += 1
            else:
                self.failed_attempts += 1
                log.info(
                    "outbox delivery %s (%s, attempt %d) failed: %s",
                    result.delivery.id,
                    result.delivery.channel,
                    result.delivery.attempts + 1,
                    result.detail,
                )
        return len(due)

    async def _attempt(self, conn: Connection, delivery: outbox.Delivery) -> outbox.AttemptResult:
        started = time.perf_counter()
        try:
            if delivery.channel == "email":
                result = await self._send_email(delivery)
            else:
                secret = await self._secret(conn, delivery)
                result = await self._send_webhook(delivery, secret)
        except Exception as exc:  # a bug in one row must not stop the batch
            log.exception("outbox delivery %s raised", delivery.id)
            result = SendResult(False, f"internal error: {type(exc).__name__}")
        return outbox.AttemptResult(
            delivery=delivery,
            ok=result.ok,
            detail=result.detail,
            duration_ms=(time.perf_counter() - started) * 1000,
            retry_in_s=self.policy.delay_after(delivery.attempts + 1),
        )

    async def _send_email(self, delivery: outbox.Delivery) -> SendResult:
        recipients = [a.strip() for a in delivery.target.split(",") if a.strip()]
        mail = message.email_message(delivery.id, delivery.payload, self.email.sender, recipients)
        return await self.email.send(mail, recipients)

    async def _send_webhook(self, delivery: outbox.Delivery, secret: str | None) -> SendResult:
        if not secret:
            return SendResult(False, "no webhook_secret is configured: the webhook is not sent")
        body = message.webhook_body(delivery.id, delivery.payload)
        headers = message.webhook_headers(
            delivery.id, delivery.event, body, secret, int(self._clock())
        )
        return await self.webhook.send(delivery.target, body, headers)

    async def _secret(self, conn: Connection, delivery: outbox.Delivery) -> str | None:
        key = (delivery.organization_id, delivery.sip_number_id)
        now = time.monotonic()
        cached = self._secrets.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        secret = await outbox.webhook_secret(conn, *key)
        if len(self._secrets) > 10_000:
            self._secrets.clear()
        self._secrets[key] = (secret, now + _SECRET_TTL_S)
        return secret

    def stats(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed_attempts": self.failed_attempts,
            "db_errors": self.db_errors,
        }
