"""RFC 4733 telephone-events: payload, receiver (exactly once), sender payloads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.errors import MediaError, RtpParseError
from frontdesk.media.dtmf import (
    DIGITS,
    DtmfDigit,
    DtmfEvent,
    DtmfReceiver,
    dtmf_packets,
    event_code,
)
from frontdesk.media.rtp import RtpPacket

PT = 101


def event_packet(
    payload: bytes, timestamp: int, sequence: int = 0, ssrc: int = 7, marker: bool = False
) -> RtpPacket:
    return RtpPacket(PT, sequence & 0xFFFF, timestamp, ssrc, payload, marker=marker)


def key_press(
    digit: str, timestamp: int, duration_ms: int = 100, first_sequence: int = 0
) -> list[RtpPacket]:
    return [
        event_packet(payload, timestamp, first_sequence + i, marker=i == 0)
        for i, payload in enumerate(dtmf_packets(digit, duration_ms))
    ]


def feed(receiver: DtmfReceiver, packets: list[RtpPacket], start: float = 0.0) -> list[DtmfDigit]:
    out: list[DtmfDigit] = []
    for i, packet in enumerate(packets):
        out += receiver.receive(packet, start + 0.02 * i)
    return out


def test_event_round_trip_and_fields() -> None:
    data = bytes.fromhex("0b8a08c0")  # '#', end, volume 10, duration 2240
    event = DtmfEvent.parse(data)
    assert event == DtmfEvent(11, True, 10, 2240)
    assert event.digit == "#"
    assert bytes(event) == data


def test_reserved_bit_is_ignored() -> None:
    assert DtmfEvent.parse(bytes.fromhex("05ca0140")) == DtmfEvent(5, True, 10, 320)


def test_non_digit_events() -> None:
    assert DtmfEvent(16).digit is None  # flash
    assert DtmfEvent(15).digit == "D"


def test_short_payload_raises() -> None:
    with pytest.raises(RtpParseError):
        DtmfEvent.parse(b"\x01\x0a\x00")


@pytest.mark.parametrize(
    "event", [DtmfEvent(256), DtmfEvent(1, volume=64), DtmfEvent(1, duration=70000)]
)
def test_unwritable_event_raises(event: DtmfEvent) -> None:
    with pytest.raises(MediaError):
        bytes(event)


def test_digit_codes() -> None:
    assert [event_code(d) for d in DIGITS] == list(range(16))
    assert event_code("a") == 12
    for bad in ("", "E", "12", "x"):
        with pytest.raises(MediaError):
            event_code(bad)


def test_sender_payloads() -> None:
    payloads = [DtmfEvent.parse(p) for p in dtmf_packets("5", 100)]
    assert [p.duration for p in payloads] == [160, 320, 480, 640, 800, 800, 800]
    assert [p.end for p in payloads] == [False] * 4 + [True] * 3
    assert {p.event for p in payloads} == {5}
    assert {p.volume for p in payloads} == {10}


def test_sender_rounds_up_to_whole_packets_and_30ms() -> None:
    payloads = [DtmfEvent.parse(p) for p in dtmf_packets("#", 70, ptime_ms=30, volume=7)]
    assert [p.duration for p in payloads] == [240, 480, 720, 720, 720]
    assert [DtmfEvent.parse(p) for p in dtmf_packets("1", 1)] == [DtmfEvent(1, True, 10, 160)] * 3


def test_sender_rejects_what_does_not_fit() -> None:
    with pytest.raises(MediaError):
        list(dtmf_packets("1", 9000))  # longer than a 16-bit duration at 8 kHz
    with pytest.raises(MediaError):
        list(dtmf_packets("Z", 100))


def test_one_digit_despite_three_end_packets() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, key_press("7", 1000)) == [DtmfDigit("7", 100)]
    assert receiver.expire(10.0) == []


def test_retransmissions_after_the_end_are_ignored() -> None:
    receiver = DtmfReceiver()
    packets = key_press("3", 5000)
    assert feed(receiver, packets) == [DtmfDigit("3", 100)]
    assert feed(receiver, packets, start=0.5) == []  # the whole event again
    assert feed(receiver, packets[:2], start=0.9) == []


def test_lost_end_packets_are_finished_by_the_next_event() -> None:
    receiver = DtmfReceiver()
    first = key_press("1", 1000)[:-3]  # all three end packets lost
    second = key_press("2", 3000, first_sequence=10)
    out = feed(receiver, first)
    assert out == []
    assert feed(receiver, second, start=0.2) == [DtmfDigit("1", 80), DtmfDigit("2", 100)]


def test_lost_end_packets_are_finished_by_timeout() -> None:
    receiver = DtmfReceiver(timeout_s=0.3)
    packets = key_press("9", 1000, duration_ms=200)[:-3]
    assert feed(receiver, packets) == []
    last = 0.02 * (len(packets) - 1)
    assert receiver.expire(last + 0.29) == []
    assert receiver.expire(last + 0.301) == [DtmfDigit("9", 180)]
    assert receiver.expire(last + 5) == []
    # a late end packet of that event must not bring it back
    assert receiver.receive(key_press("9", 1000, duration_ms=200)[-1], last + 6) == []


def test_expire_runs_on_every_packet() -> None:
    receiver = DtmfReceiver(timeout_s=0.3)
    assert feed(receiver, key_press("4", 1000)[:-3]) == []
    flash = event_packet(bytes(DtmfEvent(16, False, 10, 160)), 9000)
    assert receiver.receive(flash, 5.0) == [DtmfDigit("4", 80)]


def test_only_end_packets_arrive() -> None:
    receiver = DtmfReceiver()
    ends = key_press("*", 2000)[-3:]
    assert feed(receiver, ends) == [DtmfDigit("*", 100)]


def test_same_digit_twice_is_two_events() -> None:
    receiver = DtmfReceiver()
    out = feed(receiver, key_press("5", 1000)) + feed(receiver, key_press("5", 4000), 1.0)
    assert out == [DtmfDigit("5", 100), DtmfDigit("5", 100)]


def test_stale_event_from_before_the_newest_is_dropped() -> None:
    receiver = DtmfReceiver()
    newer = key_press("6", 8000)
    older = key_press("8", 4000)
    assert receiver.receive(newer[0], 0.0) == []
    assert feed(receiver, older, 0.01) == []  # a late straggler from an earlier press
    assert feed(receiver, newer[1:], 0.1) == [DtmfDigit("6", 100)]


def test_timestamp_wrap_is_not_stale() -> None:
    receiver = DtmfReceiver()
    assert feed(receiver, key_press("1", 0xFFFFFF00)) == [DtmfDigit("1", 100)]
    assert feed(receiver, key_press("2", 0x00000100), 1.0) == [DtmfDigit("2", 100)]


def test_non_digit_events_are_ignored() -> None:
    receiver = DtmfReceiver()
    flash = [event_packet(bytes(DtmfEvent(16, end, 10, 800)), 100) for end in (False, True)]
    assert feed(receiver, flash) == []
    assert receiver.expire(100.0) == []


def test_malformed_payload_raises() -> None:
    with pytest.raises(RtpParseError):
        DtmfReceiver().receive(event_packet(b"\x01", 0), 0.0)


@settings(max_examples=200, deadline=None)
@given(
    digits=st.lists(st.sampled_from(DIGITS), min_size=1, max_size=6),
    data=st.data(),
)
def test_every_press_once_whatever_the_network_does(digits: list[str], data: st.DataObject) -> None:
    """Duplicate, drop (never all of one press) and reorder within a press: each digit once."""
    receiver = DtmfReceiver()
    out: list[DtmfDigit] = []
    now = 0.0
    for n, digit in enumerate(digits):
        packets = key_press(digit, 1000 + 4000 * n, first_sequence=20 * n)
        kept = [p for p in packets if data.draw(st.booleans(), label="keep")] or packets[-1:]
        copies = [p for p in kept for _ in range(data.draw(st.integers(1, 3), label="copies"))]
        shuffled = data.draw(st.permutations(copies), label="order")
        for packet in shuffled:
            out += receiver.receive(packet, now)
            now += 0.02
    out += receiver.expire(now + 1.0)
    assert [d.digit for d in out] == digits
