"""G.722 through the edge with sipp: an offer of `9 0 8` is answered G.722, and the caller's
16 kHz audio reaches the call's responder exactly as G.722 decodes it (no resampling)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.sipp import write_rtp_pcap

from frontdesk.calls.handle import MediaCallHandle
from frontdesk.calls.responder import greeting_prompt
from frontdesk.media.g722 import G722_PT, G722Codec

pytestmark = pytest.mark.integration

SPEECH = "High definition voice, sixteen kilohertz."


def g722_payload(folder: Path) -> bytes:
    """espeak-ng → 16 kHz s16 (sox) → G.722, 20 ms at a time, like a phone would send it."""
    require_tool("espeak-ng", "espeak-ng")
    require_tool("sox", "sox")
    wav, raw = folder / "speech.wav", folder / "speech.s16"
    subprocess.run(["espeak-ng", "-w", str(wav), SPEECH], check=True)
    subprocess.run(
        ["sox", str(wav), "-t", "raw", "-e", "signed-integer", "-b", "16", "-r", "16000",
         "-c", "1", "-L", str(raw)],
        check=True,
    )  # fmt: skip
    pcm = raw.read_bytes()
    pcm = pcm[: len(pcm) - len(pcm) % 640]
    encoder = G722Codec()
    return b"".join(encoder.encode(pcm[i : i + 640]) for i in range(0, len(pcm), 640))


async def test_offer_of_9_0_8_is_answered_g722_and_the_agent_gets_16khz(
    edge_factory: EdgeFactory, tmp_path: Path
) -> None:
    heard: list[bytes] = []

    async def listen(call: MediaCallHandle) -> None:
        audio = call.audio
        audio.play_prompt(greeting_prompt())  # sent through the call's G.722 encoder
        async for frame in audio.frames():
            heard.append(frame)

    edge = await edge_factory(responder=listen)
    payload = g722_payload(tmp_path)
    pcap = tmp_path / "g722.pcap"
    packets = write_rtp_pcap(pcap, payload, payload_type=G722_PT, ptime_ms=20)
    result = await sipp(
        edge,
        SIPP_DATA / "uac_pcap_g722_20.xml",
        service="1000",
        keys={"pcap": str(pcap)},
        extra_args=["-d", str(packets * 20 + 500)],
        timeout_s=30,
    )
    assert_ok(result)  # the scenario fails unless the answer's m= line is "RTP/AVP 9 ..."
    assert await wait_for(lambda: len(edge.history) == 1, 2)
    record = edge.history[0]
    assert record.media is not None
    assert record.media.codec == "G722" and record.media.ptime_ms == 20
    assert record.rx_packets == packets and record.media.lost == 0
    expected_tx = record.media.duration_s * 1000 / 20
    assert abs(record.tx_packets - expected_tx) <= 3, (record.tx_packets, expected_tx)
    # what the responder got is what a G.722 decoder makes of the caller's packets, bit for
    # bit: 20 ms frames of 16 kHz audio that never went through an 8 kHz resampler
    assert {len(frame) for frame in heard} == {640}
    assert b"".join(heard) == G722Codec().decode(payload)
