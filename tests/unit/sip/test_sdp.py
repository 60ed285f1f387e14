"""SDP parse/print (RFC 4566) and our answer to an offer (RFC 3264)."""

from __future__ import annotations

import pytest

from frontdesk.errors import SdpError
from frontdesk.sip.sdp import (
    Connection,
    LocalMedia,
    MediaDescription,
    Origin,
    SdpAnswer,
    SessionDescription,
    negotiate,
)

LOCAL = LocalMedia("10.0.0.5", 10002, session_id=4242, session_version=1)


def sdp(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode()


def answer(data: bytes, local: LocalMedia = LOCAL) -> SdpAnswer:
    return negotiate(SessionDescription.parse(data), local)


# Offers as sipp's built-in scenarios send them (uac, with -rtp_echo / pcap play variants).
SIPP_PCMU = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
)
SIPP_PCMA = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 8",
    "a=rtpmap:8 PCMA/8000",
)
SIPP_ALL = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0 8 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-11,16",
)
SIPP_PTIME30 = sdp(
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 8 0",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=ptime:30",
)
YEASTAR = sdp(
    "v=0",
    "o=- 3857071232 3857071232 IN IP4 192.168.1.10",
    "s=Yeastar",
    "c=IN IP4 192.168.1.10",
    "t=0 0",
    "m=audio 10000 RTP/AVP 0 8 18 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:18 G729/8000",
    "a=fmtp:18 annexb=no",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-16",
    "a=ptime:20",
    "a=sendrecv",
)


def with_direction(data: bytes, direction: str) -> bytes:
    return data.replace(b"a=sendrecv", b"a=" + direction.encode())


# --- parse and print ------------------------------------------------------------------


@pytest.mark.parametrize("data", [SIPP_PCMU, SIPP_PCMA, SIPP_ALL, SIPP_PTIME30, YEASTAR])
def test_round_trip(data: bytes) -> None:
    assert bytes(SessionDescription.parse(data)) == data


def test_parse_fields() -> None:
    description = SessionDescription.parse(YEASTAR)
    assert description.origin == Origin(
        "-", "3857071232", "3857071232", "IN", "IP4", "192.168.1.10"
    )
    assert description.name == "Yeastar"
    assert description.connection == Connection("IN", "IP4", "192.168.1.10")
    assert description.timing == (("t", "0 0"),)
    (audio,) = description.media
    assert (audio.media, audio.port, audio.proto) == ("audio", 10000, "RTP/AVP")
    assert audio.formats == ("0", "8", "18", "101")
    assert audio.rtpmap()["101"] == ("telephone-event", 8000, None)
    assert audio.attribute("ptime") == "20"
    assert audio.attribute("fmtp") == "18 annexb=no"
    assert audio.attribute_values("fmtp") == ["18 annexb=no", "101 0-16"]
    assert audio.direction == "sendrecv"
    assert audio.attribute("nothing") is None


def test_full_session_level_round_trip() -> None:
    data = sdp(
        "v=0",
        "o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5",
        "s=SDP Seminar",
        "i=A Seminar on the session description protocol",
        "u=http://www.example.com/seminars/sdp.pdf",
        "e=j.doe@example.com (Jane Doe)",
        "p=+1 617 555-6011",
        "c=IN IP4 224.2.17.12/127",
        "b=AS:128",
        "t=2873397496 2873404696",
        "r=7d 1h 0 25h",
        "z=2882844526 -1h 2898848070 0",
        "k=prompt",
        "a=recvonly",
        "m=audio 49170/2 RTP/AVP 0",
        "i=voice",
        "c=IN IP4 224.2.17.12/127",
        "b=AS:64",
        "k=prompt",
        "a=rtpmap:0 PCMU/8000/1",
        "m=video 51372 RTP/AVP 99",
        "a=rtpmap:99 h263-1998/90000",
    )
    description = SessionDescription.parse(data)
    assert bytes(description) == data
    assert description.connection is not None
    assert description.connection.host == "224.2.17.12"
    assert description.media[0].port_count == 2
    assert description.media[0].rtpmap() == {"0": ("PCMU", 8000, 1)}
    assert description.direction == "recvonly"


