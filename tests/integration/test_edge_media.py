"""RTP through the edge with sipp: G.711 both laws at 20 and 30 ms, DTMF, watchdogs,
and RTP injection from addresses the SDP did not name."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path

import pytest
from tests.conftest import PCAPS, SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.sipp import write_rtp_pcap

from frontdesk.edge.server import EdgeServer
from frontdesk.media.rtp import RtpPacket

pytestmark = pytest.mark.integration

SPEECH = "Hello, I would like to book a table for two people tonight at eight."


@pytest.fixture(scope="module")
def speech_raw(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A spoken sentence as raw 8 kHz mu-law and A-law (espeak-ng + sox)."""
    require_tool("espeak-ng", "espeak-ng")
    require_tool("sox", "sox")
    folder = tmp_path_factory.mktemp("speech")
    wav = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True)
    out = {}
    for law, encoding in (("PCMU", "mu-law"), ("PCMA", "a-law")):
        raw = folder / f"speech.{law}"
        subprocess.run(
            ["sox", str(wav), "-t", "raw", "-e", encoding, "-r", "8000", "-c", "1", str(raw)],
            check=True,
        )
        out[law] = raw.read_bytes()
    return out


def make_pcap(tmp_path: Path, audio: bytes, codec: str, ptime: int) -> tuple[Path, int]:
    path = tmp_path / f"{codec}_{ptime}.pcap"
    count = write_rtp_pcap(path, audio, payload_type=0 if codec == "PCMU" else 8, ptime_ms=ptime)
    return path, count


@pytest.mark.parametrize(
    ("codec", "ptime"), [("PCMU", 20), ("PCMU", 30), ("PCMA", 20), ("PCMA", 30)]
)
async def test_rtp_both_ways(
    edge: EdgeServer, tmp_path: Path, speech_raw: dict[str, bytes], codec: str, ptime: int
) -> None:
    pcap, packets = make_pcap(tmp_path, speech_raw[codec], codec, ptime)
    duration_ms = packets * ptime
    scenario = SIPP_DATA / f"uac_pcap_{codec.lower()}_{ptime}.xml"
    result = await sipp(
        edge,
        scenario,
        service="1000",
        keys={"pcap": str(pcap)},
        extra_args=["-d", str(duration_ms + 500)],
        timeout_s=30,
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    record = edge.history[0]
    assert record.media is not None
    assert record.media.codec == codec and record.media.ptime_ms == ptime
    assert record.rx_packets == packets  # every packet sipp sent reached the call
    assert record.media.lost == 0
    # we sent RTP the whole time, paced at the negotiated ptime (greeting, echo, silence)
    expected_tx = record.media.duration_s * 1000 / ptime
    assert abs(record.tx_packets - expected_tx) <= 3, (record.tx_packets, expected_tx)


async def test_rfc4733_dtmf_digit(edge: EdgeServer) -> None:
    require_tool("sipp", "sip-tester")
    dtmf_pcap = PCAPS / "dtmf_2833_1.pcap"
    assert dtmf_pcap.is_file(), "apt-get install sip-tester"
    result = await sipp(
        edge, SIPP_DATA / "uac_dtmf.xml", service="1000", extra_args=["-d", "200"], timeout_s=20
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    assert edge.history[0].dtmf == "1"  # once, despite the three redundant end packets


async def test_media_timeout_sends_bye(
    edge_factory: EdgeFactory, tmp_path: Path, speech_raw: dict[str, bytes]
) -> None:
    timeout = 2.0
    edge = await edge_factory(media_timeout=timeout)
    pcap, _ = make_pcap(tmp_path, speech_raw["PCMU"][:8000], "PCMU", 20)  # one second
    result = await sipp(
        edge, SIPP_DATA / "uac_stop_rtp.xml", service="1000", keys={"pcap": str(pcap)}, timeout_s=20
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    record = edge.history[0]
    assert record.reason == "media-timeout"
    # BYE within timeout + 1 s of the last packet (DESIGN §2)
    assert record.media is not None
    assert timeout <= record.media.silence_s <= timeout + 1.0
    assert edge.stats.media_timeouts == 1


async def test_call_on_hold_is_not_cut(
    edge_factory: EdgeFactory, tmp_path: Path, speech_raw: dict[str, bytes]
) -> None:
    edge = await edge_factory(media_timeout=1.5)
    pcap, _ = make_pcap(tmp_path, speech_raw["PCMU"][:8000], "PCMU", 20)
    result = await sipp(
        edge,
        SIPP_DATA / "uac_hold.xml",
        service="1000",
        keys={"pcap": str(pcap)},
        extra_args=["-set", "talk_ms", "1200", "-d", "4000"],  # on hold 4 s > media timeout
        timeout_s=30,
    )
    assert_ok(result)
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    assert edge.history[0].reason == "remote-bye"
    assert edge.stats.media_timeouts == 0


async def test_rtp_from_strangers_never_reaches_the_call(edge: EdgeServer) -> None:
    """A live call's port gets RTP from 127.0.0.2 and from a wrong port: both are dropped."""
    held = asyncio.Event()
    call_seen: list[object] = []

    async def hold_call() -> None:
        # a call that stays up (uac_pcap with a long pause, no audio needed)
        await sipp(
            edge,
            SIPP_DATA / "uac_dtmf.xml",
            service="1000",
            extra_args=["-d", "3000"],
            timeout_s=20,
        )
        held.set()

    task = asyncio.create_task(hold_call())
    assert await wait_for(lambda: len(edge.calls) == 1, 5)
    (call,) = edge.calls.values()
    call_seen.append(call)
    packet = bytes(
        RtpPacket(payload_type=0, sequence=1, timestamp=160, ssrc=0xBAD, payload=b"\xff" * 160)
    )
    before = call.media.state.rx_packets
    for source in ("127.0.0.2", "127.0.0.1"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((source, 0))  # 127.0.0.1 from a port the SDP did not name
            for _ in range(20):
                sock.sendto(packet, ("127.0.0.1", call.port))
    assert await wait_for(lambda: call.rtp_rejected >= 40, 2)
    # only sipp's own DTMF packets, nothing of ours
    assert call.media.state.rx_packets - before <= 12
    await task
    assert held.is_set()
    assert edge.history[-1].dtmf == "1"
