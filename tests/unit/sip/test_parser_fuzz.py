"""Property tests: whatever bytes arrive, only SipParseError (or SdpError) comes out, and
generated messages survive a round trip through bytes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.errors import SdpError, SipParseError
from frontdesk.sip.message import Headers, Request, Response, canonical_name
from frontdesk.sip.parser import StreamParser, is_keepalive, parse_message
from frontdesk.sip.sdp import LocalMedia, SessionDescription, negotiate

CORPUS = Path(__file__).resolve().parents[2] / "data" / "sip" / "torture"
SEEDS = sorted(path.read_bytes() for path in CORPUS.glob("*/*.sip"))

FUZZ = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def parse_or_refuse(data: bytes) -> Request | Response | None:
    """parse_message, with the only error it may raise turned into None."""
    try:
        return parse_message(data)
    except SipParseError as exc:
        assert isinstance(exc.status, int)
        assert exc.partial is None or isinstance(exc.partial, Request)
        return None


def feed_or_refuse(parser: StreamParser, data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parser.feed(data)


# --- only SipParseError escapes -------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(data: bytes) -> None:
    parse_or_refuse(data)
    is_keepalive(data)


@FUZZ
@given(st.binary(max_size=512).map(lambda tail: b"INVITE sip:a@b SIP/2.0\r\n" + tail))
def test_arbitrary_bytes_after_a_request_line(data: bytes) -> None:
    parse_or_refuse(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus message with a few random edits: flips, inserts, deletes, cuts, copies."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        index = draw(st.integers(0, len(data) - 1))
        action = draw(st.sampled_from(["flip", "insert", "delete", "cut", "copy", "special"]))
        if action == "flip":
            data[index] = draw(st.integers(0, 255))
        elif action == "insert":
            data[index:index] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del data[index : index + draw(st.integers(1, 16))]
        elif action == "cut":
            del data[index:]
        elif action == "copy":
            end = min(len(data), index + draw(st.integers(1, 64)))
            data[index:index] = data[index:end]
        else:
            special = draw(
                st.sampled_from(
                    [b"\r\n", b"\n", b"\r", b" ", b"\t", b":", b";", b",", b"\x00", b"\xff", b'"']
                )
            )
            data[index:index] = special
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_corpus_messages(data: bytes) -> None:
    parse_or_refuse(data)


@FUZZ
@given(mutated(), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_mutated_messages_on_a_stream(data: bytes, cuts: list[int]) -> None:
    parser = StreamParser(max_message_size=4096)
    position = 0
    for size in cuts:
        feed_or_refuse(parser, data[position : position + size])
        position += size
    feed_or_refuse(parser, data[position:])
    feed_or_refuse(parser, b"")


@FUZZ
@given(st.binary(max_size=1024))
def test_arbitrary_sdp(data: bytes) -> None:
    try:
        description = SessionDescription.parse(data)
    except SdpError:
        return
    with contextlib.suppress(SdpError):
        negotiate(description, LocalMedia("10.0.0.5", 10002))


SDP_SEED = (
    b"v=0\r\no=- 1 1 IN IP4 192.168.1.10\r\ns=-\r\nc=IN IP4 192.168.1.10\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    b"a=ptime:20\r\na=sendrecv\r\n"
)


@FUZZ
@given(st.integers(0, len(SDP_SEED) - 1), st.binary(max_size=6), st.integers(0, 4))
def test_mutated_sdp(index: int, insert: bytes, delete: int) -> None:
    data = SDP_SEED[:index] + insert + SDP_SEED[index + delete :]
    with contextlib.suppress(SdpError):
        negotiate(SessionDescription.parse(data), LocalMedia("10.0.0.5", 10002))


# --- round trips of generated messages ------------------------------------------------

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
RESERVED = {"Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"}

tokens = st.text(TOKEN_CHARS, min_size=1, max_size=12)
header_names = tokens.filter(lambda name: canonical_name(name) not in RESERVED)
# printable text without control characters (and no surrogates); no edge whitespace,
# because the parser strips it
values = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=0, max_size=40).map(
    lambda text: text.strip(" \t")
)
hosts = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)


@st.composite
def messages(draw: st.DrawFn) -> Request | Response:
    host = draw(hosts)
    common = [
        ("Via", f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK{draw(tokens)}"),
        ("From", f"<sip:{draw(tokens)}@{host}>;tag={draw(tokens)}"),
        ("To", f"<sip:{draw(tokens)}@{draw(hosts)}>"),
        ("Call-ID", draw(tokens)),
    ]
    extra = draw(st.lists(st.tuples(header_names, values), max_size=6))
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        method = draw(tokens)
        headers = [
            *common,
            ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}"),
            ("Max-Forwards", str(draw(st.integers(0, 255)))),
            *extra,
            ("Content-Length", str(len(body))),
        ]
        uri = f"{draw(st.sampled_from(['sip', 'sips']))}:{draw(tokens)}@{host}"
        return Request(method, uri, Headers(headers), body)
    headers = [
        *common,
        ("CSeq", f"{draw(st.integers(0, 2**31 - 1))} INVITE"),
        *extra,
        ("Content-Length", str(len(body))),
    ]
    reason = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30))
    return Response(draw(st.integers(100, 699)), reason, Headers(headers), body)


@FUZZ
@given(messages())
def test_generated_messages_round_trip(message: Request | Response) -> None:
    data = bytes(message)
    assert parse_message(data) == message
    assert StreamParser().feed(data) == [message]


@FUZZ
@given(st.lists(messages(), min_size=1, max_size=4), st.integers(1, 50))
def test_generated_messages_on_a_stream_in_chunks(
    batch: list[Request | Response], size: int
) -> None:
    data = b"\r\n".join(bytes(message) for message in batch)
    parser = StreamParser()
    out: list[Request | Response] = []
    for start in range(0, len(data), size):
        out.extend(parser.feed(data[start : start + size]))
    assert out == batch
    assert parser.buffered == 0
