"""RFC 4475 torture messages against parse_message, StreamParser and the header parsers.

The messages live in `tests/data/sip/torture/{valid,invalid}/*.sip`, written by
`tests/data/sip/torture/generate.py` from the RFC's text. Every reader is exercised three
ways: the whole datagram, one byte at a time through `StreamParser`, and with trailing data.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from frontdesk.errors import SipParseError
from frontdesk.sip.headers import CSeq, NameAddr, SipUri, Via
from frontdesk.sip.message import Request, Response, split_list
from frontdesk.sip.parser import StreamParser, parse_message

CORPUS = Path(__file__).resolve().parents[2] / "data" / "sip" / "torture"
VALID = sorted(path.stem for path in (CORPUS / "valid").glob("*.sip"))
INVALID = sorted(path.stem for path in (CORPUS / "invalid").glob("*.sip"))

NEXT = (
    b"OPTIONS sip:frontdesk@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/TCP 192.0.2.9;branch=z9hG4bKnext\r\n"
    b"From: <sip:pbx@example.com>;tag=n1\r\n"
    b"To: <sip:frontdesk@example.com>\r\n"
    b"Call-ID: next@192.0.2.9\r\n"
    b"CSeq: 1 OPTIONS\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def load(kind: str, name: str) -> bytes:
    return (CORPUS / kind / f"{name}.sip").read_bytes()


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("torture_generate", CORPUS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feed_bytewise(data: bytes) -> tuple[list[Request | Response], StreamParser]:
    parser = StreamParser()
    out: list[Request | Response] = []
    for index in range(len(data)):
        out.extend(parser.feed(data[index : index + 1]))
    return out, parser


# --- the corpus itself ----------------------------------------------------------------


def test_corpus_is_complete() -> None:
    assert len(VALID) == 25
    assert len(INVALID) == 24


def test_files_match_the_generator() -> None:
    built = _generator().build()
    on_disk = {
        f"{kind}/{path.name}": path.read_bytes()
        for kind in ("valid", "invalid")
        for path in (CORPUS / kind).glob("*.sip")
    }
    assert built == on_disk


#: messages whose Content-Length does not match their body, and why
WRONG_LENGTH = {
    "dblreq": "a second request follows the empty body in the same datagram (§3.1.1.8)",
    "clerr": "Content-Length larger than the message, on purpose (§3.1.2.2)",
    "mcl01": "two different Content-Length values, on purpose (§3.3.9)",
    "multi01": "the RFC's text says l: 154 for a 152-byte body",
}


@pytest.mark.parametrize("name", VALID + INVALID)
def test_corpus_content_lengths(name: str) -> None:
    data = load("valid" if name in VALID else "invalid", name)
    assert data.endswith(b"\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\S+)", head)
    if match is None or not match.group(1).isdigit() or name in WRONG_LENGTH:
        return
    assert int(match.group(1)) == len(body)


# --- valid messages: whole, byte by byte, with trailing data --------------------------

KEY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")


@pytest.mark.parametrize("name", VALID)
def test_valid_parses_and_key_headers_round_trip(name: str) -> None:
    message = parse_message(load("valid", name))
    again = parse_message(bytes(message))
    for header in KEY_HEADERS:
        assert again.headers.get_all(header) == message.headers.get_all(header), header
    assert again.body == message.body
    if isinstance(message, Request):
        assert isinstance(again, Request)
        assert (again.method, again.uri) == (message.method, message.uri)
    else:
        assert isinstance(again, Response)
        assert (again.status, again.reason) == (message.status, message.reason)


@pytest.mark.parametrize("name", VALID)
def test_valid_typed_headers_parse(name: str) -> None:
    message = parse_message(load("valid", name))
    for element in message.headers.values("Via"):
        Via.parse(element)
    CSeq.parse(message.headers.get("CSeq") or "")
    NameAddr.parse(message.headers.get("From") or "")
    NameAddr.parse(message.headers.get("To") or "")
    for contact in message.headers.values("Contact"):
        NameAddr.parse(contact)


@pytest.mark.parametrize("name", VALID)
def test_valid_one_byte_at_a_time(name: str) -> None:
    data = load("valid", name)
    if name == "inv2543":  # no Content-Length: fine in a datagram, unframeable on a stream
        with pytest.raises(SipParseError):
            feed_bytewise(data)
        return
    messages, parser = feed_bytewise(data)
    if name == "dblreq":  # on a stream the "noise" after the REGISTER is a second request
        assert [m.call_id for m in messages] == [
            "dblreq.0ha0isndaksdj99sdfafnl3lk233412",
            "dblreq.0ha0isnda977644900765@192.0.2.15",
        ]
        return
    assert messages == [parse_message(data)]
    assert parser.buffered == 0


@pytest.mark.parametrize("name", VALID)
def test_valid_with_trailing_data(name: str) -> None:
    data = load("valid", name)
    expected = parse_message(data)
    if name == "inv2543":  # without Content-Length the rest of the datagram is the body
        assert parse_message(data + b"junk").body == expected.body + b"junk"
        return
    assert parse_message(data + b"\r\n\x00junk") == expected
    parser = StreamParser()
    if name == "dblreq":
        return
    assert parser.feed(data + NEXT + NEXT[:10]) == [expected, parse_message(NEXT)]
    assert parser.buffered == 10


# --- what the valid messages say ------------------------------------------------------


def test_wsinv() -> None:
    message = parse_message(load("valid", "wsinv"))
    assert isinstance(message, Request)
    assert message.uri == "sip:vivekg@chair-dnrc.example.com;unknownparam"
    assert NameAddr.parse(message.headers.get("To") or "").tag == "1918181833n"
    sender = NameAddr.parse(message.headers.get("From") or "")
    assert (sender.display, sender.tag) == ('"J Rosenberg \\\\\\""', "98asjd8")
    assert message.headers.get("Max-Forwards") == "0068"
    assert CSeq.parse(message.headers.get("CSeq") or "") == CSeq(9, "INVITE")
    vias = [Via.parse(v) for v in message.headers.values("Via")]
    assert [(v.transport, v.host, v.branch) for v in vias] == [
        ("UDP", "192.0.2.2", "390skdjuw"),
        ("TCP", "spindle.example.com", "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", "z9hG4bK30239"),
    ]
    assert message.headers.get("Subject") == ""
    assert message.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert message.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    contact = NameAddr.parse(message.headers.get("Contact") or "")
    assert contact.display == '"Quoted string \\"\\""'
    assert contact.params == (("newparam", "newvalue"), ("secondparam", None), ("q", "0.33"))
    assert len(message.body) == 150


def test_intmeth() -> None:
    message = parse_message(load("valid", "intmeth"))
    assert isinstance(message, Request)
    assert message.method == "!interesting-Method0123456789_*+`.%indeed'~"
    uri = SipUri.parse(message.uri)
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert uri.host == "example.com"
    to = NameAddr.parse(message.headers.get("To") or "")
    assert to.display == '"BEL:\\\x07 NUL:\\\x00 DEL:\\\x7f"'
    sender = NameAddr.parse(message.headers.get("From") or "")
    assert sender.display == "token1~` token2'+_ token3*%!.-"
    assert sender.params[0] == ("fromparam''~+*_!.-%", '"работающий"')
    assert sender.tag == "_token~1'+`*%!-."
    assert message.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert message.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"
    assert Via.parse(message.headers.get("Via") or "").branch == "z9hG4bK-.!%66*_+`'~"


def test_esc01_and_escnull_keep_escapes() -> None:
    esc01 = parse_message(load("valid", "esc01"))
    assert SipUri.parse(esc01.uri).user == "sips%3Auser%40example.com"
    assert esc01.headers.get("Content-Type") == "application/sdp"  # compact "C"
    contact = NameAddr.parse(esc01.headers.get("Contact") or "")
    assert SipUri.parse(contact.uri).params == (("%6c%72", None), ("n%61me", "v%61lue%25%34%31"))
    escnull = parse_message(load("valid", "escnull"))
    assert escnull.headers.values("Contact") == [
        "<sip:%00@host5.example.com>",
        "<sip:%00%00@host5.example.com>",
    ]


def test_esc02_percent_is_not_an_escape_in_names() -> None:
    message = parse_message(load("valid", "esc02"))
    assert isinstance(message, Request)
    assert message.method == "RE%47IST%45R"
    assert len(message.headers.values("Contact")) == 2
    assert message.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_lwsdisp_and_semiuri_and_transports() -> None:
    lwsdisp = parse_message(load("valid", "lwsdisp"))
    assert NameAddr.parse(lwsdisp.headers.get("From") or "").display == "caller"
    semiuri = parse_message(load("valid", "semiuri"))
    assert SipUri.parse(semiuri.uri if isinstance(semiuri, Request) else "").user == (
        "user;par=u%40example.net"
    )
    assert len(semiuri.headers.values("Accept")) == 6
    transports = parse_message(load("valid", "transports"))
    assert [Via.parse(v).transport for v in transports.headers.values("Via")] == [
        "UDP",
        "SCTP",
        "TLS",
        "UNKNOWN",
        "TCP",
    ]
    assert transports.call_id == "transports.kijh4akdnaqjkwendsasfdj"


def test_longreq() -> None:
    message = parse_message(load("valid", "longreq"))
    vias = message.headers.values("Via")
    assert len(vias) == 34
    assert Via.parse(vias[0]).host == "sip33.example.com"
    assert Via.parse(vias[-1]).branch == "very" + "long" * 50 + "branchvalue"
    assert NameAddr.parse(message.headers.get("To") or "").uri.startswith("sip:user@example.com")


def test_dblreq_ignores_the_second_request() -> None:
    message = parse_message(load("valid", "dblreq"))
    assert isinstance(message, Request)
    assert (message.method, message.body) == ("REGISTER", b"")


def test_mpart01_binary_body() -> None:
    message = parse_message(load("valid", "mpart01"))
    assert len(message.body) == 553
    assert b"\x00" in message.body
    assert message.body.count(b"\n") - message.body.count(b"\r\n") == 3  # three bare LFs
    assert message.body.endswith(b"\r\n--7a9cbec02ceef655--\r\n")


def test_unreason_and_noreason() -> None:
    unreason = parse_message(load("valid", "unreason"))
    assert isinstance(unreason, Response)
    assert unreason.reason == "= 2**3 * 5**2 но сто девяносто девять - простое"
    noreason = parse_message(load("valid", "noreason"))
    assert isinstance(noreason, Response)
    assert (noreason.status, noreason.reason) == (100, "")


def test_transaction_and_application_layer_messages_parse() -> None:
    badbranch = parse_message(load("valid", "badbranch"))
    assert Via.parse(badbranch.headers.get("Via") or "").branch == "z9hG4bK"
    zeromf = parse_message(load("valid", "zeromf"))
    assert zeromf.headers.get("Max-Forwards") == "0"
    bcast = parse_message(load("valid", "bcast"))
    assert isinstance(bcast, Response)
    assert len(bcast.headers.values("Via")) == 2
    inv2543 = parse_message(load("valid", "inv2543"))
    assert inv2543.body.startswith(b"v=0\r\n")
    assert Via.parse(inv2543.headers.get("Via") or "").branch is None
    unksm2 = parse_message(load("valid", "unksm2"))
    assert NameAddr.parse(unksm2.headers.get("To") or "").uri == "isbn:2983792873"
    assert split_list(unksm2.headers.get("Contact") or "") == ["<name:John_Smith>"]


# --- invalid messages -----------------------------------------------------------------


@dataclass(frozen=True)
class Refused:
    """parse_message raises SipParseError(status) (with or without a partial request)."""

    status: int
    partial: bool


@dataclass(frozen=True)
class RefusedWhenRead:
    """The message parses; reading `header` with its typed parser raises SipParseError.

    RFC 4475 lets a parser accept these and have the element reject them: the user agent
    answers 400 when it reads the header (frontdesk.sip.useragent maps the error).
    """

    header: str


@dataclass(frozen=True)
class Accepted:
    """The message parses and frontdesk never reads the broken part."""

    why: str


Outcome = Refused | RefusedWhenRead | Accepted

INVALID_OUTCOMES: dict[str, Outcome] = {
    "badinv01": RefusedWhenRead("Via"),  # ";;,;,," : "," is no parameter name
    "clerr": Refused(400, partial=True),
    "ncl": Refused(400, partial=True),
    "scalar02": Refused(400, partial=True),  # CSeq beyond 2**31
    "scalarlg": Refused(400, partial=False),  # a response: never answered
    "quotbal": RefusedWhenRead("To"),
    "ltgtruri": Refused(400, partial=True),
    "lwsruri": Refused(400, partial=False),  # the request line itself is unreadable
    "lwsstart": Refused(400, partial=False),
    "trws": Refused(400, partial=False),
    "escruri": Refused(400, partial=True),
    "baddate": Accepted("Date is never read; RFC 4475 §3.1.2.12 lets such elements go on"),
    "regbadct": RefusedWhenRead("Contact"),
    "badaspec": RefusedWhenRead("To"),
    "baddn": RefusedWhenRead("From"),
    "badvers": Refused(505, partial=True),
    "mismatch01": Refused(400, partial=True),
    "mismatch02": Refused(400, partial=True),
    "bigcode": Refused(400, partial=False),
    "insuf": Refused(400, partial=False),  # no From/To/Call-ID: nothing to address
    "unkscm": Refused(416, partial=True),
    "novelsc": Refused(416, partial=True),
    "multi01": Refused(400, partial=True),
    "mcl01": Refused(400, partial=True),
}


def test_every_invalid_message_has_an_outcome() -> None:
    assert sorted(INVALID_OUTCOMES) == INVALID


@pytest.mark.parametrize("name", INVALID)
def test_invalid_whole(name: str) -> None:
    data = load("invalid", name)
    outcome = INVALID_OUTCOMES[name]
    if isinstance(outcome, Refused):
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.status == outcome.status
        assert (info.value.partial is not None) == outcome.partial
        if outcome.partial:
            assert isinstance(info.value.partial, Request)
            assert info.value.partial.call_id.startswith(name)
        return
    message = parse_message(data)
    if isinstance(outcome, RefusedWhenRead):
        with pytest.raises(SipParseError):
            if outcome.header == "Via":
                for value in message.headers.values("Via"):
                    Via.parse(value)
            else:  # From, To and Contact here hold one value each
                NameAddr.parse(message.headers.get(outcome.header) or "")


@pytest.mark.parametrize("name", INVALID)
def test_invalid_one_byte_at_a_time(name: str) -> None:
    data = load("invalid", name)
    outcome = INVALID_OUTCOMES[name]
    if name in ("clerr", "multi01"):
        # on a stream a Content-Length beyond the body means "more to come" (multi01's is
        # two bytes too long in the RFC's text)
        messages, parser = feed_bytewise(data)
        assert messages == []
        assert parser.buffered == len(data)
        return
    if isinstance(outcome, Refused):
        with pytest.raises(SipParseError) as info:
            feed_bytewise(data)
        assert info.value.status == outcome.status
        return
    messages, _ = feed_bytewise(data)
    assert messages == [parse_message(data)]


@pytest.mark.parametrize("name", INVALID)
def test_invalid_with_trailing_data(name: str) -> None:
    data = load("invalid", name) + NEXT
    outcome = INVALID_OUTCOMES[name]
    if isinstance(outcome, Refused):
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        assert info.value.status == outcome.status
    else:
        assert parse_message(data) == parse_message(load("invalid", name))


@pytest.mark.parametrize(
    "name", ["mismatch01", "mismatch02", "escruri", "ltgtruri", "scalar02", "unkscm", "badvers"]
)
def test_stream_goes_on_after_a_well_framed_invalid_message(name: str) -> None:
    parser = StreamParser()
    with pytest.raises(SipParseError):
        parser.feed(load("invalid", name) + NEXT)
    assert parser.feed(b"") == [parse_message(NEXT)]


@pytest.mark.parametrize("name", ["ncl", "mcl01"])
def test_stream_breaks_on_framing_errors(name: str) -> None:
    parser = StreamParser()
    with pytest.raises(SipParseError):
        parser.feed(load("invalid", name) + NEXT)
    with pytest.raises(SipParseError):
        parser.feed(b"")
