"""Bytes to SIP messages: the datagram parser and the stream (TCP) framer (RFC 3261 §7, §18.3).

Owns: turning bytes from the network into `Request` / `Response` values, the syntax checks
an element needs before it can answer (start line, the five headers that address a response,
CSeq, Max-Forwards, Content-Length), and recognising CRLF keep-alives (RFC 5626 §3.5.1).
Must not: read sockets or clocks, look at transactions or dialogs, or judge what a message
asks for (routing, admission). It never raises anything but `SipParseError`, whatever the
bytes: the edge maps `.status` to a response when `.partial` is set, and drops otherwise.

Theory of operation
-------------------
A message is a start line, header lines, an empty line and a body. The parser finds the
first empty line with two `bytes.find` calls (CRLF and LF-only endings are both accepted),
decodes the header section once, unfolds continuation lines (a line starting with SP or HT
belongs to the previous header, joined with one SP) and collects `(canonical name, value)`
tuples. Header names go through a small bounded cache in front of `canonical_name`, so the
common names cost one dict lookup. Nothing else is created per header.

Errors do not stop the header loop: a bad line is remembered and skipped, so that when the
request is rejected, `SipParseError.partial` can still carry a `Request` with the start line
and the readable headers. `partial` is set whenever the start line of a request and its
Via, From, To, Call-ID and CSeq lines were readable (their values may still be wrong, e.g.
a CSeq whose method does not match); it is always None for responses, which we never answer.

Order of the checks, first failure wins: start line (400, 505 for another SIP version,
no partial for an unreadable line), header syntax (400), the five required headers (400),
a second From/To/Call-ID/CSeq/Max-Forwards/Content-Length (400), CSeq syntax and method
(400), Request-URI scheme (400 for a malformed one, 416 for an unsupported one,
400 for escaped headers in a sip/sips URI, RFC 4475 §3.1.2.11), Max-Forwards (400),
Content-Length (400).

Not checked here, on purpose (it would cost every message a second parse): the syntax
inside header values. `frontdesk.sip.headers` parses Via, From/To and Contact when the user
agent reads them, and its `SipParseError` turns into a 400 there (RFC 4475 badinv01,
quotbal, badaspec, baddn, regbadct). The Request-URI is checked for its scheme only, and
for URI headers after the host (its user part may hold "?", RFC 4475 intmeth).

Bodies stay bytes. Datagrams (§18.3): a body longer than Content-Length is truncated, a body
shorter is an error (400), no Content-Length means the rest of the datagram. Streams
(`StreamParser`): Content-Length is required and frames the message.

Character set: the header section is decoded as UTF-8; when it is not valid UTF-8 it is
decoded as Latin-1 instead (old phones send Latin-1 display names, and refusing a call for a
display name helps nobody). Every byte then maps to one character, so nothing is lost; if
such a value is echoed in a response it goes out UTF-8 encoded. Control characters other
than HT (including NUL and a bare CR) are refused in the header section: they are never
legal there and they are how header injection starts. The exception is a quoted-pair
(a backslash and the character, inside a quoted display name: RFC 4475 intmeth).

Keep-alives: a datagram of CRLFs (or other whitespace) is not a message; `is_keepalive`
recognises it, and `parse_message` refuses it with a SipParseError like any other noise.
"""

from __future__ import annotations

import re
from typing import NoReturn

from frontdesk.errors import SipParseError
from frontdesk.sip.headers import CSeq
from frontdesk.sip.message import (
    COMPACT_FORMS,
    SIP_VERSION,
    Headers,
    Request,
    Response,
    canonical_name,
)

__all__ = ["MAX_MESSAGE_SIZE", "StreamParser", "is_keepalive", "parse_message"]

#: The largest message a stream accepts (header section plus body); bigger ones get 413.
MAX_MESSAGE_SIZE = 65536

_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
#: Headers that may appear once only (RFC 4475 §3.3.8 multi01, §3.3.9 mcl01).
_SINGLE = frozenset({"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length"})
_KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip
_URI_SCHEMES = frozenset({"sip", "sips", "tel"})

# RFC 3261 §25.1: token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
_TOKEN = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
# RFC 3986 §3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*")
# Control characters never legal in a header section (HT and LF are handled by the loop).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_KEEPALIVE_BYTES = b"\r\n\t \x00"
_LINE_ENDS = b"\r\n"

# Raw header name as seen on the wire -> canonical name. Bounded, so that a peer sending
# random names cannot grow it without limit; known spellings are seeded.
_NAME_CACHE: dict[str, str] = {}
_NAME_CACHE_LIMIT = 2048


