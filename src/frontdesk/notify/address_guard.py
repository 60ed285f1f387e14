"""Where a webhook may go: public addresses only, unless the operator allows a network.

Owns: the rule (pure: an address and the allowed networks in, a verdict out) and
`PublicOnlyResolver`, the aiohttp resolver that applies it to every address a webhook's
host name resolves to, at connection time: a name that resolved to a public address when
it was saved and to 127.0.0.1 later (DNS rebinding) is refused then. A URL whose host is
an IP literal never reaches a resolver in aiohttp, so the sender checks it itself
(`refusal_for_literal`).

Why: a tenant owner sets the webhook URL. Without this, frontdesk would POST to whatever
it points at inside the operator's network: the cloud metadata service
(169.254.169.254), the PostgreSQL or LiveKit ports on loopback, the office LAN.
Internal means not globally routable by `ipaddress`' reckoning (loopback, RFC 1918,
link-local, CGNAT 100.64/10, unique-local fc00::/7, multicast, reserved, unspecified),
IPv4-mapped IPv6 judged as its IPv4 address.

Must not: log the URL's path or query (they may carry a receiver's token).
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Sequence

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
ALLOW_SETTING = "FRONTDESK_WEBHOOK_ALLOW_NETWORKS"


def may_send_to(address: IpAddress, allowed: Sequence[IpNetwork] = ()) -> bool:
    """True for a public address, or one inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return True
    return address.is_global and not address.is_multicast


def refusal_for_literal(host: str, allowed: Sequence[IpNetwork] = ()) -> str | None:
    """Why a webhook to `host` is refused when `host` is an IP literal; None otherwise."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None  # a name: the resolver judges what it resolves to
    if may_send_to(address, allowed):
        return None
    return f"{address} is an internal address (allow it with {ALLOW_SETTING})"


class InternalAddressError(OSError):
    """Every address a webhook's host resolves to is internal (as `strerror`, which is what
    aiohttp's connection error shows)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)


class PublicOnlyResolver(AbstractResolver):
    """aiohttp's resolver, keeping only the addresses a webhook may go to."""

    def __init__(
        self, allowed: Sequence[IpNetwork] = (), inner: AbstractResolver | None = None
    ) -> None:
        self._allowed = tuple(allowed)
        self._inner = inner if inner is not None else DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if may_send_to(ipaddress.ip_address(r["host"]), self._allowed)]
        if not kept:
            raise InternalAddressError(
                f"{host} resolves only to internal addresses (allow them with {ALLOW_SETTING})"
            )
        return kept

    async def close(self) -> None:
        await self._inner.close()
