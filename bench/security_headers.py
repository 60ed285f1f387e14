"""What the security middlewares cost per request: an ASGI app called directly, no network.

Command: `python -m bench.security_headers --requests 20000`

Calls the smallest ASGI app (GET /ping -> JSON) in-process, bare and wrapped in each
middleware (the request carries X-Forwarded-For; with a trusted proxy it is read), in
alternating rounds, and prints the best round's mean time per request of each.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from frontdesk.web.security import ClientAddress, SecurityHeaders

ROUNDS = 5


async def ping(scope: Scope, receive: Receive, send: Send) -> None:
    """The smallest HTTP answer, so that only the middlewares' own cost is measured."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"15")],
        }
    )
    await send({"type": "http.response.body", "body": b'{"status":"ok"}'})


async def run(app: ASGIApp, requests: int) -> float:
    """Mean seconds per request of `app` answering GET /ping."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/ping",
        "raw_path": b"/ping",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"x-forwarded-for", b"198.51.100.7")],
        "client": ("10.0.0.5", 40000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        return None

    for _ in range(200):  # warm up
        await app(dict(scope), receive, send)
    began = time.perf_counter()
    for _ in range(requests):
        await app(dict(scope), receive, send)
    return (time.perf_counter() - began) / requests


async def main(requests: int) -> None:
    proxies = (ipaddress.ip_network("10.0.0.0/8"),)
    variants: dict[str, ASGIApp] = {
        "bare app": ping,
        "security headers": SecurityHeaders(ping),
        "client address, no trusted proxy (default)": ClientAddress(ping, ()),
        "client address, trusted proxy + X-Forwarded-For": ClientAddress(ping, proxies),
        "both, as the app runs behind a proxy": SecurityHeaders(ClientAddress(ping, proxies)),
    }
    best = {name: float("inf") for name in variants}
    for _ in range(ROUNDS):  # alternating rounds; the best of each (the CPU is shared)
        for name, app in variants.items():
            best[name] = min(best[name], await run(app, requests))
    print(f"requests per variant and round: {requests}, rounds: {ROUNDS}, best round shown")
    for name, seconds in best.items():
        print(f"{name:50} {seconds * 1e6:6.1f} us/request")
    print(f"command: python -m bench.security_headers --requests {requests}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    asyncio.run(main(parser.parse_args().requests))
