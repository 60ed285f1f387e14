"""Symmetric RTP for a PBX behind NAT, end to end: sipp signals with `c=IN IP4 192.168.1.50`
(a LAN address that is not the PBX's, and where nothing may ever be sent) while the RTP
comes from an allowlisted address: the call is answered, our RTP goes to the RTP's source,
strangers are still ignored, and a latched call whose RTP stops ends by media timeout."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.integration.test_edge_media import make_pcap, speech_raw  # noqa: F401 (fixture)

from frontdesk.edge.server import EdgeServer
from frontdesk.media.rtp import RtpPacket

pytestmark = pytest.mark.integration

LAN = "192.168.1.50"


class RtpPeer:
    """A UDP socket that sends PCMU RTP to a call's port and counts what comes back."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.setblocking(False)
        self.target = ("127.0.0.1", port)
        self.sequence = 0
        self.received: list[RtpPacket] = []

    def send(self, count: int = 1) -> None:
        for _ in range(count):
            self.sequence += 1
            packet = RtpPacket(
                payload_type=0,
                sequence=self.sequence,
                timestamp=160 * self.sequence,
                ssrc=0x5EED,
                payload=b"\xff" * 160,
            )
            self.sock.sendto(bytes(packet), self.target)

    def drain(self) -> int:
        while True:
            try:
                data, source = self.sock.recvfrom(2048)
            except BlockingIOError:
                return len(self.received)
            assert source == self.target  # only ever from the call's RTP port
            self.received.append(RtpPacket.parse(data))

    async def talk(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            self.send()
            self.drain()
            await asyncio.sleep(0.02)
        self.drain()

    def close(self) -> None:
        self.sock.close()


async def test_nat_call_is_answered_and_our_rtp_goes_to_the_rtp_source(edge: EdgeServer) -> None:
    task = asyncio.create_task(
        sipp(edge, SIPP_DATA / "uac_nat_silent.xml", service="1000", extra_args=["-d", "3500"])
    )
    assert await wait_for(lambda: len(edge.calls) == 1, 5)
    (call,) = edge.calls.values()
    assert call.media.state.latching and call.remote is None
    await asyncio.sleep(0.3)
    assert call.media.state.tx_packets == 0  # nothing sent before the PBX's RTP arrives

    pbx = RtpPeer("127.0.0.1", call.port)
    stranger = RtpPeer("127.0.0.2", call.port)
    try:
        stranger.send(10)  # first, before the PBX: must not latch
        assert await wait_for(lambda: call.rtp_rejected >= 10, 2)
        assert call.remote is None
        await pbx.talk(1.0)
        assert call.remote == pbx.sock.getsockname()
        assert len(pbx.received) >= 40  # the greeting, paced at 20 ms
        assert await wait_for(lambda: call.media.state.rx_packets == pbx.sequence, 1)
        # a stranger during the call: ignored, gets nothing, and the latch stays
        rejected = call.rtp_rejected
        stranger.send(20)
        await pbx.talk(0.4)
        assert await wait_for(lambda: call.rtp_rejected >= rejected + 20, 2)
        assert await wait_for(lambda: call.media.state.rx_packets == pbx.sequence, 1)
        assert stranger.drain() == 0
        # the NAT rebinds the PBX's mapping (same address, new port): we follow it
        moved = RtpPeer("127.0.0.1", call.port)
        try:
            await moved.talk(0.5)
            assert call.remote == moved.sock.getsockname()
            assert len(moved.received) >= 15
        finally:
            moved.close()
    finally:
        pbx.close()
        stranger.close()
    result = await task
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    record = edge.history[0]
    assert record.outcome == "answered" and record.reason == "remote-bye"
    assert record.media is not None and record.media.rtp_latch_moves == 2
    assert edge.stats.rtp_latched == 1


async def test_latched_call_whose_rtp_stops_is_freed_by_the_media_timeout(
    edge_factory: EdgeFactory,
    tmp_path: Path,
    speech_raw: dict[str, bytes],  # noqa: F811 (the fixture)
) -> None:
    timeout = 2.0
    edge = await edge_factory(media_timeout=timeout)
    pcap, packets = make_pcap(tmp_path, speech_raw["PCMU"][:8000], "PCMU", 20)  # one second
    result = await sipp(
        edge,
        SIPP_DATA / "uac_nat_stop_rtp.xml",
        service="1000",
        keys={"pcap": str(pcap)},
        timeout_s=20,
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    record = edge.history[0]
    assert record.reason == "media-timeout"
    assert record.rx_packets == packets
    assert record.tx_packets > 0 and record.media is not None and record.media.rtp_latch_moves == 1
    assert record.media is not None
    assert timeout <= record.media.silence_s <= timeout + 1.0
    assert edge.ports.in_use == 0


async def test_nat_call_whose_rtp_never_comes_is_freed(edge_factory: EdgeFactory) -> None:
    edge = await edge_factory(media_timeout=1.0)
    task = asyncio.create_task(
        sipp(edge, SIPP_DATA / "uac_nat_silent.xml", service="1000", extra_args=["-d", "3000"])
    )
    assert await wait_for(lambda: len(edge.history) == 1, 6)
    record = edge.history[0]
    assert record.reason == "media-timeout"
    assert record.tx_packets == 0  # never a packet towards 192.168.1.50
    await task  # sipp's late BYE gets 481: its own failure, not ours


async def test_reinvite_behind_nat_moves_the_latch_to_the_new_rtp_source(
    edge_factory: EdgeFactory,
) -> None:
    """Two allowlisted hosts: the second takes the call's media only after a re-INVITE."""
    edge = await edge_factory(pbx_addresses=["127.0.0.1", "127.0.0.3"])
    task = asyncio.create_task(
        sipp(
            edge,
            SIPP_DATA / "uac_nat_reinvite.xml",
            service="1000",
            variables={"talk_ms": "1500"},
            extra_args=["-d", "2500"],
        )
    )
    assert await wait_for(lambda: len(edge.calls) == 1, 5)
    (call,) = edge.calls.values()
    first = RtpPeer("127.0.0.1", call.port)
    second = RtpPeer("127.0.0.3", call.port)
    try:
        await first.talk(0.6)
        assert call.remote == first.sock.getsockname() and len(first.received) >= 20
        rejected = call.rtp_rejected
        second.send(10)  # allowlisted too, but the call is latched on the first
        assert await wait_for(lambda: call.rtp_rejected >= rejected + 10, 2)
        assert await wait_for(lambda: call.media.state.learning, 4)  # the re-INVITE came
        assert call.remote == first.sock.getsockname()  # still sending there meanwhile
        await second.talk(0.5)
        assert call.remote == second.sock.getsockname()
        assert len(second.received) >= 15
        count = first.drain()
        rejected = call.rtp_rejected
        first.send(10)
        assert await wait_for(lambda: call.rtp_rejected >= rejected + 10, 2)
        await asyncio.sleep(0.1)
        assert first.drain() == count  # nothing more for the old source
    finally:
        first.close()
        second.close()
    assert_ok(await task)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    media = edge.history[0].media
    assert media is not None and media.rtp_latch_moves == 2
