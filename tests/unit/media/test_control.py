"""The edge <-> media worker messages: what goes in comes out, bit for bit."""

from __future__ import annotations

from frontdesk.media.control import CallState, ClockReport, Kind, OpenCall
from frontdesk.media.wire import FrameReader, encode


def test_open_call_round_trips_through_json() -> None:
    spec = OpenCall("G722", 9, 101, 20, "192.168.1.50", 40000)
    assert OpenCall.from_json(spec.to_json()) == spec
    plain = OpenCall("PCMA", 8, None, 30, "10.0.0.1", 4000)
    assert OpenCall.from_json(plain.to_json()) == plain


def test_call_states_pack_many_into_one_payload() -> None:
    states = [
        CallState(1, 500, 498, 2, 7, 3, 1, latching=True, learning=False, silent_s=0.25),
        CallState(70_000, 0, 0, 0, 0, 0, 0, latching=True, learning=True, silent_s=12.5),
        CallState(3),
    ]
    payload = b"".join(s.pack() for s in states)
    assert CallState.unpack_many(payload) == states
    assert CallState.unpack_many(payload + b"\x00\x01") == states  # a torn tail is ignored


def test_clock_report_round_trips() -> None:
    report = ClockReport(0.0625, (0.5, -0.25, 30.0), (1.5, 2.0, 0.125))
    assert ClockReport.unpack(report.pack()) == report
    empty = ClockReport(0.0, (), ())
    assert ClockReport.unpack(empty.pack()) == empty


def test_frames_of_both_sides_share_one_reader() -> None:
    reader = FrameReader(Kind)
    data = encode(Kind.FRAMES, 5, b"\x01\x02" * 320) + encode(Kind.CLOSE, 6)
    messages = reader.feed(data[:11]) + reader.feed(data[11:])
    assert [(m.kind, m.slot, len(m.payload)) for m in messages] == [
        (Kind.FRAMES, 5, 640),
        (Kind.CLOSE, 6, 0),
    ]
