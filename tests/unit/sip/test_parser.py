"""parse_message and StreamParser: datagram and stream semantics, errors and their partials.

Every reader is exercised three ways (h11's habit): the whole input, one byte at a time
through `StreamParser`, and with trailing data (another message, or junk) left over.
"""

from __future__ import annotations

import pytest

from frontdesk.errors import SipParseError
from frontdesk.sip.message import Headers, Request, Response
from frontdesk.sip.parser import MAX_MESSAGE_SIZE, StreamParser, is_keepalive, parse_message

SDP = (
    b"v=0\r\n"
    b"o=- 3857071232 3857071232 IN IP4 192.168.1.10\r\n"
    b"s=Yeastar\r\n"
    b"c=IN IP4 192.168.1.10\r\n"
    b"t=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 18 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:18 G729/8000\r\n"
    b"a=fmtp:18 annexb=no\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

INVITE = (
    b"INVITE sip:+390551234567@10.0.0.5:15060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-524287-1---d8754z-;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"Contact: <sip:1001@192.168.1.10:5060>\r\n"
    b"To: <sip:+390551234567@10.0.0.5:15060>\r\n"
    b'From: "Mario Rossi" <sip:3331234567@192.168.1.10:5060>;tag=4f1e2a7b\r\n'
    b"Call-ID: a84b4c76e66710a84b4c76e66710@192.168.1.10\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, UPDATE\r\n"
    b"Content-Type: application/sdp\r\n"
    b"User-Agent: Yeastar P550\r\n"
    b"Content-Length: " + str(len(SDP)).encode() + b"\r\n"
    b"\r\n" + SDP
)

OPTIONS = (
    b"OPTIONS sip:10.0.0.5:15060 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-opt1;rport\r\n"
    b"From: <sip:pbx@192.168.1.10>;tag=o1\r\n"
    b"To: <sip:10.0.0.5:15060>\r\n"
    b"Call-ID: opt-1@192.168.1.10\r\n"
    b"CSeq: 7 OPTIONS\r\n"
    b"Max-Forwards: 70\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.5:15060;branch=z9hG4bK-bye1\r\n"
    b"From: <sip:a@10.0.0.5>;tag=1\r\n"
    b"To: <sip:b@192.168.1.10>;tag=2\r\n"
    b"Call-ID: c1@10.0.0.5\r\n"
    b"CSeq: 2 INVITE\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

MESSAGES = {"invite": INVITE, "options": OPTIONS, "ringing": RINGING}


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


def _fail(data: bytes) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    return info.value


def _feed_bytewise(data: bytes) -> list[Request | Response]:
    parser = StreamParser()
    out: list[Request | Response] = []
    for index in range(len(data)):
        out.extend(parser.feed(data[index : index + 1]))
    assert parser.buffered == 0
    return out


# --- the three ways -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_whole_datagram(name: str) -> None:
    data = MESSAGES[name]
    message = parse_message(data)
    assert bytes(message) == data


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_stream_one_byte_at_a_time(name: str) -> None:
    data = MESSAGES[name]
    assert _feed_bytewise(data) == [parse_message(data)]


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_stream_whole_chunk_and_trailing_partial_message(name: str) -> None:
    data = MESSAGES[name]
    parser = StreamParser()
    other = OPTIONS
    messages = parser.feed(data + other[:40])
    assert messages == [parse_message(data)]
    assert parser.buffered == 40
    assert parser.feed(other[40:]) == [parse_message(other)]
    assert parser.buffered == 0


@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_datagram_with_trailing_data_is_truncated_to_content_length(name: str) -> None:
    data = MESSAGES[name]
    expected = parse_message(data)
    assert parse_message(data + OPTIONS) == expected
    assert parse_message(data + b"\x00\xff junk") == expected


def test_stream_several_messages_in_one_chunk_with_keepalives_between() -> None:
    parser = StreamParser()
    chunk = b"\r\n\r\n" + INVITE + b"\r\n" + OPTIONS + b"\r\n\r\n" + RINGING + b"\r\n"
    assert parser.feed(chunk) == [parse_message(m) for m in (INVITE, OPTIONS, RINGING)]
    assert parser.buffered == 0


def test_stream_split_at_every_position() -> None:
    data = INVITE + OPTIONS
    expected = [parse_message(INVITE), parse_message(OPTIONS)]
    for cut in range(len(data) + 1):
        parser = StreamParser()
        got = parser.feed(data[:cut]) + parser.feed(data[cut:])
        assert got == expected, cut


# --- the request and its fields -------------------------------------------------------


def test_invite_fields() -> None:
    message = parse_message(INVITE)
    assert isinstance(message, Request)
    assert message.method == "INVITE"
    assert message.uri == "sip:+390551234567@10.0.0.5:15060"
    assert message.call_id == "a84b4c76e66710a84b4c76e66710@192.168.1.10"
    assert message.headers.get("cseq") == "1 INVITE"
    assert message.headers.get("Content-Length") == str(len(SDP))
    assert message.headers.values("Allow")[:3] == ["INVITE", "ACK", "CANCEL"]
    assert message.body == SDP


def test_response_fields() -> None:
    message = parse_message(RINGING)
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (180, "Ringing")
    assert message.headers.get("To") == "<sip:b@192.168.1.10>;tag=2"


def test_response_reason_may_be_empty_or_have_spaces() -> None:
    empty = _replace(RINGING, b"180 Ringing", b"100 ")
    message = parse_message(empty)
    assert isinstance(message, Response)
    assert (message.status, message.reason) == (100, "")
    spaced = parse_message(_replace(RINGING, b"180 Ringing", b"486 Busy  Here"))
    assert isinstance(spaced, Response)
    assert spaced.reason == "Busy  Here"


def test_compact_forms_and_case_insensitive_names() -> None:
    data = (
        b"BYE sip:a@10.0.0.5 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 192.168.1.10;branch=z9hG4bK1\r\n"
        b"f: <sip:b@x>;tag=1\r\n"
        b"t: <sip:a@y>;tag=2\r\n"
        b"i: abc\r\n"
        b"cSeQ: 2 BYE\r\n"
        b"MAX-FORWARDS: 70\r\n"
        b"l: 0\r\n"
        b"\r\n"
    )
    message = parse_message(data)
    names = [name for name, _ in message.headers]
    assert names == ["Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"]
    assert message.call_id == "abc"


def test_unknown_header_names_are_kept_as_received() -> None:
    data = _replace(OPTIONS, b"Max-Forwards", b"X-Frontdesk-Limit: node\r\nMax-Forwards")
    assert parse_message(data).headers.get("x-frontdesk-limit") == "node"
    assert ("X-Frontdesk-Limit", "node") in parse_message(data).headers.items()


def test_folded_header_lines_are_unfolded_with_one_space() -> None:
    data = _replace(
        OPTIONS,
        b"Max-Forwards: 70\r\n",
        b"Subject: first\r\n  second\r\n\tthird\r\nMax-Forwards:\r\n 70\r\n",
    )
    message = parse_message(data)
    assert message.headers.get("Subject") == "first second third"
    assert message.headers.get("Max-Forwards") == "70"


def test_whitespace_around_colon_and_value() -> None:
    data = _replace(OPTIONS, b"Max-Forwards: 70", b"Max-Forwards \t:   70  ")
    assert parse_message(data).headers.get("Max-Forwards") == "70"


def test_lf_only_line_endings() -> None:
    head, _, body = INVITE.partition(b"\r\n\r\n")
    message = parse_message(head.replace(b"\r\n", b"\n") + b"\n\n" + body)
    assert message == parse_message(INVITE)
    head_only = OPTIONS.replace(b"\r\n", b"\n")
    assert parse_message(head_only) == parse_message(OPTIONS)


def test_mixed_line_endings() -> None:
    data = OPTIONS.replace(b"CSeq: 7 OPTIONS\r\n", b"CSeq: 7 OPTIONS\n")
    assert parse_message(data) == parse_message(OPTIONS)


def test_leading_crlfs_are_skipped() -> None:
    assert parse_message(b"\r\n\r\n\n" + OPTIONS) == parse_message(OPTIONS)


@pytest.mark.parametrize("data", [b"\r\n\r\n", b"\r\n", b"", b"\n", b"\x00\x00\x00\x00", b" "])
def test_keepalives(data: bytes) -> None:
    assert is_keepalive(data)
    with pytest.raises(SipParseError):
        parse_message(data)


@pytest.mark.parametrize("data", [OPTIONS, b"\r\nX", b"junk"])
def test_not_keepalives(data: bytes) -> None:
    assert not is_keepalive(data)


def test_body_without_content_length_is_the_rest_of_the_datagram() -> None:
    data = _replace(INVITE, b"Content-Length: " + str(len(SDP)).encode() + b"\r\n", b"")
    message = parse_message(data)
    assert message.body == SDP
    assert "Content-Length" not in message.headers


def test_body_longer_than_content_length_is_truncated() -> None:
    message = parse_message(INVITE + b"extra")
    assert message.body == SDP


def test_body_shorter_than_content_length_is_400_with_partial() -> None:
    error = _fail(INVITE[:-10])
    assert error.status == 400
    assert isinstance(error.partial, Request)
    assert error.partial.call_id == "a84b4c76e66710a84b4c76e66710@192.168.1.10"
    assert error.partial.body == b""


def test_utf8_display_name() -> None:
    data = _replace(OPTIONS, b"<sip:pbx", '"Niccolò" <sip:pbx'.encode())
    message = parse_message(data)
    assert message.headers.get("From") == '"Niccolò" <sip:pbx@192.168.1.10>;tag=o1'
    assert bytes(message) == data


def test_latin1_header_section_is_decoded_as_latin1() -> None:
    data = _replace(OPTIONS, b"<sip:pbx", '"Niccolò" <sip:pbx'.encode("latin-1"))
    value = parse_message(data).headers.get("From")
    assert value is not None
    assert value.startswith('"Niccolò"')


def test_utf8_reason_phrase() -> None:
    data = _replace(RINGING, b"180 Ringing", "200 Всё хорошо".encode())
    message = parse_message(data)
    assert isinstance(message, Response)
    assert message.reason == "Всё хорошо"


def test_binary_body_stays_bytes() -> None:
    body = bytes(range(256))
    data = _replace(OPTIONS, b"Content-Length: 0", b"Content-Length: 256") + body
    assert parse_message(data).body == body


# --- errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Via", "From", "To", "Call-ID", "CSeq"])
def test_missing_required_header_is_400_without_partial(name: str) -> None:
    lines = [line for line in OPTIONS.split(b"\r\n") if not line.startswith(name.encode() + b":")]
    error = _fail(b"\r\n".join(lines))
    assert error.status == 400
    assert error.partial is None


def test_cseq_method_mismatch_is_400_with_partial() -> None:
    error = _fail(_replace(OPTIONS, b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE"))
    assert error.status == 400
    assert isinstance(error.partial, Request)
    assert error.partial.method == "OPTIONS"


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_cseq_must_match_too(method: str) -> None:
    data = _replace(OPTIONS, b"OPTIONS sip", method.encode() + b" sip")
    error = _fail(data)
    assert error.status == 400
    good = _replace(data, b"CSeq: 7 OPTIONS", b"CSeq: 7 " + method.encode())
    assert isinstance(parse_message(good), Request)


@pytest.mark.parametrize("cseq", [b"x OPTIONS", b"7", b"99999999999 OPTIONS", b"-1 OPTIONS"])
def test_bad_cseq_is_400_with_partial(cseq: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"7 OPTIONS", cseq))
    assert error.status == 400
    assert isinstance(error.partial, Request)


def test_unsupported_version_is_505_with_partial() -> None:
    error = _fail(_replace(OPTIONS, b"SIP/2.0\r\n", b"SIP/7.0\r\n"))
    assert (error.status, error.reason) == (505, "Version Not Supported")
    assert isinstance(error.partial, Request)
    assert error.partial.headers.get("CSeq") == "7 OPTIONS"


def test_lowercase_version_is_accepted() -> None:
    assert isinstance(parse_message(_replace(OPTIONS, b"SIP/2.0\r\n", b"sip/2.0\r\n")), Request)


def test_response_with_other_version_is_refused_without_partial() -> None:
    error = _fail(_replace(RINGING, b"SIP/2.0 180", b"SIP/3.0 180"))
    assert error.status == 505
    assert error.partial is None


@pytest.mark.parametrize("uri", [b"http://example.com/", b"mailto:a@b", b"im:a@b"])
def test_unsupported_uri_scheme_is_416(uri: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"sip:10.0.0.5:15060", uri))
    assert (error.status, error.reason) == (416, "Unsupported URI Scheme")
    assert isinstance(error.partial, Request)


@pytest.mark.parametrize("uri", [b"tel:+390551234567", b"sips:a@b", b"SIP:a@b"])
def test_supported_uri_schemes(uri: bytes) -> None:
    assert isinstance(parse_message(_replace(OPTIONS, b"sip:10.0.0.5:15060", uri)), Request)


@pytest.mark.parametrize(
    "uri", [b"<sip:a@b>", b"sip:", b"10.0.0.5", b"sip:a@b?Route=%3Csip:x%3E", b"1sip:a"]
)
def test_malformed_request_uri_is_400(uri: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"sip:10.0.0.5:15060", uri))
    assert error.status == 400
    assert isinstance(error.partial, Request)


@pytest.mark.parametrize("value", [b"seventy", b"-1", b"256", b"1000", b"\xc2\xb2"])
def test_bad_max_forwards_is_400(value: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"Max-Forwards: 70", b"Max-Forwards: " + value))
    assert error.status == 400
    assert isinstance(error.partial, Request)


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1 2", b"99999999999", b"\xd9\xa3"])
def test_bad_content_length_is_400(value: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"Content-Length: 0", b"Content-Length: " + value))
    assert error.status == 400
    assert isinstance(error.partial, Request)


