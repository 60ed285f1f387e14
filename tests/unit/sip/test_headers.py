"""Typed header values (frontdesk.sip.headers) and the Headers list (frontdesk.sip.message)."""

from __future__ import annotations

import pytest

from frontdesk.errors import SipParseError
from frontdesk.sip.headers import (
    CSeq,
    NameAddr,
    SipUri,
    Via,
    format_params,
    has_param,
    param,
    parse_params,
    split_hostport,
)
from frontdesk.sip.message import (
    Headers,
    Request,
    Response,
    canonical_name,
    reason_for,
    split_list,
)

# --- parameters -----------------------------------------------------------------------


def test_parse_params() -> None:
    assert parse_params(';a=1;B;c="x;y" ; d = 2') == (
        ("a", "1"),
        ("b", None),
        ("c", '"x;y"'),
        ("d", "2"),
    )
    assert parse_params("") == ()
    assert parse_params(";;;") == ()


def test_param_lookup_and_format() -> None:
    params = parse_params(";lr;transport=udp")
    assert param(params, "lr") == ""
    assert param(params, "transport") == "udp"
    assert param(params, "maddr") is None
    assert has_param(params, "lr")
    assert not has_param(params, "maddr")
    assert format_params(params) == ";lr;transport=udp"


@pytest.mark.parametrize("text", [";=1", ";a=1;=2", ";,", ";a b=1", ';"x"=1'])
def test_bad_params(text: str) -> None:
    with pytest.raises(SipParseError):
        parse_params(text)


def test_uri_param_names_may_use_param_unreserved_characters() -> None:
    assert parse_params(";%6C%72;a[1]/b:c&d$=x") == (("%6c%72", None), ("a[1]/b:c&d$", "x"))


# --- URIs -----------------------------------------------------------------------------


def test_sip_uri_parts() -> None:
    uri = SipUri.parse("sip:alice:secret@Example.com:5070;transport=udp;lr?subject=hi")
    assert uri.scheme == "sip"
    assert (uri.user, uri.password) == ("alice", "secret")
    assert (uri.host, uri.port) == ("Example.com", 5070)
    assert uri.params == (("transport", "udp"), ("lr", None))
    assert uri.headers == "subject=hi"
    assert uri.param("transport") == "udp"
    assert str(uri) == "sip:alice:secret@Example.com:5070;transport=udp;lr?subject=hi"


@pytest.mark.parametrize(
    "text",
    [
        "sip:10.0.0.5",
        "sips:bob@example.com",
        "sip:+390551234567@10.0.0.5:15060;user=phone",
        "sip:[2001:db8::1]:5060",
        "sip:alice@[2001:db8::1]",
        "tel:+390551234567;phone-context=example.com",
    ],
)
def test_uri_round_trip(text: str) -> None:
    assert str(SipUri.parse(text)) == text


def test_scheme_is_case_insensitive() -> None:
    assert SipUri.parse("SIP:a@b").scheme == "sip"


def test_user_part_may_hold_question_mark_and_semicolon() -> None:
    # RFC 4475 §3.1.1.2 (intmeth) and §3.1.1.9 (semiuri)
    uri = SipUri.parse("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&pw@example.com")
    assert uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert (uri.password, uri.host, uri.headers) == ("&pw", "example.com", "")
    assert SipUri.parse("sip:user;par=u%40example.net@example.com").user == (
        "user;par=u%40example.net"
    )


def test_tel_uri() -> None:
    uri = SipUri.parse("tel:+390551234567")
    assert (uri.scheme, uri.user, uri.host) == ("tel", "+390551234567", "")


def test_unsupported_scheme_is_416() -> None:
    with pytest.raises(SipParseError) as info:
        SipUri.parse("http://example.com/")
    assert info.value.status == 416


@pytest.mark.parametrize(
    "text", ["", "sip", "sip:", "sip:a@", "sip:host:0", "sip:host:70000", "sip:host:x", "sip:[::1"]
)
def test_bad_uris(text: str) -> None:
    with pytest.raises(SipParseError):
        SipUri.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("host", ("host", None)),
        ("host:5060", ("host", 5060)),
        (" 10.0.0.5:15060 ", ("10.0.0.5", 15060)),
        ("[::1]", ("[::1]", None)),
        ("[::1]:5060", ("[::1]", 5060)),
    ],
)
def test_split_hostport(text: str, expected: tuple[str, int | None]) -> None:
    assert split_hostport(text) == expected


@pytest.mark.parametrize("text", ["", ":5060", "[::1]x", "[::1]:", "a b:5060", "host:65536"])
def test_bad_hostport(text: str) -> None:
    with pytest.raises(SipParseError):
        split_hostport(text)


