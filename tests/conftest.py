"""Shared fixtures: a real SIP edge on free loopback ports, in the test's event loop."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.support.messages import rtp_range_avoiding
from tests.support.sipp import free_sip_port

from frontdesk.calls.decision import AcceptAll, CallDecider
from frontdesk.calls.record import CallRecord
from frontdesk.config import Settings, load_settings
from frontdesk.edge.server import EdgeServer, Responder
from frontdesk.sip.timers import TimerValues

REPO = Path(__file__).resolve().parent.parent
SIPP_DATA = REPO / "tests" / "data" / "sipp"
PCAPS = Path("/usr/share/sip-tester")

EdgeFactory = Callable[..., Awaitable[EdgeServer]]


def require_tool(name: str, package: str) -> None:
    """Fail (never skip) when a real peer the test drives is missing."""
    if shutil.which(name) is None and not Path("/usr/sbin", name).exists():
        pytest.fail(f"{name} is not installed: run `apt-get install {package}` (make test does)")


def edge_settings(**overrides: Any) -> Settings:
    sip_port = int(overrides.pop("sip_port", free_sip_port()))
    values: dict[str, Any] = {
        "sip_host": "127.0.0.1",
        "sip_port": sip_port,
        "pbx_addresses": ["127.0.0.1"],
        "public_ip": "127.0.0.1",
        "rtp_ports": rtp_range_avoiding(sip_port),
        "media_timeout": 12.0,
        "use_uvloop": False,
    }
    values.update(overrides)
    return load_settings(None, **values)


@pytest.fixture
async def edge_factory() -> AsyncIterator[EdgeFactory]:
    """Start EdgeServers (stopped at teardown) with settings overrides."""
    started: list[EdgeServer] = []

    async def start(
        decider: CallDecider | None = None,
        timers: TimerValues | None = None,
        responder: Responder | None = None,
        on_record: Callable[[CallRecord], None] | None = None,
        **overrides: Any,
    ) -> EdgeServer:
        server = EdgeServer(
            edge_settings(**overrides),
            decider or AcceptAll(),
            timers=timers,
            responder=responder,
            on_record=on_record,
        )
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop(grace=0.2)


@pytest.fixture
async def edge(edge_factory: EdgeFactory) -> EdgeServer:
    return await edge_factory()


async def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()
