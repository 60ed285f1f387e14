"""Only the PBX is answered: a stranger's INVITE and OPTIONS get zero bytes back.

Proved twice: on loopback (127.0.0.2 is a stranger, tcpdump shows nothing sent to it) and
across network namespaces (a PBX host and a stranger host on their own veth links)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp, target
from tests.support.netns import Topology, require_netns_support
from tests.support.sipp import run_sipp

from frontdesk.metrics import NodeMetrics

pytestmark = pytest.mark.integration


@contextmanager
def capture(interface: str, bpf: str, path: Path, netns: str | None = None) -> Iterator[Path]:
    """tcpdump into `path` while the block runs."""
    require_tool("tcpdump", "tcpdump")
    argv = ["tcpdump", "-i", interface, "-n", "-U", "-w", str(path), bpf]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    os.set_blocking(proc.stderr.fileno(), False)
    deadline = time.monotonic() + 5
    seen = b""
    while b"listening on" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen += proc.stderr.read() or b""
    assert b"listening on" in seen, seen
    try:
        yield path
    finally:
        time.sleep(0.3)
        proc.terminate()
        proc.wait(5)
        proc.stderr.close()


def packets_in(path: Path) -> list[str]:
    out = subprocess.run(
        ["tcpdump", "-n", "-r", str(path)], capture_output=True, text=True, check=False
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


async def test_loopback_stranger_gets_nothing(edge_factory: EdgeFactory, tmp_path: Path) -> None:
    require_tool("sipp", "sip-tester")
    edge = await edge_factory()
    pcap = tmp_path / "to_stranger.pcap"
    with capture("lo", "udp and dst host 127.0.0.2", pcap):
        for scenario in ("options.xml", "uac_basic.xml"):
            result = await sipp(
                edge, SIPP_DATA / scenario, local_ip="127.0.0.2", service="1000", timeout_s=3
            )
            assert result.successful_calls == 0, result.stdout_tail  # nothing ever answered
        # the PBX's address is answered meanwhile
        assert_ok(await sipp(edge, SIPP_DATA / "options.xml", timeout_s=5))
    assert packets_in(pcap) == []  # zero bytes to the stranger, retransmissions included
    assert edge.stats.stranger_sip >= 2
    metrics = NodeMetrics()
    metrics.watch(edge)
    scraped = generate_latest(metrics.registry).decode()
    assert f'frontdesk_stranger_packets_total{{kind="sip"}} {edge.stats.stranger_sip}.0' in scraped
    assert edge.history == type(edge.history)([], maxlen=edge.history.maxlen)


async def test_namespace_stranger_gets_nothing(edge_factory: EdgeFactory, tmp_path: Path) -> None:
    require_netns_support()
    require_tool("sipp", "sip-tester")
    with Topology() as topo:
        pbx = topo.add_host("pbx")
        stranger = topo.add_host("stranger")
        pbx_link = topo.link(topo.root, pbx)
        stranger_link = topo.link(topo.root, stranger)
        edge = await edge_factory(
            sip_host="0.0.0.0",
            pbx_addresses=[pbx_link.ipv4(pbx)],
            public_ip=pbx_link.ipv4(topo.root),
        )
        assert edge.sip_address is not None
        port = edge.sip_address[1]

        def call_from(ns_name: str, ip: str, link_ip: str, scenario: str) -> object:
            return run_sipp(
                SIPP_DATA / scenario,
                f"{link_ip}:{port}",
                local_ip=ip,
                netns=ns_name,
                service="1000",
                timeout_s=4,
            )

        pcap = tmp_path / "stranger_side.pcap"
        with capture(stranger_link.ifname(stranger), "udp", pcap, netns=stranger.name):
            strange = await asyncio.to_thread(
                call_from,
                stranger.name,
                stranger_link.ipv4(stranger),
                stranger_link.ipv4(topo.root),
                "uac_basic.xml",
            )
            strange_options = await asyncio.to_thread(
                call_from,
                stranger.name,
                stranger_link.ipv4(stranger),
                stranger_link.ipv4(topo.root),
                "options.xml",
            )
        friendly = await asyncio.to_thread(
            call_from, pbx.name, pbx_link.ipv4(pbx), pbx_link.ipv4(topo.root), "uac_basic.xml"
        )
        assert_ok(friendly)  # type: ignore[arg-type]
        for result in (strange, strange_options):
            assert result.successful_calls == 0  # type: ignore[attr-defined]
        # on the stranger's own wire: its packets went out, nothing ever came back
        lines = packets_in(pcap)
        sent_by_stranger = [
            line for line in lines if f"{stranger_link.ipv4(stranger)}." in line.split(">")[0]
        ]
        received = [line for line in lines if line not in sent_by_stranger]
        assert sent_by_stranger, lines
        assert received == [], received
        assert edge.stats.stranger_sip >= 2
        assert await wait_for(lambda: len(edge.history) == 1, 2)
        assert edge.history[0].outcome == "answered"
        assert target(edge)