def test_lf_only_and_blank_lines_are_tolerated() -> None:
    data = YEASTAR.replace(b"\r\n", b"\n") + b"\n\n"
    assert SessionDescription.parse(data) == SessionDescription.parse(YEASTAR)


def test_unknown_line_types_are_ignored() -> None:
    data = YEASTAR.replace(b"t=0 0\r\n", b"t=0 0\r\ny=0123456789\r\n")
    assert SessionDescription.parse(data) == SessionDescription.parse(YEASTAR)


def test_latin1_session_name() -> None:
    data = YEASTAR.replace(b"s=Yeastar", "s=Città".encode("latin-1"))
    assert SessionDescription.parse(data).name == "Città"


def test_values_built_in_code_print() -> None:
    description = SessionDescription(
        origin=Origin("me", "1", "2", "IN", "IP6", "2001:db8::1"),
        connection=Connection("IN", "IP6", "2001:db8::1"),
        media=(
            MediaDescription("audio", 4000, "RTP/AVP", ("0",), attributes=(("sendonly", None),)),
        ),
    )
    assert bytes(description) == sdp(
        "v=0",
        "o=me 1 2 IN IP6 2001:db8::1",
        "s=-",
        "c=IN IP6 2001:db8::1",
        "t=0 0",
        "m=audio 4000 RTP/AVP 0",
        "a=sendonly",
    )


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\n\r\n",
        b"v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
        b"o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n",
        sdp("v=0", "s=-"),  # no o=
        sdp("v=0", "o=- 1 1 IN IP4"),  # short o=
        sdp("v=0", "o=- x 1 IN IP4 1.2.3.4"),  # non-numeric session id
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "o=- 1 1 IN IP4 1.2.3.4"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "c=IN IP4"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "c=IN IP4 1.2.3.4", "c=IN IP4 1.2.3.4"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "c=ATM NSAP 47.0091"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "m=audio"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "m=audio x RTP/AVP 0"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "m=audio 70000 RTP/AVP 0"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "m=audio 7000/x RTP/AVP 0"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "m=audio 7000 RTP/AVP 0", "o=- 1 1 IN IP4 1.2.3.4"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "this is not sdp"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "a="),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "v=0"),
        sdp("v=0", "o=- 1 1 IN IP4 1.2.3.4", "ab=cd"),
    ],
)
def test_malformed_is_400(data: bytes) -> None:
    with pytest.raises(SdpError) as info:
        SessionDescription.parse(data)
    assert info.value.status == 400


def test_malformed_rtpmap_lines_are_ignored() -> None:
    media = MediaDescription(
        "audio",
        1,
        "RTP/AVP",
        ("0",),
        attributes=(("rtpmap", "0"), ("rtpmap", "0 PCMU/x"), ("rtpmap", "0 PCMU/8000/y")),
    )
    assert media.rtpmap() == {}


# --- offer / answer -------------------------------------------------------------------


def test_sipp_pcmu() -> None:
    result = answer(SIPP_PCMU)
    assert (result.codec, result.payload_type) == ("PCMU", 0)
    assert result.telephone_event_pt is None
    assert (result.remote_address, result.remote_port) == ("127.0.0.1", 6000)
    assert result.ptime_ms == 20
    assert (result.direction, result.on_hold) == ("sendrecv", False)
    assert result.sdp == sdp(
        "v=0",
        "o=frontdesk 4242 1 IN IP4 10.0.0.5",
        "s=frontdesk",
        "c=IN IP4 10.0.0.5",
        "t=0 0",
        "m=audio 10002 RTP/AVP 0",
        "a=rtpmap:0 PCMU/8000",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_sipp_pcma() -> None:
    result = answer(SIPP_PCMA)
    assert (result.codec, result.payload_type) == ("PCMA", 8)


def test_sipp_pcmu_pcma_telephone_event() -> None:
    result = answer(SIPP_ALL)
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, 101)
    assert result.sdp == sdp(
        "v=0",
        "o=frontdesk 4242 1 IN IP4 10.0.0.5",
        "s=frontdesk",
        "c=IN IP4 10.0.0.5",
        "t=0 0",
        "m=audio 10002 RTP/AVP 0 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
        "a=sendrecv",
    )


