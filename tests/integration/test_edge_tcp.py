"""SIP over TCP on the same port: sipp calls over a connection, our BYE goes back on it,
a malformed message does not end the connection, and a stranger's connection is closed
before a byte of SIP is read or written."""

from __future__ import annotations

import asyncio

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.messages import invite, request

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _sipp_installed() -> None:
    require_tool("sipp", "sip-tester")


async def test_call_over_tcp(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory()
    result = await sipp(
        edge,
        SIPP_DATA / "uac_basic.xml",
        calls=2,
        rate=5,
        service="1000",
        transport="t1",
        timeout_s=20,
    )
    assert_ok(result, 2)
    assert await wait_for(lambda: len(edge.history) == 2, 2)
    assert {r.reason for r in edge.history} == {"remote-bye"}


async def test_our_bye_goes_back_over_tcp(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(max_call_duration=1.0)
    result = await sipp(
        edge, SIPP_DATA / "uac_remote_bye.xml", service="1000", transport="t1", timeout_s=20
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    assert edge.history[0].reason == "max-duration"


async def read_until(reader: asyncio.StreamReader, marker: bytes, timeout: float = 3) -> bytes:
    data = b""
    while marker not in data:
        chunk = await asyncio.wait_for(reader.read(65535), timeout)
        if not chunk:
            break
        data += chunk
    return data


async def test_malformed_message_then_valid_one_on_one_connection(
    edge_factory: EdgeFactory,
) -> None:
    edge = await edge_factory()
    assert edge.sip_address is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", edge.sip_address[1])
    port = writer.get_extra_info("sockname")[1]
    bad = request("OPTIONS", branch="z9hG4bK-bad", port=port).replace(b"CSeq: 1", b"CSeq: x")
    good = request("OPTIONS", branch="z9hG4bK-good", port=port)
    writer.write(bad + good)
    await writer.drain()
    data = await read_until(reader, b"SIP/2.0 200")
    assert data.startswith(b"SIP/2.0 400 ")
    assert b"SIP/2.0 200 OK" in data
    writer.close()
    await writer.wait_closed()


async def test_stranger_connection_is_closed_without_a_byte(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory()
    assert edge.sip_address is not None
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", edge.sip_address[1], local_addr=("127.0.0.2", 0)
    )
    writer.write(invite(host="127.0.0.2"))
    try:
        data = await asyncio.wait_for(reader.read(65535), 3)
    except ConnectionResetError:
        data = b""
    assert data == b""  # closed: no SIP answer of any kind
    writer.close()
    assert edge.stats.stranger_sip >= 1
    assert not edge.streams.open
