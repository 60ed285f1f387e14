"""sipp against a running edge: the call flows of DESIGN §2, on real UDP sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.support.sipp import SippResult, run_sipp

from frontdesk.edge.server import EdgeServer
from frontdesk.sip.timers import TimerValues

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def _sipp_installed() -> None:
    require_tool("sipp", "sip-tester")


def target(edge: EdgeServer) -> str:
    assert edge.sip_address is not None
    return f"127.0.0.1:{edge.sip_address[1]}"


async def sipp(edge: EdgeServer, scenario: str | Path, **kwargs: object) -> SippResult:
    """Run sipp in a thread so the edge keeps running in this event loop."""
    return await asyncio.to_thread(run_sipp, scenario, target(edge), **kwargs)  # type: ignore[arg-type]


def assert_ok(result: SippResult, calls: int = 1) -> None:
    assert result.successful_calls == calls, (
        result.failed_calls,
        result.errors_tail,
        result.stdout_tail,
    )
    assert result.failed_calls == 0


async def test_builtin_uac_call_is_answered_and_closed(edge: EdgeServer) -> None:
    result = await sipp(edge, "uac", calls=3, rate=10, service="1000", timeout_s=20)
    assert_ok(result, 3)
    assert await wait_for(lambda: len(edge.history) == 3, 2)
    assert {r.outcome for r in edge.history} == {"answered"}
    assert {r.reason for r in edge.history} == {"remote-bye"}
    assert {r.called for r in edge.history} == {"1000"}
    assert edge.calls == {} and edge.ports.in_use == 0


async def test_basic_scenario_with_offer_of_pcmu_pcma_and_events(edge: EdgeServer) -> None:
    result = await sipp(
        edge, SIPP_DATA / "uac_basic.xml", calls=2, rate=5, service="1000", timeout_s=20
    )
    assert_ok(result, 2)


async def test_we_send_bye(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(max_call_duration=1.0)
    result = await sipp(edge, SIPP_DATA / "uac_remote_bye.xml", service="1000", timeout_s=20)
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    assert edge.history[0].reason == "max-duration"


async def test_cancel_before_answer(edge_factory: EdgeFactory) -> None:
    class SlowDecider:
        async def decide(self, facts: object) -> object:
            from frontdesk.calls.decision import Admitted

            await asyncio.sleep(2.0)
            return Admitted()

        async def release(self, facts: object, reason: str, record: object = None) -> None:
            return None

    edge = await edge_factory(decider=SlowDecider())
    result = await sipp(edge, SIPP_DATA / "uac_cancel.xml", service="1000", timeout_s=20)
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 3)
    assert edge.history[0].outcome == "cancelled"
    await asyncio.sleep(2.2)  # the slow decision arrives after the CANCEL: nothing is answered
    assert edge.calls == {} and edge.ports.in_use == 0


async def test_missing_ack_retransmits_200_then_sends_bye(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(timers=TimerValues(t1=0.05, t2=0.4, t4=0.5))
    result = await sipp(edge, SIPP_DATA / "uac_no_ack.xml", service="1000", timeout_s=20)
    assert_ok(result)
    assert result.retransmissions >= 0
    assert await wait_for(lambda: len(edge.history) == 1, 3)
    assert edge.history[0].reason == "ack-timeout"


async def test_options_keepalive(edge: EdgeServer) -> None:
    result = await sipp(edge, SIPP_DATA / "options.xml", calls=3, rate=10, timeout_s=10)
    assert_ok(result, 3)
    assert edge.history == type(edge.history)([], maxlen=edge.history.maxlen)


async def test_codec_mismatch_is_488(edge: EdgeServer) -> None:
    result = await sipp(edge, SIPP_DATA / "uac_codec_mismatch.xml", service="1000", timeout_s=10)
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    assert edge.history[0].status == 488
    assert edge.ports.in_use == 0


async def test_rtp_port_exhaustion_is_503(edge_factory: EdgeFactory) -> None:
    """One even port in the range: the second simultaneous call gets 503 + Retry-After."""
    import socket

    from tests.support.messages import invite, sdp_offer

    from frontdesk.sip.message import Response
    from frontdesk.sip.parser import parse_message

    edge = await edge_factory(rtp_ports="31000-31001", retry_after=7)
    assert edge.ports.capacity == 1
    assert edge.sip_address is not None
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        port = sock.getsockname()[1]
        statuses: dict[str, list[Response]] = {"a": [], "b": []}
        for call_id in statuses:
            data = invite(call_id=call_id, branch=f"z9hG4bK-{call_id}", port=port, body=sdp_offer())
            await loop.sock_sendto(sock, data, edge.sip_address)
            await asyncio.sleep(0.2)
        deadline = loop.time() + 3
        while loop.time() < deadline and not (statuses["b"] and statuses["b"][-1].status >= 200):
            try:
                data = await asyncio.wait_for(loop.sock_recv(sock, 65535), 0.5)
            except TimeoutError:
                continue
            message = parse_message(data)
            if isinstance(message, Response):
                statuses[message.call_id].append(message)
    assert [r.status for r in statuses["a"]][:2] == [100, 200]
    refused = statuses["b"][-1]
    assert refused.status == 503
    assert refused.headers.get("Retry-After") == "7"
    assert edge.history[-1].reason == "rtp-ports-exhausted"