def _seed_names() -> None:
    names = set(COMPACT_FORMS) | set(COMPACT_FORMS.values())
    names.update(
        (
            "Max-Forwards", "CSeq", "Call-ID", "Content-Length", "Content-Type", "Allow",
            "Supported", "User-Agent", "Server", "Expires", "Require", "Record-Route",
            "Route", "Accept", "Date", "Session-Expires", "Min-SE", "P-Asserted-Identity",
            "Privacy", "Remote-Party-ID", "Diversion", "Reason", "Organization",
            "Content-Disposition", "Allow-Events", "Event", "Subscription-State", "RSeq",
            "RAck", "Authorization", "WWW-Authenticate", "Proxy-Authorization",
            "Proxy-Authenticate", "Warning", "Retry-After", "Timestamp",
        )
    )  # fmt: skip
    for name in names:
        for spelling in (name, name.lower(), name.upper()):
            _NAME_CACHE[spelling] = canonical_name(spelling)


_seed_names()


def is_keepalive(data: bytes) -> bool:
    """Whether a datagram is keep-alive noise rather than a message.

    True for the RFC 5626 CRLF ping (`\\r\\n\\r\\n`) and pong (`\\r\\n`), and for the other
    noise phones send to keep NAT bindings open: empty datagrams and runs of SP, HT or NUL.
    Such datagrams are dropped without an answer.
    """
    return not data.strip(_KEEPALIVE_BYTES)


def parse_message(data: bytes) -> Request | Response:
    """Parse one SIP message received as a datagram (RFC 3261 §7, §18.3).

    Leading CRLFs are skipped. Raises `SipParseError` (and nothing else) when the bytes are
    not a usable message; see the module docstring for what `status` and `partial` mean.
    """
    try:
        start = _skip_line_ends(data, 0)
        if start == len(data):
            raise SipParseError("keep-alive, not a message (check is_keepalive first)")
        bounds = _find_head_end(data, start)
        if bounds is None:
            raise SipParseError("no empty line after the header section")
        head_end, body_start = bounds
        head = _read_head(data, start, head_end)
        length = _content_length(head, data_is_stream=False)
        body = data[body_start:]
        if length is not None:
            if len(body) < length:
                raise _error(head, f"body has {len(body)} bytes, Content-Length says {length}")
            if len(body) > length:
                body = body[:length]  # RFC 3261 §18.3: extra bytes on a datagram are dropped
        return _build(head, bytes(body))
    except SipParseError:
        raise
    except Exception as exc:  # the contract is "only SipParseError escapes", whatever the bytes
        raise SipParseError(f"malformed message ({type(exc).__name__})") from exc


