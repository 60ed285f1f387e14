"""The sockets of notifications: SMTP (aiosmtplib) and webhook POSTs (aiohttp).

Owns: one attempt each, bounded by `FRONTDESK_OUTBOX_SEND_TIMEOUT`, turned into a
`SendResult` (ok, and a short detail for the attempt row). SMTP follows
`FRONTDESK_SMTP_URL`: `smtp://user:pass@host:587` upgrades with STARTTLS when the server
offers it, `smtps://` is TLS from the first byte. A webhook is delivered on any 2xx.
Must not: decide retries (notify.policy, store.outbox) or build messages (notify.message).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib

from frontdesk.config import Settings
from frontdesk.notify.address_guard import PublicOnlyResolver, refusal_for_literal


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("the SMTP URL must be smtp://[user:pass@]host[:port] or smtps://")
        implicit = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=implicit,
        )


class EmailSender:
    def __init__(self, settings: Settings) -> None:
        url = settings.smtp_url
        self.server = SmtpServer.from_url(url.get_secret_value()) if url is not None else None
        self.sender = settings.mail_from
        self.timeout = settings.outbox_send_timeout

    async def send(self, message: EmailMessage, recipients: list[str]) -> SendResult:
        server = self.server
        if server is None:
            return SendResult(False, "FRONTDESK_SMTP_URL is not set: no email can be sent")
        try:
            _refused, reply = await aiosmtplib.send(
                message,
                sender=self.sender,
                recipients=recipients,
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.implicit_tls,
                start_tls=False if server.implicit_tls else None,  # None: when offered
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return SendResult(False, f"SMTP: {type(exc).__name__}: {exc}"[:500])
        return SendResult(True, f"SMTP: {reply}"[:500])


class WebhookSender:
    """POSTs over one shared connection pool (keep-alive to busy receivers), to public
    addresses only unless `FRONTDESK_WEBHOOK_ALLOW_NETWORKS` allows more
    (notify.address_guard)."""

    def __init__(self, settings: Settings, connections: int = 100) -> None:
        self.timeout = aiohttp.ClientTimeout(total=settings.outbox_send_timeout)
        self._connections = connections
        self._allowed = settings.webhook_allowed_networks
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._connections,
                    limit_per_host=0,
                    resolver=PublicOnlyResolver(self._allowed),
                ),
                timeout=self.timeout,
                raise_for_status=False,
            )
        return self._session

    async def send(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        refused = refusal_for_literal(urlsplit(url).hostname or "", self._allowed)
        if refused is not None:
            return SendResult(False, f"webhook: {refused}")
        try:
            async with self._client().post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                ok = 200 <= response.status < 300
                return SendResult(ok, f"HTTP {response.status}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            return SendResult(False, f"webhook: {type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
