"""Replay real RTP captured by sipp's authors (Debian sip-tester) through the media code.

g711a.pcap is a PCMA call with 30 ms packets; dtmf_2833_<digit>.pcap each carry one
RFC 4733 key press (payload type 101) with three end packets.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from tests.support.pcap import read_udp

from frontdesk.media import g711
from frontdesk.media.dtmf import DtmfDigit, DtmfEvent, DtmfReceiver
from frontdesk.media.jitter import JitterBuffer, Missing
from frontdesk.media.rtp import RtpPacket, is_rtcp

DTMF_CAPTURES = {
    **{f"dtmf_2833_{d}.pcap": d for d in "0123456789"},
    "dtmf_2833_star.pcap": "*",
    "dtmf_2833_pound.pcap": "#",
}


def rtp_payloads(path: Path) -> list[bytes]:
    datagrams = [d.payload for d in read_udp(path)]
    assert datagrams, f"no UDP in {path}"
    return [d for d in datagrams if not is_rtcp(d)]


def all_captures(directory: Path) -> list[Path]:
    return [directory / "g711a.pcap", *(directory / name for name in DTMF_CAPTURES)]


def test_every_captured_packet_round_trips(sipp_pcaps: Path) -> None:
    count = 0
    for path in all_captures(sipp_pcaps):
        for data in rtp_payloads(path):
            assert bytes(RtpPacket.parse(data)) == data, path.name
            count += 1
    assert count == 236 + 12 * 10


def test_g711a_capture_fields(sipp_pcaps: Path) -> None:
    packets = [RtpPacket.parse(d) for d in rtp_payloads(sipp_pcaps / "g711a.pcap")]
    assert len(packets) == 236
    assert {p.payload_type for p in packets} == {g711.PCMA_PT}
    assert {len(p.payload) for p in packets} == {240}  # 30 ms at 8 kHz
    assert len({p.ssrc for p in packets}) == 1
    assert packets[0].marker
    for a, b in itertools.pairwise(packets):
        assert b.sequence == (a.sequence + 1) & 0xFFFF
        assert b.timestamp - a.timestamp == 240


def test_g711a_payloads_decode_and_reencode_losslessly(sipp_pcaps: Path) -> None:
    total = 0
    loud = 0
    for data in rtp_payloads(sipp_pcaps / "g711a.pcap"):
        payload = RtpPacket.parse(data).payload
        pcm = g711.decode("PCMA", payload)
        assert len(pcm) == 2 * len(payload)
        assert g711.encode("PCMA", pcm) == payload
        total += len(payload)
        loud += sum(1 for b in payload if b not in (0xD5, 0x55))
    assert total == 236 * 240
    assert loud > total // 10  # the capture carries sound, not only silence


def test_g711a_capture_through_the_jitter_buffer(sipp_pcaps: Path) -> None:
    jitter = JitterBuffer(ptime_ms=30, depth_ms=60)
    datagrams = [d for d in read_udp(sipp_pcaps / "g711a.pcap") if not is_rtcp(d.payload)]
    start = datagrams[0].time
    played = []
    for datagram in datagrams:
        now = datagram.time - start
        jitter.push(RtpPacket.parse(datagram.payload), now)
        while (item := jitter.pop(now)) is not None:
            played.append(item)
    end = datagrams[-1].time - start + 1.0
    while (item := jitter.pop(end)) is not None:
        played.append(item)
    assert not any(isinstance(item, Missing) for item in played)
    sequences = [item.sequence for item in played if isinstance(item, RtpPacket)]
    first = RtpPacket.parse(datagrams[0].payload).sequence
    assert sequences == [(first + k) & 0xFFFF for k in range(236)]
    assert jitter.stats.late == jitter.stats.duplicates == jitter.stats.lost == 0


@pytest.mark.parametrize(("name", "digit"), sorted(DTMF_CAPTURES.items()))
def test_dtmf_captures_decode_to_their_digit(sipp_pcaps: Path, name: str, digit: str) -> None:
    datagrams = read_udp(sipp_pcaps / name)
    packets = [RtpPacket.parse(d.payload) for d in datagrams]
    assert {p.payload_type for p in packets} == {101}
    assert packets[0].marker
    events = [DtmfEvent.parse(p.payload) for p in packets]
    for packet, event in zip(packets, events, strict=True):
        assert bytes(event) == packet.payload
        assert event.digit == digit
    assert [e.end for e in events] == [False] * 7 + [True] * 3
    receiver = DtmfReceiver()
    start = datagrams[0].time
    digits: list[DtmfDigit] = []
    for datagram, packet in zip(datagrams, packets, strict=True):
        digits += receiver.receive(packet, datagram.time - start)
    digits += receiver.expire(datagrams[-1].time - start + 10)
    # sipp's captures count duration in 16 kHz units (320 per 20 ms); read at the
    # 8 kHz clock of the negotiated audio the 140 ms press reports 2240 / 8 = 280 ms
    assert digits == [DtmfDigit(digit, 280)]
