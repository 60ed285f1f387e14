"""Typed views of single SIP header values: URIs, name-addr, Via and CSeq (RFC 3261 §19, §20).

Owns: parsing one header value into a small frozen dataclass and printing it back.
Must not: touch sockets or clocks. Every parser raises `SipParseError` (never `assert`,
never a bare ValueError) so the caller knows to answer 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from frontdesk.errors import SipParseError

Params = tuple[tuple[str, str | None], ...]

# RFC 3261 §25.1 token, plus the URI param-unreserved characters ("[]/:&$") that a URI
# parameter name may also use. A comma or a space is never part of a parameter name.
_PARAM_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~\[\]/:&$]+")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")


def parse_params(text: str) -> Params:
    """`;a=1;b;c="x;y"` → (("a", "1"), ("b", None), ("c", '"x;y"')). Names are lowercased."""
    params: list[tuple[str, str | None]] = []
    for raw in _split_outside_quotes(text, ";"):
        part = raw.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not name:
            raise SipParseError(f"empty parameter name in {text!r}")
        if _PARAM_NAME.fullmatch(name) is None:
            raise SipParseError(f"bad parameter name {name!r} in {text!r}")
        params.append((name, value.strip() if sep else None))
    return tuple(params)


def format_params(params: Params) -> str:
    return "".join(f";{name}" if value is None else f";{name}={value}" for name, value in params)


def param(params: Params, name: str) -> str | None:
    """The value of parameter `name` ("" for a flag present without value), or None."""
    for key, value in params:
        if key == name:
            return "" if value is None else value
    return None


def has_param(params: Params, name: str) -> bool:
    return any(key == name for key, _ in params)


def _split_outside_quotes(text: str, sep: str) -> list[str]:
    if '"' not in text:
        return text.split(sep)
    parts: list[str] = []
    quoted = False
    escaped = False
    start = 0
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


@dataclass(frozen=True, slots=True)
class SipUri:
    """`sip:user@host:port;params?headers` (also `sips:` and `tel:`)."""

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: Params = ()
    headers: str = ""
    password: str | None = None

    @classmethod
    def parse(cls, text: str) -> SipUri:
        text = text.strip()
        scheme, colon, rest = text.partition(":")
        scheme = scheme.lower()
        if not colon or not rest:
            raise SipParseError(f"URI {text!r} has no scheme")
        if scheme == "tel":
            number, _, params = rest.partition(";")
            return cls(scheme="tel", user=number, host="", params=parse_params(params))
        if scheme not in ("sip", "sips"):
            raise SipParseError(
                f"unsupported URI scheme in {text!r}", 416, "Unsupported URI Scheme"
            )
        # userinfo first: the user part may itself hold "?" and ";" (RFC 3261 §25.1
        # user-unreserved; RFC 4475 §3.1.1.2 intmeth), while "@" never appears unescaped
        # after it
        user: str | None = None
        password: str | None = None
        if "@" in rest:
            userinfo, _, rest = rest.rpartition("@")
            user, pw_sep, pw = userinfo.partition(":")
            password = pw if pw_sep else None
        rest, _, headers = rest.partition("?")
        hostport, _, params_text = rest.partition(";")
        host, port = split_hostport(hostport)
        return cls(scheme, user, host, port, parse_params(params_text), headers, password)

    def __str__(self) -> str:
        if self.scheme == "tel":
            return f"tel:{self.user}{format_params(self.params)}"
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = f"?{self.headers}" if self.headers else ""
        return f"{self.scheme}:{userinfo}{self.host}{port}{format_params(self.params)}{headers}"

    def param(self, name: str) -> str | None:
        return param(self.params, name)


def split_hostport(text: str) -> tuple[str, int | None]:
    """`host`, `host:5060`, `[::1]:5060` → (host, port). IPv6 hosts keep their brackets."""
    text = text.strip()
    if not text:
        raise SipParseError("empty host")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise SipParseError(f"unterminated IPv6 reference {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise SipParseError(f"junk after IPv6 reference in {text!r}")
        return host, _port(rest[1:], text)
    host, sep, port = text.partition(":")
    if not host or any(c.isspace() for c in host):
        raise SipParseError(f"bad host in {text!r}")
    return host, _port(port, text) if sep else None


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SipParseError(f"bad port in {whole!r}")
    return int(text)


@dataclass(frozen=True, slots=True)
class NameAddr:
    """From, To, Contact, Route values: `"Name" <uri>;tag=x` or `uri;tag=x`.

    `uri` stays text (a Contact may carry a URI we never need to open); `params` are the
    header parameters (tag, expires, ...), not the URI's own.
    """

    uri: str
    display: str = ""
    params: Params = ()
    bracketed: bool = True

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        text = text.strip()
        if text == "*":
            return cls(uri="*", bracketed=False)
        lt = _find_unquoted(text, "<")
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError(f"unterminated <...> in {text!r}")
            display = text[:lt].strip()
            uri = text[lt + 1 : gt]
            params = parse_params(text[gt + 1 :])
            if not uri:
                raise SipParseError(f"empty URI in {text!r}")
            if uri != uri.strip():  # RFC 4475 §3.1.2.14 badaspec: no LWS inside <>
                raise SipParseError(f"whitespace inside <...> in {text!r}")
            if ":" not in uri:
                raise SipParseError(f"URI without a scheme in {text!r}")
            if display and not _valid_display(display):
                raise SipParseError(f"bad display name in {text!r}")
            return cls(uri=uri, display=display, params=params, bracketed=True)
        # addr-spec form: parameters after the URI belong to the header (RFC 3261 §20)
        uri, _, params_text = text.partition(";")
        uri = uri.strip()
        if not uri or ":" not in uri or any(c.isspace() for c in uri):
            raise SipParseError(f"bad name-addr {text!r}")
        if "?" in uri or "," in uri:
            # §20.10: a URI with a comma, question mark or semicolon needs <>
            # (RFC 4475 §3.1.2.13 regbadct)
            raise SipParseError(f"URI with ? or , must be enclosed in <> in {text!r}")
        return cls(uri=uri, params=parse_params(params_text), bracketed=False)

    def __str__(self) -> str:
        if not self.bracketed and not self.display:
            return f"{self.uri}{format_params(self.params)}"
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{format_params(self.params)}"

    @property
    def tag(self) -> str | None:
        return param(self.params, "tag")

    def with_tag(self, tag: str) -> NameAddr:
        params = (*(p for p in self.params if p[0] != "tag"), ("tag", tag))
        return NameAddr(self.uri, self.display, params, True)


def _valid_display(display: str) -> bool:
    """A quoted-string, or tokens separated by whitespace (RFC 3261 §25.1 display-name).

    RFC 4475 §3.1.2.15 (baddn): `Bell, Alexander <sip:...>` is not a display name.
    """
    if display.startswith('"'):
        escaped = False
        for index in range(1, len(display)):
            char = display[index]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                return index == len(display) - 1
        return False
    return all(_TOKEN.fullmatch(word) is not None for word in display.split())


def _find_unquoted(text: str, char: str) -> int:
    quoted = False
    escaped = False
    for index, c in enumerate(text):
        if escaped:
            escaped = False
        elif c == "\\" and quoted:
            escaped = True
        elif c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            return index
    return -1


@dataclass(frozen=True, slots=True)
class Via:
    """One Via element: `SIP/2.0/UDP host:port;branch=z9hG4bK...;rport`."""

    transport: str
    host: str
    port: int | None = None
    params: Params = field(default=())

    @classmethod
    def parse(cls, text: str) -> Via:
        text = text.strip()
        protocol, _, rest = text.partition(" ")
        parts = [p.strip() for p in protocol.split("/")]
        if len(parts) != 3 or parts[0].upper() != "SIP" or not parts[2]:
            # tolerate "SIP / 2.0 / UDP" with spaces around the slashes (RFC 4475 §3.1.1.1)
            compact = text.replace(" ", "")
            head = compact.upper()
            if head.startswith("SIP/2.0/"):
                return cls._parse_loose(text)
            raise SipParseError(f"bad Via {text!r}")
        sent_by, _, params_text = rest.strip().partition(";")
        host, port = split_hostport(sent_by)
        return cls(parts[2].upper(), host, port, parse_params(params_text))

    @classmethod
    def _parse_loose(cls, text: str) -> Via:
        pieces = text.split("/", 2)
        if len(pieces) != 3:
            raise SipParseError(f"bad Via {text!r}")
        transport_and_rest = pieces[2].strip()
        transport, _, rest = transport_and_rest.partition(" ")
        sent_by, _, params_text = rest.strip().partition(";")
        host, port = split_hostport(sent_by.strip())
        return cls(transport.upper(), host, port, parse_params(params_text))

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport} {self.host}{port}{format_params(self.params)}"

    @property
    def branch(self) -> str | None:
        return param(self.params, "branch")

    @property
    def sent_by(self) -> tuple[str, int]:
        default = 5061 if self.transport == "TLS" else 5060
        return self.host.lower(), self.port if self.port is not None else default


@dataclass(frozen=True, slots=True)
class CSeq:
    """`CSeq: 314159 INVITE`."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        number, _, method = text.strip().partition(" ")
        method = method.strip()
        if not number.isdigit() or len(number) > 10 or not method or " " in method:
            raise SipParseError(f"bad CSeq {text!r}")
        seq = int(number)
        if seq >= 2**31:
            raise SipParseError(f"CSeq {seq} out of range")
        return cls(seq, method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"
