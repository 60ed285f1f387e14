"""What every HTTP answer carries, and who the client is: two small ASGI middlewares.

Owns:
- `SecurityHeaders`: on every response of the app (pages, API, errors, static files, 404s)
  a Content-Security-Policy with no inline script or style (`script-src 'self'`: every
  script is a file under /static, every style a stylesheet; htmx is told not to add its
  indicator `<style>` by a meta tag in base.html), `frame-ancestors 'none'` with
  `X-Frame-Options: DENY` (no page can be framed: clickjacking on Deactivate),
  `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`, and
  `Cache-Control: no-store` on everything but /static (so no page, API answer or login form
  with its CSRF token lands in a shared or back-button cache). One path keeps a wider style
  rule: /redoc, whose bundle (styled-components) writes `<style>` elements at run time; its
  scripts are still only files of ours.
- `ClientAddress`: `request.client` is the TCP peer, unless the peer is one of
  `FRONTDESK_TRUSTED_PROXIES`: then X-Forwarded-For is read from the right, skipping the
  trusted proxies' own entries, and the first address that is not a trusted proxy is the
  client (a client can prepend anything to the header; only what our proxies appended
  counts). With no trusted proxy (the default) the header is ignored. uvicorn's own proxy
  handling must be off (`server_config` below), or it would already have believed the header
  from loopback.
- `client_address`: that rule as a pure function (tests call it with strings).

Must not: read settings itself (the app passes the networks in), or log addresses.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any, Final

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CSP: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
#: /redoc only: its bundle injects <style> elements (styled-components) and embeds its icon
#: font as a data: URI; scripts stay ours (its hard-coded attribution logo on
#: cdn.redoc.ly stays blocked by img-src: the browser never asks that host)
CSP_REDOC: Final = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "font-src 'self'", "font-src 'self' data:"
)

HEADERS: Final = (
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)
STATIC_PREFIX: Final = "/static/"


def _encoded(csp: str, cache: bool) -> list[tuple[bytes, bytes]]:
    pairs = [("content-security-policy", csp), *((k.lower(), v) for k, v in HEADERS)]
    if cache:
        pairs.append(("cache-control", "no-store"))
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]


# the raw header lists, built once: pages and API, /redoc, static files (cacheable)
_PAGE: Final = _encoded(CSP, cache=True)
_REDOC: Final = _encoded(CSP_REDOC, cache=True)
_STATIC: Final = _encoded(CSP, cache=False)
_OURS: Final = frozenset(name for name, _value in _PAGE)  # replaced if a route set them


class SecurityHeaders:
    """Adds the security headers (module docstring) to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        ours = _REDOC if path == "/redoc" else _STATIC if path.startswith(STATIC_PREFIX) else _PAGE

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [item for item in message.get("headers", ()) if item[0].lower() not in _OURS]
                message["headers"] = kept + ours
            await send(message)

        await self.app(scope, receive, send_with_headers)


MAX_ADDRESS: Final = 64  # "[v6 address]:port" is shorter; anything longer is not an address


def _parse(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    return None if len(address) > MAX_ADDRESS else _parse_short(address)


@functools.lru_cache(maxsize=4096)  # ipaddress is slow; the same few peers recur
def _parse_short(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = address.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    return len(address) <= MAX_ADDRESS and _trusted_short(address, trusted)


@functools.lru_cache(maxsize=4096)  # bounded, and only short keys (a client writes them)
def _trusted_short(address: str, trusted: tuple[IpNetwork, ...]) -> bool:
    parsed = _parse(address)
    return parsed is not None and any(parsed in network for network in trusted)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Sequence[IpNetwork]) -> str:
    """The client's address: `peer`, or what trusted proxies say about it (docstring above).

    `forwarded_for` is every X-Forwarded-For header value, in order. An entry that is not
    an IP address ends the walk (whatever a client wrote left of it is not believed): the
    answer is then the last trusted hop, which is never an address the client chose.
    """
    networks = tuple(trusted)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [item.strip() for value in forwarded_for for item in value.split(",")]
    client = peer
    for hop in reversed([item for item in hops if item]):
        parsed = _parse(hop)
        if parsed is None:
            return client
        client = str(parsed)
        if not _trusted(hop, networks):
            return client
    return client


class ClientAddress:
    """Sets `scope["client"]` from X-Forwarded-For when the peer is a trusted proxy."""

    def __init__(self, app: ASGIApp, trusted: Sequence[IpNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] in ("http", "websocket") and scope.get("client"):
            host, _port = scope["client"]
            values = [
                value.decode("latin-1")
                for name, value in scope.get("headers", ())
                if name == b"x-forwarded-for"
            ]
            real = client_address(host, values, self.trusted)
            if real != host:
                scope = {**scope, "client": (real, 0)}
        await self.app(scope, receive, send)


def server_config(app: ASGIApp, **options: Any) -> uvicorn.Config:
    """uvicorn's Config for this app: its proxy-header rewriting off (ClientAddress decides)."""
    return uvicorn.Config(app, proxy_headers=False, **options)