@pytest.mark.parametrize(
    "line",
    [
        b"INVITE  sip:a@b SIP/2.0",
        b"INVITE sip:a@b SIP/2.0 ",
        b"INVITE sip:a@b",
        b"INVITE sip:a @b SIP/2.0",
        b"INV ITE sip:a@b SIP/2.0",
        b"INV(ITE sip:a@b SIP/2.0",
        b"SIP/2.0 1000 Too Big",
        b"SIP/2.0 99 Small",
        b"SIP/2.0 abc Letters",
        b"SIP/2.0",
        b"HTTP/1.1 200 OK",
        b"GET / HTTP/1.1",
    ],
)
def test_unreadable_start_line_has_no_partial(line: bytes) -> None:
    data = line + OPTIONS[OPTIONS.index(b"\r\n") :]
    error = _fail(data)
    assert error.status in (400, 505)
    assert error.partial is None


def test_header_line_without_colon_is_400_with_partial() -> None:
    error = _fail(_replace(OPTIONS, b"Max-Forwards: 70", b"Max-Forwards 70"))
    assert error.status == 400
    assert isinstance(error.partial, Request)
    assert "Max-Forwards" not in error.partial.headers


def test_bad_header_name_is_400() -> None:
    assert _fail(_replace(OPTIONS, b"Max-Forwards", b"Max Forwards")).status == 400
    assert _fail(_replace(OPTIONS, b"Max-Forwards", b"Max@Forwards")).status == 400