def test_our_preference_wins_over_the_offer_order() -> None:
    result = answer(SIPP_PTIME30)
    assert result.codec == "PCMU"
    pcma_first = LocalMedia("10.0.0.5", 10002, codecs=("PCMA", "PCMU"))
    assert answer(SIPP_PTIME30, pcma_first).codec == "PCMA"


def test_ptime_30_is_honoured() -> None:
    assert answer(SIPP_PTIME30).ptime_ms == 30
    assert b"a=ptime:30\r\n" in answer(SIPP_PTIME30).sdp


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ((), 20),
        (("a=ptime:10",), 20),
        (("a=ptime:40",), 20),
        (("a=ptime:30",), 30),
        (("a=ptime:30.0",), 30),
        (("a=ptime:junk",), 20),
        (("a=ptime:nan",), 20),
        (("a=ptime:30", "a=maxptime:20"), 20),
        (("a=ptime:30", "a=maxptime:60"), 30),
        (("a=ptime:20", "a=maxptime:20"), 20),
    ],
)
def test_ptime(attributes: tuple[str, ...], expected: int) -> None:
    data = SIPP_PCMU + sdp(*attributes) if attributes else SIPP_PCMU
    assert answer(data).ptime_ms == expected


def test_session_level_ptime_counts() -> None:
    data = SIPP_PCMU.replace(b"t=0 0\r\n", b"t=0 0\r\na=ptime:30\r\n")
    assert answer(data).ptime_ms == 30


def test_yeastar_offer() -> None:
    result = answer(YEASTAR)
    assert (result.codec, result.payload_type, result.telephone_event_pt) == ("PCMU", 0, 101)
    assert (result.remote_address, result.remote_port) == ("192.168.1.10", 10000)
    assert result.direction == "sendrecv"
    assert result.answer_direction == "sendrecv"
    assert not result.on_hold
    assert b"G729" not in result.sdp


def test_telephone_event_can_be_turned_off() -> None:
    local = LocalMedia("10.0.0.5", 10002, telephone_event=False)
    result = answer(YEASTAR, local)
    assert result.telephone_event_pt is None
    assert b"telephone-event" not in result.sdp


def test_telephone_event_at_another_rate_is_not_used() -> None:
    data = YEASTAR.replace(b"101 telephone-event/8000", b"101 telephone-event/48000")
    assert answer(data).telephone_event_pt is None


def test_static_payload_types_need_no_rtpmap() -> None:
    data = SIPP_PCMA.replace(b"a=rtpmap:8 PCMA/8000\r\n", b"")
    result = answer(data)
    assert (result.codec, result.payload_type) == ("PCMA", 8)
    assert b"a=rtpmap:8 PCMA/8000\r\n" in result.sdp


def test_dynamic_payload_type_names_match_case_insensitively() -> None:
    data = SIPP_PCMU.replace(b"RTP/AVP 0", b"RTP/AVP 96").replace(b"0 PCMU", b"96 pcmu")
    result = answer(data)
    assert (result.codec, result.payload_type) == ("PCMU", 96)
    assert b"m=audio 10002 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n" in result.sdp


def test_rtpmap_overrides_a_static_number() -> None:
    data = SIPP_PCMU.replace(b"0 PCMU/8000", b"0 GSM/8000")
    with pytest.raises(SdpError) as info:
        answer(data)
    assert info.value.status == 488


def test_pcmu_at_another_rate_does_not_match() -> None:
    data = SIPP_PCMU.replace(b"RTP/AVP 0", b"RTP/AVP 96").replace(b"0 PCMU/8000", b"96 PCMU/16000")
    with pytest.raises(SdpError) as info:
        answer(data)
    assert info.value.status == 488


