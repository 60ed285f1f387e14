"""Real receivers for notification tests and benches: a webhook endpoint and an SMTP server.

Owns: `WebhookReceiver`, an aiohttp server on a free loopback port that checks each POST's
signature the way a business would (`notify.message.verify_signature`), records what came
(headers, body, arrival time, whether the signature held) and answers with the status the
test sets (or not at all, to play a hung receiver); it can be started late on the same
port (a receiver that was down). `SmtpSink`, an aiosmtpd server on a free port that keeps
every message it accepts with its arrival time.

Must not: be imported by the product (tests and bench/ only).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from tests.support.sipp import free_port

from frontdesk.notify.message import verify_signature


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() on arrival
    signature_ok: bool

    @property
    def delivery_id(self) -> str:
        return self.headers.get("X-Frontdesk-Delivery", "")

    @property
    def event(self) -> str:
        return self.headers.get("X-Frontdesk-Event", "")

    def json(self) -> dict[str, Any]:
        value = json.loads(self.body)
        assert isinstance(value, dict)
        return value


@dataclass
class WebhookReceiver:
    secret: str
    port: int = field(default_factory=lambda: free_port(kind=socket.SOCK_STREAM))
    status: int = 200
    hang_s: float = 0.0  # wait this long before answering (a slow or hung receiver)
    received: list[ReceivedWebhook] = field(default_factory=list)  # signed and answered 2xx
    attempts: list[ReceivedWebhook] = field(default_factory=list)  # every request
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _release: asyncio.Event = field(default_factory=asyncio.Event)  # ends every hang

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/frontdesk"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        ok = verify_signature(
            self.secret,
            headers.get("X-Frontdesk-Timestamp", ""),
            body,
            headers.get("X-Frontdesk-Signature", ""),
            time.time(),
        )
        item = ReceivedWebhook(headers, body, time.time(), ok)
        self.attempts.append(item)
        self._arrived.set()
        if self.hang_s:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.hang_s)
            if request.transport is None or request.transport.is_closing():
                # the sender is gone (it timed out or died): it never learns of an answer,
                # so nothing was delivered to it; a real receiver would drop its work too
                return web.Response(status=499)
        if not ok:
            return web.Response(status=401, text="bad signature")
        if 200 <= self.status < 300:
            self.received.append(item)
        return web.Response(status=self.status, text="thanks")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hooks/frontdesk", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()

    def release(self) -> None:
        """Answer every request held by `hang_s` now (and let later ones through)."""
        self.hang_s = 0.0
        self._release.set()

    async def stop(self) -> None:
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait(self, count: int, timeout_s: float, *, attempts: bool = False) -> bool:
        """Until `count` deliveries (or attempts) arrived; False on timeout."""
        items = self.attempts if attempts else self.received
        deadline = time.monotonic() + timeout_s
        while len(items) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.2))
        return True


@dataclass
class ReceivedMail:
    message: EmailMessage
    at: float
    recipients: list[str]

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        return "" if part is None else str(part.get_content())


class SmtpSink:
    """aiosmtpd on a free loopback port; `messages` grows as mail is accepted."""

    def __init__(self) -> None:
        self.port = free_port(kind=socket.SOCK_STREAM)
        self.messages: list[ReceivedMail] = []
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(ReceivedMail(parsed, time.time(), list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        from aiosmtpd.controller import Controller  # a test tool, not a product dependency

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    async def wait(self, count: int, timeout_s: float) -> bool:
        return await self.wait_for(lambda mails: len(mails) >= count, timeout_s)

    async def wait_for(
        self, predicate: Callable[[list[ReceivedMail]], bool], timeout_s: float
    ) -> bool:
        """Until `predicate(messages)` holds (polled: aiosmtpd runs in its own thread)."""
        deadline = time.monotonic() + timeout_s
        while not predicate(self.messages):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.01)
        return True