# --- name-addr ------------------------------------------------------------------------


def test_name_addr_forms() -> None:
    quoted = NameAddr.parse('"Mario Rossi" <sip:3331234567@pbx>;tag=4f1e')
    assert (quoted.display, quoted.uri, quoted.tag) == (
        '"Mario Rossi"',
        "sip:3331234567@pbx",
        "4f1e",
    )
    assert str(quoted) == '"Mario Rossi" <sip:3331234567@pbx>;tag=4f1e'
    tokens = NameAddr.parse("Mario Rossi <sip:m@pbx>")
    assert tokens.display == "Mario Rossi"
    bare = NameAddr.parse("<sip:m@pbx>")
    assert (bare.display, bare.bracketed, bare.tag) == ("", True, None)
    spec = NameAddr.parse("sip:m@pbx;tag=1")
    assert (spec.uri, spec.tag, spec.bracketed) == ("sip:m@pbx", "1", False)
    assert str(spec) == "sip:m@pbx;tag=1"
    star = NameAddr.parse("*")
    assert (star.uri, star.bracketed) == ("*", False)


def test_uri_params_stay_inside_brackets() -> None:
    value = NameAddr.parse("<sip:a@b;lr;transport=tcp>;expires=60")
    assert value.uri == "sip:a@b;lr;transport=tcp"
    assert value.params == (("expires", "60"),)


def test_quoted_display_name_with_escapes_and_brackets() -> None:
    value = NameAddr.parse('"a \\"<odd>\\" name" <sip:x@y>')
    assert value.display == '"a \\"<odd>\\" name"'
    assert value.uri == "sip:x@y"


def test_no_space_between_display_and_bracket() -> None:
    # RFC 4475 §3.1.1.6 lwsdisp
    assert NameAddr.parse("caller<sip:caller@example.com>;tag=323").display == "caller"


def test_with_tag() -> None:
    original = NameAddr.parse("sip:a@b;tag=old;x=1")
    tagged = original.with_tag("new")
    assert tagged.tag == "new"
    assert tagged.params == (("x", "1"), ("tag", "new"))
    assert str(tagged) == "<sip:a@b>;x=1;tag=new"


@pytest.mark.parametrize(
    "text",
    [
        "<sip:a@b",  # unterminated
        "<>",  # empty URI
        '"Watson, Thomas" < sip:t.watson@example.org >',  # RFC 4475 badaspec
        "Bell, Alexander <sip:a.g.bell@example.com>;tag=43",  # RFC 4475 baddn
        '"Mr. J. User <sip:j.user@example.com>',  # RFC 4475 quotbal
        "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # RFC 4475 regbadct
        "sip:a@b, sip:c@d",
        "not a uri",
        "Bell",
        "<nocolon>",
        '"open <sip:a@b>',
        '"a" "b" <sip:a@b>',
        "sip:a@b;,=1",
    ],
)
def test_bad_name_addrs(text: str) -> None:
    with pytest.raises(SipParseError):
        NameAddr.parse(text)


# --- Via ------------------------------------------------------------------------------


def test_via() -> None:
    via = Via.parse("SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-1;rport;received=1.2.3.4")
    assert (via.transport, via.host, via.port) == ("UDP", "192.168.1.10", 5060)
    assert via.branch == "z9hG4bK-1"
    assert has_param(via.params, "rport")
    assert via.sent_by == ("192.168.1.10", 5060)
    assert str(via) == "SIP/2.0/UDP 192.168.1.10:5060;branch=z9hG4bK-1;rport;received=1.2.3.4"


def test_via_default_ports_and_case() -> None:
    assert Via.parse("SIP/2.0/udp Host.Example").sent_by == ("host.example", 5060)
    assert Via.parse("SIP/2.0/TLS host").sent_by == ("host", 5061)
    assert Via.parse("SIP/2.0/TCP [2001:db8::1]:5070").sent_by == ("[2001:db8::1]", 5070)


def test_via_with_spaces_around_slashes() -> None:
    # RFC 4475 §3.1.1.1 wsinv
    via = Via.parse("SIP  /   2.0 /UDP 192.0.2.2;branch=390skdjuw")
    assert (via.transport, via.host, via.branch) == ("UDP", "192.0.2.2", "390skdjuw")
    spaced = Via.parse("SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8")
    assert (spaced.transport, spaced.host, spaced.branch) == (
        "TCP",
        "spindle.example.com",
        "z9hG4bK9ikj8",
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "HTTP/1.1/TCP host",
        "SIP/2.0/UDP host:port",
        "SIP/2.0/UDP 192.0.2.15;;,;,,",  # RFC 4475 badinv01
    ],
)
def test_bad_vias(text: str) -> None:
    with pytest.raises(SipParseError):
        Via.parse(text)


