"""The calls' RTP lives in media worker processes: proven from /proc, and by killing one.

A sipp call sends a 440 Hz tone (PCMU) while these look at which process holds the
call's RTP socket (the worker's, not the SIP loop's), and what happens when that worker
is killed with SIGKILL mid-call: the call ends at once with BYE (reason `media-lost`, no
waiting for the 12 s media timeout), its slot is released, a new worker starts, and the
next call's media is whole again.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.sipp import write_rtp_pcap

from frontdesk.calls.decision import AcceptAll, Decision, InviteFacts
from frontdesk.calls.record import CallRecord
from frontdesk.edge.server import EdgeServer
from frontdesk.media import g711

pytestmark = [pytest.mark.integration]


class CountingDecider(AcceptAll):
    def __init__(self) -> None:
        self.admitted = 0
        self.released: list[str] = []

    async def decide(self, facts: InviteFacts) -> Decision:
        self.admitted += 1
        return await super().decide(facts)

    async def release(
        self, facts: InviteFacts, reason: str, record: CallRecord | None = None
    ) -> None:
        self.released.append(reason)


def tone_pcap(tmp_path: Path, seconds: float) -> tuple[Path, int]:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    path = tmp_path / f"tone_{seconds}.pcap"
    return path, write_rtp_pcap(path, g711.encode("PCMU", pcm), payload_type=0, ptime_ms=20)


def udp_socket_inode(port: int) -> str:
    """The inode of the socket bound to UDP `port` on 127.0.0.1, from /proc/net/udp."""
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(f":{port:04X}"):
            return fields[9]
    raise AssertionError(f"no socket on UDP port {port}")


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


async def test_a_calls_rtp_socket_is_held_by_a_media_worker(
    edge: EdgeServer, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    pcap, packets = tone_pcap(tmp_path, 2.0)
    task = asyncio.create_task(
        sipp(edge, SIPP_DATA / "uac_pcap_pcmu_20.xml", service="1000", keys={"pcap": str(pcap)},
             extra_args=["-d", "2500"], timeout_s=20)
    )  # fmt: skip
    assert await wait_for(lambda: len(edge.calls) == 1, 5)
    (call,) = edge.calls.values()
    worker = call.media.worker
    assert worker.pid != os.getpid()
    inode = udp_socket_inode(call.port)
    assert inode in socket_inodes(worker.pid)
    assert inode not in socket_inodes(os.getpid())  # handed over: the SIP loop holds none
    assert_ok(await task)
    assert await wait_for(lambda: len(edge.history) == 1, 3)
    assert edge.history[0].rx_packets == packets


async def test_a_killed_media_worker_ends_its_calls_and_is_replaced(
    edge_factory: EdgeFactory, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    decider = CountingDecider()
    edge = await edge_factory(decider=decider)
    long_pcap, _ = tone_pcap(tmp_path, 6.0)
    task = asyncio.create_task(
        sipp(edge, SIPP_DATA / "uac_stop_rtp.xml", service="1000",
             keys={"pcap": str(long_pcap)}, timeout_s=30)
    )  # fmt: skip
    assert await wait_for(lambda: len(edge.calls) == 1, 5)
    (call,) = edge.calls.values()
    assert await wait_for(lambda: call.media.state.rx_packets >= 25, 3)  # RTP flows
    worker = call.media.worker
    os.kill(worker.pid, signal.SIGKILL)
    killed = asyncio.get_running_loop().time()
    assert_ok(await task)  # sipp got our BYE and answered it
    assert await wait_for(lambda: len(edge.history) == 1, 3)
    record = edge.history[0]
    assert record.reason == "media-lost", record
    ended_in = record.ended_at - (record.answered_at or 0)
    assert ended_in < 4.0, ended_in  # long before the tone (6 s) or the media timeout (12 s)
    assert await wait_for(lambda: decider.released == ["media-lost"], 3)
    assert asyncio.get_running_loop().time() - killed < 3.0

    # a new worker carries the next call, whole
    def replaced() -> bool:
        return edge.media.workers[worker.index].ready.is_set()

    assert await wait_for(replaced, 10)
    assert edge.media.workers[worker.index].pid != worker.pid and edge.media.crashes == 1
    pcap, packets = tone_pcap(tmp_path, 1.0)
    result = await sipp(
        edge, SIPP_DATA / "uac_pcap_pcmu_20.xml", service="1000", keys={"pcap": str(pcap)},
        extra_args=["-d", "1500"], timeout_s=20,
    )  # fmt: skip
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 2, 3)
    assert edge.history[1].rx_packets == packets and edge.history[1].reason == "remote-bye"