@pytest.mark.parametrize(
    ("direction", "answered", "on_hold"),
    [
        ("sendrecv", "sendrecv", False),
        ("sendonly", "recvonly", True),
        ("recvonly", "sendonly", False),
        ("inactive", "inactive", True),
    ],
)
def test_directions_and_hold(direction: str, answered: str, on_hold: bool) -> None:
    result = answer(with_direction(YEASTAR, direction))
    assert result.direction == direction
    assert result.answer_direction == answered
    assert result.on_hold is on_hold
    assert result.sdp.endswith(f"a={answered}\r\n".encode())


def test_session_level_direction_counts() -> None:
    data = SIPP_PCMU.replace(b"t=0 0\r\n", b"t=0 0\r\na=sendonly\r\n")
    result = answer(data)
    assert (result.direction, result.answer_direction, result.on_hold) == (
        "sendonly",
        "recvonly",
        True,
    )


def test_media_level_direction_beats_session_level() -> None:
    data = with_direction(YEASTAR, "sendonly").replace(b"t=0 0\r\n", b"t=0 0\r\na=inactive\r\n")
    assert answer(data).direction == "sendonly"


def test_rfc2543_hold_with_zero_address() -> None:
    data = YEASTAR.replace(b"c=IN IP4 192.168.1.10", b"c=IN IP4 0.0.0.0")
    result = answer(data)
    assert result.on_hold
    assert result.direction == "sendrecv"
    assert result.remote_address == "0.0.0.0"


def test_media_level_connection_beats_session_level() -> None:
    data = YEASTAR.replace(b"a=sendrecv\r\n", b"c=IN IP4 192.168.1.20\r\na=sendrecv\r\n")
    assert answer(data).remote_address == "192.168.1.20"


def test_connection_only_at_media_level() -> None:
    data = YEASTAR.replace(b"c=IN IP4 192.168.1.10\r\n", b"").replace(
        b"a=sendrecv\r\n", b"c=IN IP4 192.168.1.20\r\na=sendrecv\r\n"
    )
    assert answer(data).remote_address == "192.168.1.20"


def test_no_connection_at_all_is_400() -> None:
    data = YEASTAR.replace(b"c=IN IP4 192.168.1.10\r\n", b"")
    with pytest.raises(SdpError) as info:
        answer(data)
    assert info.value.status == 400


def test_ipv6_offer_and_answer() -> None:
    data = YEASTAR.replace(b"IN IP4 192.168.1.10", b"IN IP6 2001:db8::10")
    local = LocalMedia("2001:db8::5", 10002, session_id=1, session_version=2)
    result = answer(data, local)
    assert result.remote_address == "2001:db8::10"
    assert b"o=frontdesk 1 2 IN IP6 2001:db8::5\r\n" in result.sdp
    assert b"c=IN IP6 2001:db8::5\r\n" in result.sdp


def test_no_common_codec_is_488() -> None:
    data = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.168.1.10",
        "s=-",
        "c=IN IP4 192.168.1.10",
        "t=0 0",
        "m=audio 10000 RTP/AVP 3 18",
        "a=rtpmap:3 GSM/8000",
        "a=rtpmap:18 G729/8000",
    )
    with pytest.raises(SdpError) as info:
        answer(data)
    assert info.value.status == 488


def g722_offer(formats: str, *rtpmaps: str) -> bytes:
    return sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.168.1.10",
        "s=-",
        "c=IN IP4 192.168.1.10",
        "t=0 0",
        f"m=audio 10000 RTP/AVP {formats}",
        *rtpmaps,
        "a=ptime:20",
    )


@pytest.mark.parametrize(
    "data",
    [
        g722_offer("9 0 8", "a=rtpmap:9 G722/8000", "a=rtpmap:0 PCMU/8000"),
        g722_offer("0 8 9"),  # static types only, G.722 last: our preference wins
        g722_offer("8 9 101", "a=rtpmap:101 telephone-event/8000"),
    ],
)
def test_g722_is_preferred_when_offered(data: bytes) -> None:
    result = answer(data)
    assert (result.codec, result.payload_type) == ("G722", 9)
    assert b"m=audio 10002 RTP/AVP 9" in result.sdp
    assert b"a=rtpmap:9 G722/8000\r\n" in result.sdp  # 8000 in SDP: RFC 3551 4.5.2