# --- CSeq -----------------------------------------------------------------------------


def test_cseq() -> None:
    assert CSeq.parse("314159 INVITE") == CSeq(314159, "INVITE")
    assert CSeq.parse(" 0009  INVITE ") == CSeq(9, "INVITE")
    assert str(CSeq(2, "BYE")) == "2 BYE"


@pytest.mark.parametrize(
    "text", ["", "1", "INVITE", "x INVITE", "-1 INVITE", "2147483648 INVITE", "1 IN VITE"]
)
def test_bad_cseq(text: str) -> None:
    with pytest.raises(SipParseError):
        CSeq.parse(text)


# --- Headers --------------------------------------------------------------------------


def test_canonical_names() -> None:
    assert canonical_name("v") == "Via"
    assert canonical_name("CALL-ID") == "Call-ID"
    assert canonical_name("cseq") == "CSeq"
    assert canonical_name("X-Custom") == "X-Custom"


def test_headers_lookup_is_case_insensitive_for_every_name() -> None:
    headers = Headers([("v", "SIP/2.0/UDP a"), ("X-Frontdesk-Limit", "node")])
    assert headers.get("VIA") == "SIP/2.0/UDP a"
    assert headers.get("x-frontdesk-limit") == "node"
    assert headers.get_all("X-FRONTDESK-LIMIT") == ["node"]
    assert "x-frontdesk-limit" in headers
    assert "Route" not in headers
    assert 42 not in headers


def test_headers_edit_unknown_names_case_insensitively() -> None:
    headers = Headers([("x-custom", "1"), ("To", "<sip:a@b>"), ("X-CUSTOM", "2")])
    replaced = headers.with_replaced("X-Custom", "3")
    assert replaced.items() == (("x-custom", "3"), ("To", "<sip:a@b>"))
    assert headers.without("X-Custom").items() == (("To", "<sip:a@b>"),)


def test_headers_list_values() -> None:
    headers = Headers(
        [
            ("Via", "SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2"),
            ("Via", "SIP/2.0/UDP c;branch=3"),
            ("Contact", '"a, b" <sip:x@y>, <sip:z@w;p=1,2>'),
        ]
    )
    assert headers.first("Via") == "SIP/2.0/UDP a;branch=1"
    assert headers.values("Via") == [
        "SIP/2.0/UDP a;branch=1",
        "SIP/2.0/UDP b;branch=2",
        "SIP/2.0/UDP c;branch=3",
    ]
    assert headers.values("Contact") == ['"a, b" <sip:x@y>', "<sip:z@w;p=1,2>"]
    assert headers.first("Route") is None


def test_headers_edits_and_equality() -> None:
    headers = Headers([("To", "<sip:a@b>")]).with_added("l", "0")
    assert headers.items() == (("To", "<sip:a@b>"), ("Content-Length", "0"))
    assert headers.with_replaced("Route", "<sip:r>").get("Route") == "<sip:r>"
    assert headers == Headers([("t", "<sip:a@b>"), ("Content-Length", "0")])
    assert hash(headers) == hash(Headers(list(headers)))
    assert len(headers) == 2
    assert headers != "not headers"
    assert "Content-Length" in repr(headers)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a", ["a"]),
        (" a , b ,, c ", ["a", "b", "c"]),
        ('"x, y" <sip:a>, <sip:b;p=1,2>', ['"x, y" <sip:a>', "<sip:b;p=1,2>"]),
        ('"esc \\" , still" <sip:a>, b', ['"esc \\" , still" <sip:a>', "b"]),
        ("", []),
    ],
)
def test_split_list(value: str, expected: list[str]) -> None:
    assert split_list(value) == expected


def test_serialisation_sets_content_length_last() -> None:
    request = Request(
        "OPTIONS",
        "sip:a@b",
        Headers([("Content-Length", "99"), ("Call-ID", "x")]),
        b"body",
    )
    assert bytes(request) == (
        b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 4\r\n\r\nbody"
    )
    response = Response(200, "OK", Headers([("Call-ID", "x")]))
    assert bytes(response) == b"SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
    assert (request.call_id, Response(100, "Trying").call_id) == ("x", "")


def test_reasons() -> None:
    assert reason_for(486) == "Busy Here"
    assert reason_for(299) == "Unknown"
