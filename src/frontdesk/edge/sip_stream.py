"""SIP over TCP: one `StreamParser` per connection, the same user agent as UDP.

Owns: accepting connections (a stranger's is aborted before a byte is read; the kernel's
handshake is all it ever gets, which is why the firewall rules cover TCP too), framing
the byte stream into messages, and the map from a peer's address to its connection, so
responses and our in-dialog requests go back on the connection the peer opened.
Must not: hold call logic; messages go to the server's user agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from frontdesk.edge.allowlist import Allowlist
from frontdesk.errors import SipParseError
from frontdesk.sip.message import Request, Response
from frontdesk.sip.parser import StreamParser

log = logging.getLogger(__name__)

Addr = tuple[str, int]
OnMessage = Callable[[Request | Response, Addr], None]
OnMalformed = Callable[[SipParseError, Addr], None]


class StreamConnections:
    """The open SIP connections of the node, by peer address."""

    def __init__(
        self,
        allowlist: Allowlist,
        on_message: OnMessage,
        on_malformed: OnMalformed,
        on_stranger: Callable[[], None],
    ) -> None:
        self.allowlist = allowlist
        self.on_message = on_message
        self.on_malformed = on_malformed
        self.on_stranger = on_stranger
        self.open: dict[Addr, asyncio.Transport] = {}

    def protocol(self) -> SipStreamProtocol:
        return SipStreamProtocol(self)

    def send(self, data: bytes, address: Addr) -> bool:
        """Write to the peer's connection; False when there is none (use UDP)."""
        transport = self.open.get(address)
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True

    def close_all(self) -> None:
        for transport in list(self.open.values()):
            transport.close()
        self.open.clear()


class SipStreamProtocol(asyncio.Protocol):
    def __init__(self, connections: StreamConnections) -> None:
        self._connections = connections
        self._parser = StreamParser()
        self._transport: asyncio.Transport | None = None
        self._peer: Addr = ("", 0)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer: tuple[Any, ...] = transport.get_extra_info("peername")
        connections = self._connections
        if not connections.allowlist.allows(peer[0]):
            connections.on_stranger()
            transport.abort()  # type: ignore[attr-defined]
            return
        self._transport = transport  # type: ignore[assignment]
        self._peer = (peer[0], peer[1])
        connections.open[self._peer] = self._transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return
        connections = self._connections
        while True:
            try:
                messages = self._parser.feed(data)
            except SipParseError as exc:
                connections.on_malformed(exc, self._peer)
                if self._parser.broken:
                    log.info("closing SIP connection from %s: %s", self._peer[0], exc)
                    self._transport.close()
                    return
                data = b""  # a bad message was consumed: read on after it
                continue
            for message in messages:
                connections.on_message(message, self._peer)
            return

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._connections.open.pop(self._peer, None)