def test_continuation_before_first_header_is_400() -> None:
    error = _fail(_replace(OPTIONS, b"SIP/2.0\r\n", b"SIP/2.0\r\n folded\r\n"))
    assert error.status == 400


@pytest.mark.parametrize("name", [b"From", b"To", b"Call-ID", b"CSeq", b"Max-Forwards"])
def test_duplicate_single_headers_are_400(name: bytes) -> None:
    line = next(line for line in OPTIONS.split(b"\r\n") if line.startswith(name + b":"))
    error = _fail(_replace(OPTIONS, b"Content-Length: 0", line + b"\r\nContent-Length: 0"))
    assert error.status == 400


def test_duplicate_content_length_is_400() -> None:
    error = _fail(_replace(OPTIONS, b"Content-Length: 0", b"Content-Length: 0\r\nl: 0"))
    assert error.status == 400


@pytest.mark.parametrize("bad", [b"\x00", b"\r", b"\x07", b"\x7f", b"\x1b[31m"])
def test_control_characters_in_headers_are_400(bad: bytes) -> None:
    error = _fail(_replace(OPTIONS, b"tag=o1", b"tag=o" + bad + b"1"))
    assert error.status == 400


def test_quoted_pair_control_characters_are_allowed() -> None:
    data = _replace(OPTIONS, b"<sip:pbx", b'"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f" <sip:pbx')
    assert isinstance(parse_message(data), Request)


