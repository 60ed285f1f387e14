"""SIP messages as values: `Request`, `Response` and their `Headers` (RFC 3261 §7).

Owns: the in-memory form of a SIP message and its serialisation (`bytes(message)`).
Must not: read sockets or clocks, or know about transactions. Parsing bytes into these
classes lives in `frontdesk.sip.parser`; typed views of single header values (URIs,
name-addr, Via, CSeq) live in `frontdesk.sip.headers`.

Header names are stored canonically (compact forms expanded, known names in their RFC
spelling, unknown names kept as received), so lookups are plain string comparisons.
Values are kept exactly as received (after unfolding), so a message that is forwarded or
echoed in a response (Via, From, To, Call-ID, CSeq) keeps its bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

SIP_VERSION = "SIP/2.0"

#: RFC 3261 §7.3.3 and later RFCs' compact header forms.
COMPACT_FORMS: dict[str, str] = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}

_KNOWN_NAMES = (
    "Accept", "Accept-Contact", "Accept-Encoding", "Accept-Language", "Alert-Info", "Allow",
    "Allow-Events", "Authentication-Info", "Authorization", "Call-ID", "Call-Info", "Contact",
    "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
    "Content-Type", "CSeq", "Date", "Error-Info", "Event", "Expires", "From", "Identity",
    "Identity-Info", "In-Reply-To", "Max-Forwards", "MIME-Version", "Min-Expires",
    "Min-SE", "Organization", "P-Asserted-Identity", "P-Preferred-Identity", "Priority",
    "Privacy", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Require", "RAck", "Reason",
    "Record-Route", "Refer-To", "Referred-By", "Reject-Contact", "Reply-To",
    "Request-Disposition", "Require", "Retry-After", "Route", "RSeq", "Server",
    "Session-Expires", "Subject", "Subscription-State", "Supported", "Timestamp", "To",
    "Unsupported", "User-Agent", "Via", "Warning", "WWW-Authenticate",
)  # fmt: skip
_CANONICAL: dict[str, str] = {name.lower(): name for name in _KNOWN_NAMES}
_CANONICAL.update(COMPACT_FORMS)
#: Names that canonical_name() returns for every spelling; other names are kept as
#: received, so looking them up has to compare case-insensitively (RFC 3261 §7.3.5).
_KNOWN_CANONICAL = frozenset(_CANONICAL.values())

#: Headers whose value is a comma-separated list (RFC 3261 §7.3.1) and may be split.
#: Others (notably Date, WWW-Authenticate, Authorization) contain commas of their own.
LIST_HEADERS = frozenset(
    {
        "Accept", "Accept-Encoding", "Accept-Language", "Allow", "Allow-Events", "Contact",
        "Content-Encoding", "Content-Language", "In-Reply-To", "Proxy-Require",
        "Record-Route", "Require", "Route", "Supported", "Unsupported", "Via", "Warning",
    }
)  # fmt: skip


def canonical_name(name: str) -> str:
    """The canonical spelling of a header name: `v` → `Via`, `call-id` → `Call-ID`."""
    return _CANONICAL.get(name.lower(), name)


def split_list(value: str) -> list[str]:
    """Split a comma-separated header value, respecting quotes and <...>.

    `"a, b" <sip:x>, <sip:y;p=1,2>` gives two elements. Empty elements are dropped.
    """
    if "," not in value:
        stripped = value.strip()
        return [stripped] if stripped else []
    items: list[str] = []
    depth = 0
    quoted = False
    escaped = False
    start = 0
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted:
            if char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            item = value[start:index].strip()
            if item:
                items.append(item)
            start = index + 1
    item = value[start:].strip()
    if item:
        items.append(item)
    return items


class Headers:
    """An immutable, ordered list of (canonical name, value) header lines."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple(
            (canonical_name(name), value) for name, value in items
        )

    @classmethod
    def _trusted(cls, items: tuple[tuple[str, str], ...]) -> Headers:
        """Build from items whose names are already canonical (the parser's fast path)."""
        headers = cls.__new__(cls)
        headers._items = items
        return headers

    def get(self, name: str) -> str | None:
        """The value of the first line named `name` (any case, compact or long), or None."""
        name = canonical_name(name)
        for key, value in self._items:
            if key == name:
                return value
        if name not in _KNOWN_CANONICAL:
            lowered = name.lower()
            for key, value in self._items:
                if key.lower() == lowered:
                    return value
        return None

    def get_all(self, name: str) -> list[str]:
        """The values of every line named `name`, in order (not comma-split)."""
        name = canonical_name(name)
        if name in _KNOWN_CANONICAL:
            return [value for key, value in self._items if key == name]
        lowered = name.lower()
        return [value for key, value in self._items if key.lower() == lowered]

    def values(self, name: str) -> list[str]:
        """Every element of a list header across all its lines, comma-split, in order."""
        result: list[str] = []
        for value in self.get_all(name):
            result.extend(split_list(value))
        return result

    def first(self, name: str) -> str | None:
        """The first element of a list header (e.g. the top Via), or None."""
        value = self.get(name)
        if value is None:
            return None
        if "," in value and canonical_name(name) in LIST_HEADERS:
            parts = split_list(value)
            return parts[0] if parts else None
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Headers({list(self._items)!r})"

    def items(self) -> tuple[tuple[str, str], ...]:
        return self._items

    def with_added(self, name: str, value: str) -> Headers:
        return Headers._trusted((*self._items, (canonical_name(name), value)))

    def with_replaced(self, name: str, value: str) -> Headers:
        """Replace every line named `name` by one line (at the first one's place)."""
        name = canonical_name(name)
        out: list[tuple[str, str]] = []
        placed = False
        for key, old in self._items:
            if _same_name(key, name):
                if not placed:
                    out.append((key, value))
                    placed = True
            else:
                out.append((key, old))
        if not placed:
            out.append((name, value))
        return Headers._trusted(tuple(out))

    def without(self, name: str) -> Headers:
        name = canonical_name(name)
        return Headers._trusted(
            tuple(item for item in self._items if not _same_name(item[0], name))
        )


def _same_name(key: str, canonical: str) -> bool:
    """Whether a stored name `key` is the header `canonical` (a canonical_name() result)."""
    if key == canonical:
        return True
    return canonical not in _KNOWN_CANONICAL and key.lower() == canonical.lower()


def _serialise(start_line: str, headers: Headers, body: bytes) -> bytes:
    lines = [start_line]
    for name, value in headers.items():
        if name != "Content-Length":
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + body


@dataclass(frozen=True, slots=True)
class Request:
    """A SIP request. `uri` is the Request-URI as text; `body` is raw bytes."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return _serialise(f"{self.method} {self.uri} {SIP_VERSION}", self.headers, self.body)

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""


@dataclass(frozen=True, slots=True)
class Response:
    """A SIP response."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    def __bytes__(self) -> bytes:
        return _serialise(f"{SIP_VERSION} {self.status} {self.reason}", self.headers, self.body)

    @property
    def call_id(self) -> str:
        return self.headers.get("Call-ID") or ""


Message = Request | Response

#: Default reason phrases for the statuses frontdesk sends.
REASONS: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "Version Not Supported",
}


def reason_for(status: int) -> str:
    return REASONS.get(status, "Unknown")
