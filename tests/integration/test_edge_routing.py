"""The edge routes by the dialled number (over an in-memory table; the store-backed
snapshot replaces it in the tenancy issue): sipp calls reach the right org with the
right greeting, an unknown number gets 404, an inactive one 480."""

from __future__ import annotations

import asyncio
import socket

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.messages import invite

from frontdesk.calls.routing import NumberEntry, RoutingDecider, RoutingTable
from frontdesk.edge.server import EdgeServer
from frontdesk.sip.message import Response
from frontdesk.sip.parser import parse_message
from frontdesk.tenancy.config import TenantConfig

pytestmark = pytest.mark.integration

ORG_A = TenantConfig(greeting="Pizzeria, buongiorno")
ORG_B = TenantConfig(greeting="Studio Rossi")


def numbers() -> RoutingTable:
    def entry(number: str, org: str, config: TenantConfig, **kw: object) -> NumberEntry:
        return NumberEntry(  # type: ignore[arg-type]
            f"id{number}", number, f"org-{org}", org, True, True, config, **kw
        )

    return RoutingTable(
        [
            entry("+390551234567", "a", ORG_A, override={"greeting": "Ready to take your order"}),
            entry("+390551234568", "a", ORG_A, override={"greeting": "How can I help?"}),
            entry("+390557654321", "b", ORG_B),
            NumberEntry("off", "+390550000001", "org-b", "b", False, True, ORG_B),
        ],
        default_country="IT",
    )


async def final_status(edge: EdgeServer, number: str) -> Response:
    assert edge.sip_address is not None
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        data = invite(user=number, call_id=f"c-{number}", port=sock.getsockname()[1])
        await loop.sock_sendto(sock, data, edge.sip_address)
        while True:
            message = parse_message(await asyncio.wait_for(loop.sock_recv(sock, 65535), 3))
            if isinstance(message, Response) and message.status >= 200:
                return message


async def test_calls_reach_the_right_org_with_the_right_greeting(edge_factory: EdgeFactory) -> None:
    require_tool("sipp", "sip-tester")
    edge = await edge_factory(decider=RoutingDecider(numbers()))
    dialled = {
        "0551234567": "Ready to take your order",
        "+390551234568": "How can I help?",
        "00390557654321": "Studio Rossi",
    }
    for number in dialled:
        assert_ok(await sipp(edge, SIPP_DATA / "uac_basic.xml", service=number, timeout_s=15))
    assert await wait_for(lambda: len(edge.history) == 3, 3)
    greetings = {record.called: record.greeting for record in edge.history}
    assert greetings == dialled


async def test_unknown_number_404_inactive_480(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(decider=RoutingDecider(numbers()))
    assert (await final_status(edge, "+390559999999")).status == 404
    assert (await final_status(edge, "0550000001")).status == 480
    assert await wait_for(lambda: len(edge.history) == 2, 2)
    assert [(r.status, r.reason) for r in edge.history] == [
        (404, "unknown-number"),
        (480, "number-inactive"),
    ]
    assert edge.ports.in_use == 0