class StreamParser:
    """Frames SIP messages on a byte stream (TCP, TLS) by Content-Length (RFC 3261 §18.3).

    `feed` returns the messages completed by the new bytes; bytes of an incomplete message
    stay buffered. CRLF keep-alives between messages are skipped.

    Errors: a message that is framed correctly but malformed is consumed and raised as
    `SipParseError`; messages completed before it in the same `feed` are returned first and
    the error is raised by the next `feed` call (call `feed(b"")` to get it). A framing error
    (missing or bad Content-Length, a message over `max_message_size`) leaves the stream
    unusable: every later `feed` raises again, and the connection should be closed.
    """

    __slots__ = ("_broken", "_buffer", "_max", "_pending", "_scanned")

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message_size
        self._broken: SipParseError | None = None
        # the head of the message whose body is still arriving: (head, body start, end)
        self._pending: tuple[_Head, int, int] | None = None
        # how far the buffer was searched for the empty line (bytes fed one at a time
        # would otherwise rescan the whole buffer on every feed)
        self._scanned = 0

    @property
    def broken(self) -> bool:
        """A framing error made the stream unusable: close the connection."""
        return self._broken is not None

    @property
    def buffered(self) -> int:
        """How many bytes wait for the rest of their message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Request | Response]:
        if self._broken is not None:
            raise self._copy(self._broken)
        self._buffer += data
        messages: list[Request | Response] = []
        while True:
            try:
                message = self._next(keep_on_error=bool(messages))
            except SipParseError:
                if messages:
                    return messages  # the bad message is still buffered; next feed raises
                raise
            if message is None:
                return messages
            messages.append(message)

    def _next(self, *, keep_on_error: bool) -> Request | Response | None:
        buffer = self._buffer
        pending = self._pending
        if pending is None:
            pending = self._frame(buffer)
            if pending is None:
                return None
            self._pending = pending
        head, body_start, end = pending
        if len(buffer) < end:
            return None
        try:
            message = _build(head, bytes(buffer[body_start:end]))
        except Exception as exc:
            if not keep_on_error:  # framed correctly: the stream goes on after it
                del buffer[:end]
                self._pending = None
                self._scanned = 0
            if isinstance(exc, SipParseError):
                raise
            raise SipParseError(f"malformed message ({type(exc).__name__})") from exc
        del buffer[:end]
        self._pending = None
        self._scanned = 0
        return message

    def _frame(self, buffer: bytearray) -> tuple[_Head, int, int] | None:
        """Read the head of the next message once its empty line is in; None before."""
        start = _skip_line_ends(buffer, 0)
        if start:
            del buffer[:start]
            self._scanned = 0
        if not buffer:
            return None
        bounds = _find_head_end(buffer, max(0, self._scanned - 2))
        if bounds is None:
            self._scanned = len(buffer)
            if len(buffer) > self._max:
                self._fail(_too_large("header section too large"))
            return None
        head_end, body_start = bounds
        if body_start > self._max:
            self._fail(_too_large("header section too large"))
        try:
            head = _read_head(buffer, 0, head_end)
            length = _content_length(head, data_is_stream=True)
        except SipParseError as exc:
            self._fail(exc)
        except Exception as exc:  # same contract as parse_message
            broken = SipParseError(f"malformed message ({type(exc).__name__})")
            broken.__cause__ = exc
            self._fail(broken)
        if length is None:
            self._fail(_error(head, "Content-Length is required on a stream"))
        if sum(1 for name, _ in head.items if name == "Content-Length") > 1:
            # RFC 4475 §3.3.9 mcl01: with two lengths the next message's start is unknown
            self._fail(_error(head, "more than one Content-Length on a stream"))
        if body_start + length > self._max:
            self._fail(_error(head, "message too large", 413, "Request Entity Too Large"))
        return head, body_start, body_start + length

    def _fail(self, exc: SipParseError) -> NoReturn:
        self._broken = exc
        raise exc

    @staticmethod
    def _copy(exc: SipParseError) -> SipParseError:
        return SipParseError(str(exc), exc.status, exc.reason, partial=exc.partial)


# --- internals -------------------------------------------------------------------------


class _Head:
    """What was read of a start line and header section (internal, one per message)."""

    __slots__ = ("error", "first", "items", "kind", "method", "reason", "status", "uri")

    def __init__(self) -> None:
        self.kind = ""  # "request", "response", or "" when the start line is unreadable
        self.method = ""
        self.uri = ""
        self.status = 0
        self.reason = ""
        self.items: list[tuple[str, str]] = []
        self.first: dict[str, str] = {}
        # the first problem found: (message, status, reason)
        self.error: tuple[str, int, str] | None = None

    def fail(self, message: str, status: int = 400, reason: str = "Bad Request") -> None:
        if self.error is None:
            self.error = (message, status, reason)


def _skip_line_ends(data: bytes | bytearray, start: int) -> int:
    end = len(data)
    while start < end and data[start] in _LINE_ENDS:
        start += 1
    return start


def _find_head_end(data: bytes | bytearray, start: int) -> tuple[int, int] | None:
    """(index just past the last header line's LF, index of the body) or None."""
    crlf = data.find(b"\n\r\n", start)
    lf = data.find(b"\n\n", start, crlf + 1 if crlf >= 0 else len(data))
    if lf >= 0:
        return lf + 1, lf + 2
    if crlf >= 0:
        return crlf + 1, crlf + 3
    return None


def _read_head(data: bytes | bytearray, start: int, end: int) -> _Head:
    raw = data[start:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    lines.pop()  # the header section ends with a line end, so the last piece is empty
    head = _Head()
    if _CONTROL.search(text) is not None and not _controls_quoted(text):
        head.fail("control character in the header section")
    _read_start_line(head, lines[0])
    _read_header_lines(head, lines)
    return head


def _controls_quoted(text: str) -> bool:
    """Whether every control character is a quoted-pair (`\\` + char, RFC 3261 §25.1).

    RFC 4475 §3.1.1.2 (intmeth) puts an escaped NUL, BEL and DEL in a quoted display name:
    legal, so allowed. A bare CR never is (quoted-pair excludes CR and LF).
    """
    for match in _CONTROL.finditer(text):
        index = match.start()
        if text[index] == "\r" or index == 0 or text[index - 1] != "\\":
            return False
    return True


def _read_start_line(head: _Head, line: str) -> None:
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        if len(parts) < 2:
            head.fail(f"bad status line {line!r}")
            return
        version, code = parts[0], parts[1]
        if version.upper() != SIP_VERSION:
            head.fail(f"unsupported version {version!r}", 505, "Version Not Supported")
            return
        if len(code) != 3 or not code.isdigit() or not code.isascii() or code[0] not in "123456":
            head.fail(f"bad status code {code!r}")
            return
        head.kind = "response"
        head.status = int(code)
        head.reason = parts[2] if len(parts) == 3 else ""
        return
    parts = line.split(" ")
    if len(parts) != 3 or not parts[1]:
        head.fail("bad request line: want METHOD SP Request-URI SP SIP/2.0")
        return
    method, uri, version = parts
    if method not in _KNOWN_METHODS and _TOKEN.fullmatch(method) is None:
        head.fail(f"bad method {method!r}")
        return
    head.kind = "request"
    head.method = method
    head.uri = uri
    if version != SIP_VERSION:
        upper = version.upper()
        if upper == SIP_VERSION:
            return
        if upper.startswith("SIP/"):
            head.fail(f"unsupported version {version!r}", 505, "Version Not Supported")
        else:
            head.kind = ""  # not a SIP request line at all
            head.fail(f"bad version {version!r}")


def _read_header_lines(head: _Head, lines: list[str]) -> None:
    items = head.items
    cache = _NAME_CACHE
    singles: list[str] = []
    for index in range(1, len(lines)):
        line = lines[index]
        if not line:
            continue  # cannot happen after the head split; kept for safety
        first_char = line[0]
        if first_char in " \t":
            more = line.strip(" \t")
            if not items:
                head.fail("continuation line before the first header")
            elif more:
                last_name, last_value = items[-1]
                items[-1] = (last_name, f"{last_value} {more}" if last_value else more)
            continue
        raw, colon, value = line.partition(":")
        if not colon:
            head.fail(f"header line without a colon (line {index + 1})")
            continue
        cached = cache.get(raw)
        if cached is not None:
            name = cached
        else:
            stripped = raw.rstrip(" \t")
            if _TOKEN.fullmatch(stripped) is None:
                head.fail(f"bad header name {raw!r}")
                continue
            name = canonical_name(stripped)
            if len(cache) < _NAME_CACHE_LIMIT:
                cache[raw] = name
        if name in _SINGLE:
            singles.append(name)
        items.append((name, value.strip(" \t")))
    if len(singles) != len(set(singles)):
        head.fail("a header that may appear once appears more than once")
    # reversed, so the first line of each name wins
    head.first = dict(reversed(items))


def _content_length(head: _Head, *, data_is_stream: bool) -> int | None:
    value = head.first.get("Content-Length")
    if value is None:
        return None
    if not value or len(value) > 9 or not value.isdigit() or not value.isascii():
        if data_is_stream:
            raise _error(head, f"bad Content-Length {value!r}")
        head.fail(f"bad Content-Length {value!r}")
        return None
    return int(value)


def _too_large(message: str) -> SipParseError:
    return SipParseError(message, 413, "Request Entity Too Large")


def _partial(head: _Head) -> Request | None:
    if head.kind != "request":
        return None
    first = head.first
    for name in _REQUIRED:
        if name not in first:
            return None
    return Request(head.method, head.uri, Headers._trusted(tuple(head.items)), b"")


def _error(
    head: _Head, message: str, status: int = 400, reason: str = "Bad Request"
) -> SipParseError:
    if head.error is not None:  # an earlier problem wins
        message, status, reason = head.error
    return SipParseError(message, status, reason, partial=_partial(head))


def _build(head: _Head, body: bytes) -> Request | Response:
    if head.error is None:
        _validate(head)
    if head.error is not None:
        raise _error(head, "")
    headers = Headers._trusted(tuple(head.items))
    if head.kind == "request":
        return Request(head.method, head.uri, headers, body)
    return Response(head.status, head.reason, headers, body)


def _validate(head: _Head) -> None:
    first = head.first
    for name in _REQUIRED:
        if name not in first:
            head.fail(f"missing {name} header")
            return
    try:
        cseq = CSeq.parse(first["CSeq"])
    except SipParseError as exc:
        head.fail(str(exc))
        return
    if head.kind != "request":
        return
    if cseq.method != head.method:
        head.fail(f"CSeq method {cseq.method!r} does not match {head.method!r}")
        return
    scheme, colon, rest = head.uri.partition(":")
    if not colon or not rest or _SCHEME.fullmatch(scheme) is None:
        head.fail(f"bad Request-URI {head.uri!r}")
        return
    scheme = scheme.lower()
    if scheme not in _URI_SCHEMES:
        head.fail(f"unsupported URI scheme {scheme!r}", 416, "Unsupported URI Scheme")
        return
    # RFC 4475 §3.1.2.11 escruri: no URI headers in a Request-URI. The user part may hold
    # "?" (intmeth), so look after the last "@" only.
    if scheme != "tel" and ("?" in rest[rest.rfind("@") + 1 :] or "<" in rest or ">" in rest):
        head.fail("escaped headers or <> in the Request-URI")
        return
    max_forwards = first.get("Max-Forwards")
    if max_forwards is not None and (
        not max_forwards.isdigit()
        or not max_forwards.isascii()
        or len(max_forwards) > 10  # leading zeros are fine (RFC 4475 wsinv: 0068)
        or int(max_forwards) > 255
    ):
        head.fail(f"bad Max-Forwards {max_forwards!r}")
