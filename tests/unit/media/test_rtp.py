"""RtpPacket parse/serialise, RFC 5761 demux and RtpSequencer."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.errors import MediaError, RtpParseError
from frontdesk.media.rtp import RtpExtension, RtpPacket, RtpSequencer, is_rtcp

BASIC = bytes.fromhex("80 00 1234 00000a00 deadbeef") + b"\xff" * 160


def test_parse_basic_fields() -> None:
    packet = RtpPacket.parse(BASIC)
    assert packet.payload_type == 0
    assert packet.sequence == 0x1234
    assert packet.timestamp == 0xA00
    assert packet.ssrc == 0xDEADBEEF
    assert packet.payload == b"\xff" * 160
    assert not packet.marker
    assert packet.csrcs == ()
    assert packet.extension is None
    assert packet.padding == 0
    assert bytes(packet) == BASIC


def test_marker_and_payload_type() -> None:
    data = bytes.fromhex("80e5 0001 00000000 00000001") + b"\x01\x0a\x00\xa0"
    packet = RtpPacket.parse(data)
    assert packet.marker
    assert packet.payload_type == 101
    assert bytes(packet) == data


def test_csrcs_extension_and_padding_round_trip() -> None:
    packet = RtpPacket(
        payload_type=8,
        sequence=65535,
        timestamp=0xFFFFFFFF,
        ssrc=1,
        payload=b"abc",
        marker=True,
        csrcs=(2, 3, 4),
        extension=RtpExtension(0xBEDE, b"\x10\xaa\x00\x00"),
        padding=5,
    )
    data = bytes(packet)
    assert data[0] == 0x80 | 0x20 | 0x10 | 3
    assert data[-1] == 5
    assert len(data) == 12 + 12 + 4 + 4 + 3 + 5
    assert RtpPacket.parse(data) == packet


def test_padding_is_stripped_from_payload() -> None:
    data = bytes.fromhex("a0 00 0001 00000000 00000001") + b"pay" + b"\x00\x00\x03"
    packet = RtpPacket.parse(data)
    assert packet.payload == b"pay"
    assert packet.padding == 3
    assert bytes(packet) == data


def test_empty_payload() -> None:
    data = bytes.fromhex("80 0d 0001 00000000 00000001")
    assert RtpPacket.parse(data).payload == b""


def test_parse_accepts_bytearray_and_memoryview() -> None:
    assert RtpPacket.parse(bytearray(BASIC)) == RtpPacket.parse(BASIC)
    assert RtpPacket.parse(memoryview(BASIC)) == RtpPacket.parse(BASIC)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "short"),
        (BASIC[:11], "short"),
        (b"\x40" + BASIC[1:], "version"),  # version 1
        (b"\x00" + BASIC[1:], "version"),  # version 0
        (b"\xc0" + BASIC[1:], "version"),  # version 3
        (bytes.fromhex("83 00 0001 00000000 00000001") + b"\x00" * 8, "CSRC"),
        (bytes.fromhex("8f 00 0001 00000000 00000001"), "CSRC"),
        (bytes.fromhex("90 00 0001 00000000 00000001") + b"\xbe\xde", "extension"),
        (bytes.fromhex("90 00 0001 00000000 00000001 bede 0002") + b"\x00" * 4, "extension"),
        (bytes.fromhex("a0 00 0001 00000000 00000001") + b"pay\x00", "padding"),  # count 0
        (bytes.fromhex("a0 00 0001 00000000 00000001") + b"p\x09", "padding"),  # too long
        (bytes.fromhex("a0 00 0001 00000000 00000001"), "padding"),  # count in header
    ],
)
def test_invalid_packets_raise(data: bytes, reason: str) -> None:
    with pytest.raises(RtpParseError, match=f"(?i){reason}"):
        RtpPacket.parse(data)


def test_padding_may_fill_the_whole_payload() -> None:
    data = bytes.fromhex("a0 00 0001 00000000 00000001") + b"\x00\x00\x00\x04"
    packet = RtpPacket.parse(data)
    assert packet.payload == b""
    assert bytes(packet) == data


@pytest.mark.parametrize(
    "packet",
    [
        RtpPacket(128, 0, 0, 0),
        RtpPacket(0, 70000, 0, 0),
        RtpPacket(0, 0, 1 << 32, 0),
        RtpPacket(0, 0, 0, -1),
        RtpPacket(0, 0, 0, 0, csrcs=tuple(range(16))),
        RtpPacket(0, 0, 0, 0, padding=256),
        RtpPacket(0, 0, 0, 0, extension=RtpExtension(1, b"abc")),
    ],
)
def test_unwritable_fields_raise_media_error(packet: RtpPacket) -> None:
    with pytest.raises(MediaError):
        bytes(packet)


packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=st.integers(0, 0xFFFFFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    payload=st.binary(max_size=300),
    marker=st.booleans(),
    csrcs=st.lists(st.integers(0, 0xFFFFFFFF), max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension,
        st.integers(0, 0xFFFF),
        st.integers(0, 8).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n)),
    ),
    padding=st.integers(0, 255),
)


@given(packets)
def test_round_trip_any_packet(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=64))
def test_garbage_raises_only_rtp_parse_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert len(bytes(packet)) == len(data)


@pytest.mark.parametrize(
    ("second_byte", "expected"),
    [
        (0, False),  # PCMU
        (8, False),  # PCMA
        (0x80 | 8, False),  # PCMA with marker
        (101, False),  # telephone-event
        (0x80 | 101, False),
        (200, True),  # SR
        (201, True),  # RR
        (202, True),  # SDES
        (203, True),  # BYE
        (204, True),  # APP
        (192, True),  # low edge of the RFC 5761 range
        (223, True),  # high edge
        (224, False),
        (191, False),
        (0x80 | 63, False),
    ],
)
def test_is_rtcp(second_byte: int, expected: bool) -> None:
    assert is_rtcp(bytes([0x80, second_byte]) + bytes(10)) is expected


def test_is_rtcp_on_tiny_datagrams() -> None:
    assert not is_rtcp(b"")
    assert not is_rtcp(b"\x80")


def test_sequencer_wraps_sequence_and_timestamp() -> None:
    seq = RtpSequencer(0, ssrc=0x11223344, sequence=65534, timestamp=0xFFFFFF00)
    first = RtpPacket.parse(seq.next_packet(b"a" * 160, 160, marker=True))
    second = RtpPacket.parse(seq.next_packet(b"b" * 160, 160))
    third = RtpPacket.parse(seq.next_packet(b"c" * 160, 160))
    assert [p.sequence for p in (first, second, third)] == [65534, 65535, 0]
    assert [p.timestamp for p in (first, second, third)] == [0xFFFFFF00, 0xFFFFFFA0, 0x40]
    assert first.marker and not second.marker
    assert {p.ssrc for p in (first, second, third)} == {0x11223344}
    assert third.payload == b"c" * 160


def test_sequencer_event_timestamp_and_payload_type_override() -> None:
    seq = RtpSequencer(0, ssrc=1, sequence=10, timestamp=1000)
    a = RtpPacket.parse(seq.next_packet(b"e", 160, payload_type=101, timestamp=1000))
    b = RtpPacket.parse(seq.next_packet(b"e", 160, payload_type=101, timestamp=1000))
    c = RtpPacket.parse(seq.next_packet(b"x", 160))
    assert (a.payload_type, a.timestamp, a.sequence) == (101, 1000, 10)
    assert (b.payload_type, b.timestamp, b.sequence) == (101, 1000, 11)
    assert (c.payload_type, c.timestamp, c.sequence) == (0, 1320, 12)


def test_sequencer_skip_advances_only_time() -> None:
    seq = RtpSequencer(0, ssrc=1, sequence=5, timestamp=0)
    seq.skip(800)
    packet = RtpPacket.parse(seq.next_packet(b"", 160))
    assert (packet.sequence, packet.timestamp) == (5, 800)


def test_sequencer_random_start() -> None:
    starts = {struct.unpack("!HI", RtpSequencer(0).next_packet(b"", 160)[2:8]) for _ in range(8)}
    assert len(starts) > 1


def test_sequencer_rejects_bad_payload_type() -> None:
    with pytest.raises(MediaError):
        RtpSequencer(128)