def test_g722_at_16000_in_sdp_is_not_g722() -> None:
    # RFC 3551 makes it 8000; an offer saying 16000 names something else: fall back to G.711
    result = answer(g722_offer("96 0", "a=rtpmap:96 G722/16000"))
    assert result.codec == "PCMU"


def test_no_audio_is_488() -> None:
    data = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.168.1.10",
        "s=-",
        "c=IN IP4 192.168.1.10",
        "t=0 0",
        "m=video 10000 RTP/AVP 31",
    )
    with pytest.raises(SdpError) as info:
        answer(data)
    assert info.value.status == 488
    no_media = sdp("v=0", "o=- 1 1 IN IP4 192.168.1.10", "s=-", "c=IN IP4 1.2.3.4", "t=0 0")
    with pytest.raises(SdpError) as info:
        answer(no_media)
    assert info.value.status == 488


def test_audio_port_zero_is_488() -> None:
    with pytest.raises(SdpError) as info:
        answer(YEASTAR.replace(b"m=audio 10000", b"m=audio 0"))
    assert info.value.status == 488


def test_secure_audio_only_is_488() -> None:
    with pytest.raises(SdpError) as info:
        answer(YEASTAR.replace(b"RTP/AVP", b"RTP/SAVP"))
    assert info.value.status == 488


def test_other_streams_are_rejected_with_port_zero_in_order() -> None:
    data = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.168.1.10",
        "s=-",
        "c=IN IP4 192.168.1.10",
        "t=0 0",
        "m=video 5000 RTP/AVP 31 34",
        "m=audio 0 RTP/AVP 0",
        "m=audio 10000 RTP/SAVP 0",
        "m=audio 10002 RTP/AVP 8 0",
        "m=image 6000 udptl t38",
        "m=audio 10004 RTP/AVP 0",
    )
    result = answer(data)
    assert (result.remote_port, result.codec) == (10002, "PCMU")
    media = SessionDescription.parse(result.sdp).media
    assert [(m.media, m.port, m.proto, m.formats) for m in media] == [
        ("video", 0, "RTP/AVP", ("31", "34")),
        ("audio", 0, "RTP/AVP", ("0",)),
        ("audio", 0, "RTP/SAVP", ("0",)),
        ("audio", 10002, "RTP/AVP", ("0",)),
        ("image", 0, "udptl", ("t38",)),
        ("audio", 0, "RTP/AVP", ("0",)),
    ]


def test_answer_parses_back() -> None:
    result = answer(YEASTAR)
    assert result.description is not None
    assert SessionDescription.parse(result.sdp) == result.description


def test_local_media_defaults() -> None:
    local = LocalMedia("10.0.0.5", 10002)
    assert local.codecs == ("G722", "PCMU", "PCMA")
    assert local.telephone_event
    assert b"o=frontdesk 0 0 IN IP4 10.0.0.5" in answer(YEASTAR, local).sdp


def test_an_answer_negotiated_once_is_printed_for_the_bound_port() -> None:
    """The edge negotiates before it binds a port; `on_port` only sets the port: the same
    answer as negotiating again with that port, the rejected stream still at port 0."""
    data = sdp(
        "v=0",
        "o=- 1 1 IN IP4 192.168.1.10",
        "s=-",
        "c=IN IP4 192.168.1.10",
        "t=0 0",
        "m=video 5000 RTP/AVP 31",
        "m=audio 4000 RTP/AVP 9 0 101",
        "a=rtpmap:101 telephone-event/8000",
    )
    probe = answer(data, LocalMedia("10.0.0.5", 0, session_id=7, session_version=1))
    bound = probe.on_port(12346)
    again = answer(data, LocalMedia("10.0.0.5", 12346, session_id=7, session_version=1))
    assert bound == again
    assert b"m=audio 12346 RTP/AVP 9 101" in bound.sdp and b"m=video 0 " in bound.sdp
