"""Minimal RTCP: compound parsing, SR/RR/BYE building, report blocks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.errors import MediaError, RtpParseError
from frontdesk.media.rtcp import (
    RTCP_BYE,
    RTCP_RR,
    RTCP_SDES,
    RTCP_SR,
    ReportBlock,
    RtcpPacket,
    build_bye,
    build_rr,
    build_sr,
    ntp_timestamp,
    parse_compound,
)
from frontdesk.media.rtp import is_rtcp

# An RR with one block, an SDES CNAME and a BYE, as a softphone sends when hanging up.
RR_SDES_BYE = bytes.fromhex(
    "81c90007 11111111"  # RR, RC=1, length 7, sender SSRC
    "22222222 05 fffffe 0001ffff 00000010 12345678 00010000"  # report block
    "81ca0003 11111111 0104 6162 6364 0000"  # SDES chunk: CNAME "abcd", end, pad
    "81cb0001 11111111"  # BYE
)


def test_parse_compound_rr_sdes_bye() -> None:
    assert is_rtcp(RR_SDES_BYE)
    rr, sdes, bye = parse_compound(RR_SDES_BYE)
    assert (rr.packet_type, rr.count, rr.ssrc) == (RTCP_RR, 1, 0x11111111)
    assert (sdes.packet_type, sdes.count, sdes.ssrc) == (RTCP_SDES, 1, 0x11111111)
    assert bye.is_bye and not rr.is_bye
    assert bye.ssrc == 0x11111111
    (block,) = rr.report_blocks()
    assert block == ReportBlock(
        ssrc=0x22222222,
        fraction_lost=5,
        cumulative_lost=-2,
        highest_sequence=0x1FFFF,
        jitter=16,
        last_sr=0x12345678,
        delay_since_last_sr=0x10000,
    )
    assert b"".join(bytes(p) for p in (rr, sdes, bye)) == RR_SDES_BYE


def test_build_rr_round_trip() -> None:
    block = ReportBlock(7, 25, 300, 70000, 40, 0xAABBCCDD, 655)
    rr = build_rr(0xCAFEBABE, [block])
    data = bytes(rr)
    assert len(data) == 8 + 24
    assert data[:2] == b"\x81\xc9"
    (parsed,) = parse_compound(data)
    assert parsed == rr
    assert parsed.report_blocks() == (block,)
    assert RtcpPacket.parse(data) == rr


def test_build_empty_rr() -> None:
    assert bytes(build_rr(1)) == bytes.fromhex("80c90001 00000001")


def test_build_sr_round_trip() -> None:
    ntp = ntp_timestamp(1_700_000_000.5)
    sr = build_sr(0x01020304, ntp_time=ntp, rtp_timestamp=160, packet_count=10, octet_count=1600)
    data = bytes(sr)
    assert len(data) == 28
    assert data[:4] == bytes.fromhex("80c80006")
    (parsed,) = parse_compound(data)
    assert parsed.packet_type == RTCP_SR
    assert parsed.ssrc == 0x01020304
    assert int.from_bytes(parsed.body[4:12], "big") == ntp
    assert parsed.report_blocks() == ()


def test_ntp_timestamp() -> None:
    assert ntp_timestamp(0.0) == 2_208_988_800 << 32
    assert ntp_timestamp(0.5) & 0xFFFFFFFF == 1 << 31


def test_bye_and_padding_round_trip() -> None:
    bye = build_bye(42)
    assert bytes(bye) == bytes.fromhex("81cb0001 0000002a")
    padded = RtcpPacket(RTCP_BYE, 1, (42).to_bytes(4, "big"), padding=4)
    data = bytes(padded)
    assert data[0] & 0x20
    assert parse_compound(data) == [padded]


def test_cumulative_lost_is_clamped_to_24_bits() -> None:
    block = ReportBlock(1, 0, 10**9, 0, 0)
    assert ReportBlock.parse(bytes(block)).cumulative_lost == 0x7FFFFF
    block = ReportBlock(1, 0, -(10**9), 0, 0)
    assert ReportBlock.parse(bytes(block)).cumulative_lost == -0x800000


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x81\xc9\x00",
        bytes.fromhex("41c90001 00000001"),  # version 1
        bytes.fromhex("81c90002 00000001"),  # length runs past the datagram
        bytes.fromhex("81c90001 00000001 81"),  # trailing bytes inside a header
        bytes.fromhex("a1cb0001 00000001 81cb0001 00000001"),  # padding not on the last
        bytes.fromhex("a1cb0001 00000000"),  # padding count 0
        bytes.fromhex("a1cb0001 00000009"),  # padding longer than the packet
    ],
)
def test_invalid_compound_raises(data: bytes) -> None:
    with pytest.raises(RtpParseError):
        parse_compound(data)


def test_report_count_past_the_packet_raises() -> None:
    (rr,) = parse_compound(bytes.fromhex("82c90001 00000001"))
    with pytest.raises(RtpParseError):
        rr.report_blocks()


def test_single_packet_parse_refuses_compound() -> None:
    with pytest.raises(RtpParseError):
        RtcpPacket.parse(bytes(build_rr(1)) + bytes(build_bye(1)))


def test_unwritable_packets_raise() -> None:
    with pytest.raises(MediaError):
        bytes(RtcpPacket(RTCP_RR, 0, b"abc"))  # not a whole number of words
    with pytest.raises(MediaError):
        build_rr(1, [ReportBlock(1, 0, 0, 0, 0)] * 32)
    with pytest.raises(MediaError):
        bytes(ReportBlock(1, 256, 0, 0, 0))


@given(st.binary(max_size=80))
def test_garbage_raises_only_rtp_parse_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtpParseError:
        return
    assert sum(len(bytes(p)) for p in packets) == len(data)
