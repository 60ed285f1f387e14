"""The SIP transport of the edge: UDP and TCP sockets, the allowlist gate, the user agent.

Owns: the UDP SIP socket and the TCP listener on the same port, the allowlist check
before any byte is parsed (a stranger only increments `stranger_sip`), the sans-IO
`UserAgent` (fed with messages and time, drained of datagrams and events), and the one
asyncio timer that drives the user agent's deadlines. Events go to the `on_event`
callback the server gives it, one at a time; a failure in one never stops the others.

Must not: decide anything about calls (the server does, on the events it is handed).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from frontdesk.config import Settings
from frontdesk.edge.allowlist import Allowlist
from frontdesk.edge.sip_stream import StreamConnections
from frontdesk.edge.stats import EdgeStats
from frontdesk.errors import SipParseError
from frontdesk.sip.message import Request, Response
from frontdesk.sip.timers import TimerValues
from frontdesk.sip.useragent import UaConfig, UserAgent

log = logging.getLogger(__name__)

Addr = tuple[str, int]


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, transport: SipTransport) -> None:
        self._transport = transport

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._transport.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)


class SipTransport:
    """SIP in and out for one node, on UDP and TCP, for PBX addresses only."""

    def __init__(
        self,
        settings: Settings,
        timers: TimerValues,
        stats: EdgeStats,
        on_event: Callable[[object], None],
    ) -> None:
        self.settings = settings
        self.timers = timers
        self.stats = stats
        self._on_event = on_event
        self.allowlist = Allowlist(settings.pbx_networks)
        self.ua: UserAgent | None = None
        self.sip_address: Addr | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self.streams = StreamConnections(
            self.allowlist, self._on_stream_message, self._on_stream_malformed, self._stranger
        )
        self._tcp_server: asyncio.Server | None = None

    async def start(self) -> Addr:
        loop = asyncio.get_running_loop()
        self._loop = loop
        settings = self.settings
        family = socket.AF_INET6 if ":" in settings.sip_host else socket.AF_INET
        udp, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self),
            local_addr=(settings.sip_host, settings.sip_port),
            family=family,
        )
        self._udp = udp
        bound = udp.get_extra_info("sockname")
        self.sip_address = (bound[0], bound[1])
        # SIP over TCP on the same port as UDP
        self._tcp_server = await loop.create_server(
            self.streams.protocol, settings.sip_host, bound[1], family=family
        )
        self.ua = UserAgent(
            UaConfig(
                contact_host=settings.advertised_ip,
                contact_port=bound[1],
                timers=self.timers,
                retry_after=settings.retry_after,
            )
        )
        return self.sip_address

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            self.streams.close_all()
            await self._tcp_server.wait_closed()

    # ------------------------------------------------------------------ SIP in
    def _stranger(self) -> None:
        self.stats.stranger_sip += 1

    def _on_stream_message(self, message: Request | Response, source: Addr) -> None:
        ua, loop = self.ua, self._loop
        assert ua is not None and loop is not None
        try:
            ua.receive_message(message, source, loop.time())
        except Exception:
            self.stats.internal_errors += 1
            log.exception("SIP core failed on a stream message")
        self.process()

    def _on_stream_malformed(self, exc: SipParseError, source: Addr) -> None:
        if self.ua is not None:
            self.ua.report_malformed(exc, source)
            self.process()

    def on_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        host = addr[0]
        if not self.allowlist.allows(host):
            self.stats.stranger_sip += 1
            return
        ua = self.ua
        assert ua is not None and self._loop is not None
        try:
            ua.receive(data, (host, addr[1]), self._loop.time())
        except Exception:  # a bug of ours must never kill the edge
            self.stats.internal_errors += 1
            log.exception("SIP core failed on a datagram")
        self.process()

    # ------------------------------------------------------------------ SIP out
    def process(self) -> None:
        """Carry out what the user agent asked for: events, datagrams, the next timer."""
        ua = self.ua
        if ua is None:
            return
        while ua.events:
            events = ua.events[:]
            ua.events.clear()
            for event in events:
                try:
                    self._on_event(event)
                except Exception:
                    self.stats.internal_errors += 1
                    log.exception("handling %s failed", type(event).__name__)
        transport = self._udp
        if ua.outbox and transport is not None:
            outbox = ua.outbox[:]
            ua.outbox.clear()
            streams = self.streams
            for data, address in outbox:
                if not (streams.open and streams.send(data, address)):
                    transport.sendto(data, address)
        self._arm_timer()

    def _arm_timer(self) -> None:
        ua, loop = self.ua, self._loop
        if ua is None or loop is None:
            return
        when = ua.next_deadline()
        if when is None:
            return
        if self._timer is not None and not self._timer.cancelled() and self._timer_when <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        ua, loop = self.ua, self._loop
        if ua is None or loop is None:
            return
        try:
            ua.advance(loop.time())
        except Exception:
            self.stats.internal_errors += 1
            log.exception("SIP timer handling failed")
        self.process()