def test_missing_empty_line_is_400() -> None:
    assert _fail(OPTIONS[:-2]).status == 400
    assert _fail(b"OPTIONS sip:a@b SIP/2.0").status == 400


def test_response_missing_headers_is_refused() -> None:
    lines = [line for line in RINGING.split(b"\r\n") if not line.startswith(b"CSeq")]
    error = _fail(b"\r\n".join(lines))
    assert error.partial is None


def test_first_error_wins_and_keeps_partial() -> None:
    data = _replace(OPTIONS, b"SIP/2.0\r\n", b"SIP/3.0\r\n")
    data = _replace(data, b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE")
    error = _fail(data)
    assert error.status == 505
    assert isinstance(error.partial, Request)


def test_partial_headers_are_those_read() -> None:
    error = _fail(_replace(OPTIONS, b"CSeq: 7 OPTIONS", b"CSeq: 7 BYE"))
    assert isinstance(error.partial, Request)
    assert error.partial.headers == Headers(
        [
            ("Via", "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-opt1;rport"),
            ("From", "<sip:pbx@192.168.1.10>;tag=o1"),
            ("To", "<sip:10.0.0.5:15060>"),
            ("Call-ID", "opt-1@192.168.1.10"),
            ("CSeq", "7 BYE"),
            ("Max-Forwards", "70"),
            ("Content-Length", "0"),
        ]
    )


# --- stream errors --------------------------------------------------------------------


def test_stream_requires_content_length_and_breaks() -> None:
    parser = StreamParser()
    data = _replace(OPTIONS, b"Content-Length: 0\r\n", b"")
    with pytest.raises(SipParseError) as info:
        parser.feed(data)
    assert isinstance(info.value.partial, Request)
    with pytest.raises(SipParseError):
        parser.feed(OPTIONS)


def test_stream_bad_content_length_breaks() -> None:
    parser = StreamParser()
    with pytest.raises(SipParseError):
        parser.feed(_replace(OPTIONS, b"Content-Length: 0", b"Content-Length: x"))
    with pytest.raises(SipParseError):
        parser.feed(b"")


def test_stream_oversized_header_section_is_413() -> None:
    parser = StreamParser(max_message_size=1024)
    with pytest.raises(SipParseError) as info:
        parser.feed(b"OPTIONS sip:a@b SIP/2.0\r\nSubject: " + b"x" * 2000)
    assert info.value.status == 413


def test_stream_oversized_body_is_413_before_it_arrives() -> None:
    parser = StreamParser(max_message_size=1024)
    data = _replace(OPTIONS, b"Content-Length: 0", b"Content-Length: 5000")
    with pytest.raises(SipParseError) as info:
        parser.feed(data)
    assert info.value.status == 413
    assert isinstance(info.value.partial, Request)


def test_stream_default_limit() -> None:
    assert MAX_MESSAGE_SIZE == 65536
    parser = StreamParser()
    with pytest.raises(SipParseError) as info:
        parser.feed(b"x" * (MAX_MESSAGE_SIZE + 1))
    assert info.value.status == 413


def test_stream_semantic_error_is_consumed_and_the_stream_goes_on() -> None:
    parser = StreamParser()
    bad = _replace(OPTIONS, b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE")
    with pytest.raises(SipParseError) as info:
        parser.feed(bad)
    assert isinstance(info.value.partial, Request)
    assert parser.feed(OPTIONS) == [parse_message(OPTIONS)]


def test_stream_error_after_good_messages_is_raised_on_the_next_feed() -> None:
    parser = StreamParser()
    bad = _replace(OPTIONS, b"CSeq: 7 OPTIONS", b"CSeq: 7 INVITE")
    assert parser.feed(INVITE + bad + RINGING) == [parse_message(INVITE)]
    with pytest.raises(SipParseError):
        parser.feed(b"")
    assert parser.feed(b"") == [parse_message(RINGING)]


def test_stream_body_is_exactly_content_length() -> None:
    parser = StreamParser()
    first, second = parser.feed(INVITE + INVITE)
    assert first.body == SDP
    assert second == first


def test_stream_lf_only() -> None:
    data = OPTIONS.replace(b"\r\n", b"\n")
    assert _feed_bytewise(data) == [parse_message(OPTIONS)]


def test_stream_parser_broken_only_after_a_framing_error() -> None:
    from frontdesk.sip.parser import StreamParser

    parser = StreamParser()
    good = (
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n"
        b"From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    bad = good.replace(b"CSeq: 1 OPTIONS", b"CSeq: x OPTIONS")
    with pytest.raises(SipParseError):
        parser.feed(bad + good)
    assert not parser.broken  # a malformed but framed message: the stream goes on
    assert len(parser.feed(b"")) == 1
    with pytest.raises(SipParseError):
        parser.feed(good.replace(b"Content-Length: 0", b"Content-Length: x"))
    assert parser.broken
