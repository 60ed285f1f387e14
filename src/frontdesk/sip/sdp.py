"""SDP bodies (RFC 4566) and the answerer's side of offer/answer (RFC 3264).

Owns: `SessionDescription` (parse bytes, print bytes), and `negotiate`, which turns a
caller's offer and our `LocalMedia` into the answer we send plus what the media layer needs
to know (codec, payload types, packet time, where to send RTP, whether the call is on hold).
Must not: open sockets, pick RTP ports or know about calls; the caller passes the port in.

Parsing is tolerant where real phones are sloppy (LF-only line ends, blank lines, Latin-1
text in `s=`) and strict where a wrong guess would send media to the wrong place (`o=`,
`c=`, `m=` syntax). Line types we do not know are ignored (RFC 4566 §5 allows it for
`x=`-style extensions; they are dropped when the description is printed again).
Descriptions that follow RFC 4566's line order print back to the same bytes.

Errors are `SdpError`: status 400 for a malformed body, 488 when the offer is well formed but
has nothing we can use (no active RTP/AVP audio stream, no common codec).
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass, field, replace

from frontdesk.errors import SdpError

__all__ = [
    "Attribute",
    "Connection",
    "LocalMedia",
    "MediaDescription",
    "Origin",
    "SdpAnswer",
    "SessionDescription",
    "negotiate",
]

#: (name, value) of an `a=` line; value None for a flag such as `a=sendrecv`.
Attribute = tuple[str, str | None]

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}
#: RFC 3551 static payload types we can answer without an rtpmap.
_STATIC_TYPES: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000),
    8: ("PCMA", 8000),
    9: ("G722", 8000),  # 16 kHz audio, 8000 in SDP and RTP (RFC 3551 §4.5.2)
}
_ADDRESS_TYPES = ("IP4", "IP6")


@dataclass(frozen=True, slots=True)
class Origin:
    """`o=<username> <sess-id> <sess-version> <nettype> <addrtype> <address>`."""

    username: str
    session_id: str
    session_version: str
    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Origin:
        parts = value.split()
        if len(parts) != 6:
            raise SdpError(f"bad o= line {value!r}")
        username, session_id, session_version, nettype, addrtype, address = parts
        if not session_id.isdigit() or not session_version.isdigit():
            raise SdpError(f"bad session id or version in o= line {value!r}")
        return cls(username, session_id, session_version, nettype, addrtype, address)

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass(frozen=True, slots=True)
class Connection:
    """`c=<nettype> <addrtype> <connection-address>`; `address` keeps any `/ttl/count`."""

    nettype: str
    addrtype: str
    address: str

    @classmethod
    def parse(cls, value: str) -> Connection:
        parts = value.split()
        if len(parts) != 3:
            raise SdpError(f"bad c= line {value!r}")
        nettype, addrtype, address = parts
        if nettype.upper() != "IN" or addrtype.upper() not in _ADDRESS_TYPES:
            raise SdpError(f"unsupported network or address type in c= line {value!r}")
        return cls(nettype, addrtype, address)

    @property
    def host(self) -> str:
        """The address without a multicast `/ttl` or `/count` suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_hold(self) -> bool:
        """RFC 2543 hold: `c=IN IP4 0.0.0.0` (RFC 3264 §8.4 says accept it)."""
        return self.host == "0.0.0.0"

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


def _attribute(attributes: tuple[Attribute, ...], name: str) -> str | None:
    for key, value in attributes:
        if key == name:
            return "" if value is None else value
    return None


def _direction(attributes: tuple[Attribute, ...]) -> str | None:
    for key, _ in attributes:
        if key in DIRECTIONS:
            return key
    return None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """One `m=` section and the lines under it."""

    media: str
    port: int
    proto: str
    formats: tuple[str, ...]
    port_count: int | None = None
    information: str | None = None
    connections: tuple[Connection, ...] = ()
    bandwidths: tuple[str, ...] = ()
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()

    @classmethod
    def parse_m_line(cls, value: str) -> MediaDescription:
        parts = value.split()
        if len(parts) < 3:
            raise SdpError(f"bad m= line {value!r}")
        media, port_text, proto, *formats = parts
        port_part, slash, count_part = port_text.partition("/")
        port_count = None
        if slash:
            if not count_part.isdigit() or not count_part.isascii():
                raise SdpError(f"bad port count in m= line {value!r}")
            port_count = int(count_part)
        if not port_part.isdigit() or not port_part.isascii() or int(port_part) > 65535:
            raise SdpError(f"bad port in m= line {value!r}")
        return cls(media, int(port_part), proto, tuple(formats), port_count)

    def attribute(self, name: str) -> str | None:
        """The value of the first `a=name` line ("" for a flag), or None."""
        return _attribute(self.attributes, name)

    def attribute_values(self, name: str) -> list[str]:
        return [value or "" for key, value in self.attributes if key == name]

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, or None when there is none."""
        return _direction(self.attributes)

    def rtpmap(self) -> dict[str, tuple[str, int, int | None]]:
        """Payload type → (encoding name, clock rate, channels) from the `a=rtpmap` lines.

        Malformed rtpmap lines are left out (RFC 4566 §5.13: ignore what you do not
        understand); the payload type then counts as unmapped.
        """
        result: dict[str, tuple[str, int, int | None]] = {}
        for text in self.attribute_values("rtpmap"):
            payload_type, _, encoding = text.strip().partition(" ")
            pieces = encoding.strip().split("/")
            if not payload_type or len(pieces) not in (2, 3):
                continue
            name, rate = pieces[0], pieces[1]
            channels = pieces[2] if len(pieces) == 3 else None
            if not name or not rate.isdigit() or not rate.isascii():
                continue
            if channels is not None and (not channels.isdigit() or not channels.isascii()):
                continue
            if payload_type not in result:
                result[payload_type] = (
                    name,
                    int(rate),
                    int(channels) if channels is not None else None,
                )
        return result

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={' '.join((self.media, port, self.proto, *self.formats))}"]
        if self.information is not None:
            out.append(f"i={self.information}")
        out.extend(f"c={connection}" for connection in self.connections)
        out.extend(f"b={bandwidth}" for bandwidth in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(_attribute_line(attribute) for attribute in self.attributes)
        return out


def _attribute_line(attribute: Attribute) -> str:
    name, value = attribute
    return f"a={name}" if value is None else f"a={name}:{value}"


@dataclass(frozen=True, slots=True)
class SessionDescription:
    """An SDP session description (RFC 4566 §5), lines kept in the RFC's order."""

    origin: Origin
    name: str | None = "-"
    version: int = 0
    information: str | None = None
    uri: str | None = None
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    connection: Connection | None = None
    bandwidths: tuple[str, ...] = ()
    #: `t=` and `r=` lines in order, as (letter, value)
    timing: tuple[tuple[str, str], ...] = (("t", "0 0"),)
    timezones: str | None = None
    key: str | None = None
    attributes: tuple[Attribute, ...] = ()
    media: tuple[MediaDescription, ...] = field(default=())

    @classmethod
    def parse(cls, data: bytes) -> SessionDescription:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
        return _Reader().read(text)

    def __bytes__(self) -> bytes:
        lines = [f"v={self.version}", f"o={self.origin}"]
        if self.name is not None:
            lines.append(f"s={self.name}")
        if self.information is not None:
            lines.append(f"i={self.information}")
        if self.uri is not None:
            lines.append(f"u={self.uri}")
        lines.extend(f"e={email}" for email in self.emails)
        lines.extend(f"p={phone}" for phone in self.phones)
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines.extend(f"b={bandwidth}" for bandwidth in self.bandwidths)
        lines.extend(f"{letter}={value}" for letter, value in self.timing)
        if self.timezones is not None:
            lines.append(f"z={self.timezones}")
        if self.key is not None:
            lines.append(f"k={self.key}")
        lines.extend(_attribute_line(attribute) for attribute in self.attributes)
        for media in self.media:
            lines.extend(media.lines())
        return ("\r\n".join(lines) + "\r\n").encode("utf-8")

    def attribute(self, name: str) -> str | None:
        """The value of the first session-level `a=name` line ("" for a flag), or None."""
        return _attribute(self.attributes, name)

    @property
    def direction(self) -> str | None:
        return _direction(self.attributes)


class _Reader:
    """One pass over the lines of a description (internal)."""

    def __init__(self) -> None:
        self.session: dict[str, object] = {}
        self.emails: list[str] = []
        self.phones: list[str] = []
        self.bandwidths: list[str] = []
        self.timing: list[tuple[str, str]] = []
        self.attributes: list[Attribute] = []
        self.media: list[MediaDescription] = []
        # the m= section being read, as keyword arguments for MediaDescription
        self.current: MediaDescription | None = None
        self.current_connections: list[Connection] = []
        self.current_bandwidths: list[str] = []
        self.current_attributes: list[Attribute] = []
        self.current_extra: dict[str, str] = {}

    def read(self, text: str) -> SessionDescription:
        lines = [line.rstrip("\r") for line in text.split("\n")]
        lines = [line for line in lines if line.strip()]
        if not lines:
            raise SdpError("empty session description")
        if lines[0].rstrip() != "v=0":
            raise SdpError(f"session description must start with v=0, not {lines[0]!r}")
        for line in lines[1:]:
            letter, equals, value = line.partition("=")
            if not equals or len(letter) != 1 or not letter.isalpha():
                raise SdpError(f"bad SDP line {line!r}")
            if letter == "m":
                self._close_media()
                self.current = MediaDescription.parse_m_line(value)
            elif self.current is not None:
                self._media_line(letter, value)
            else:
                self._session_line(letter, value)
        self._close_media()
        origin = self.session.get("o")
        if not isinstance(origin, Origin):
            raise SdpError("session description has no o= line")
        connection = self.session.get("c")
        return SessionDescription(
            origin=origin,
            name=_text(self.session.get("s")),
            information=_text(self.session.get("i")),
            uri=_text(self.session.get("u")),
            emails=tuple(self.emails),
            phones=tuple(self.phones),
            connection=connection if isinstance(connection, Connection) else None,
            bandwidths=tuple(self.bandwidths),
            timing=tuple(self.timing),
            timezones=_text(self.session.get("z")),
            key=_text(self.session.get("k")),
            attributes=tuple(self.attributes),
            media=tuple(self.media),
        )

    def _session_line(self, letter: str, value: str) -> None:
        if letter == "o":
            if "o" in self.session:
                raise SdpError("more than one o= line")
            self.session["o"] = Origin.parse(value)
        elif letter == "c":
            if "c" in self.session:
                raise SdpError("more than one session-level c= line")
            self.session["c"] = Connection.parse(value)
        elif letter in "siuzk":
            self.session.setdefault(letter, value)
        elif letter == "e":
            self.emails.append(value)
        elif letter == "p":
            self.phones.append(value)
        elif letter == "b":
            self.bandwidths.append(value)
        elif letter in "tr":
            self.timing.append((letter, value))
        elif letter == "a":
            self.attributes.append(_parse_attribute(value))
        elif letter == "v":
            raise SdpError("v= line in the middle of a description")
        # other letters: not understood, ignored

    def _media_line(self, letter: str, value: str) -> None:
        if letter == "c":
            self.current_connections.append(Connection.parse(value))
        elif letter == "b":
            self.current_bandwidths.append(value)
        elif letter == "a":
            self.current_attributes.append(_parse_attribute(value))
        elif letter in "ik":
            self.current_extra.setdefault(letter, value)
        elif letter in "vo":
            raise SdpError(f"{letter}= line inside a media section")
        # other letters: not understood, ignored

    def _close_media(self) -> None:
        current = self.current
        if current is None:
            return
        self.media.append(
            MediaDescription(
                media=current.media,
                port=current.port,
                proto=current.proto,
                formats=current.formats,
                port_count=current.port_count,
                information=self.current_extra.get("i"),
                connections=tuple(self.current_connections),
                bandwidths=tuple(self.current_bandwidths),
                key=self.current_extra.get("k"),
                attributes=tuple(self.current_attributes),
            )
        )
        self.current = None
        self.current_connections = []
        self.current_bandwidths = []
        self.current_attributes = []
        self.current_extra = {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _parse_attribute(value: str) -> Attribute:
    name, colon, rest = value.partition(":")
    if not name:
        raise SdpError(f"bad a= line {value!r}")
    return (name, rest if colon else None)


# --- offer / answer --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalMedia:
    """What we can do: where we receive RTP, which codecs we prefer, our o= numbers.

    `codecs` is in order of preference; `session_id` / `session_version` go into `o=`
    (RFC 3264 §5: the version increases by one for each new description in a session).
    """

    address: str
    port: int
    codecs: tuple[str, ...] = ("G722", "PCMU", "PCMA")  # HD voice first when offered
    telephone_event: bool = True
    #: 0 is fine for a description nobody keeps (a probe); a call passes its own numbers
    session_id: int = 0
    session_version: int = 0


@dataclass(frozen=True, slots=True)
class SdpAnswer:
    """The answer to send and what the media layer needs from the negotiation."""

    sdp: bytes
    codec: str
    payload_type: int
    telephone_event_pt: int | None
    ptime_ms: int
    remote_address: str
    remote_port: int
    #: the offer's direction for the chosen stream (sendrecv when it names none)
    direction: str
    #: the offerer holds the call: sendonly / inactive, or RFC 2543's c=0.0.0.0
    on_hold: bool
    #: the direction we answered with (RFC 3264 §6.1)
    answer_direction: str = "sendrecv"
    #: the answer as a value, for callers that want to look at it
    description: SessionDescription | None = None
    #: which of the answer's m-lines carries the call (the others are answered with port 0)
    stream_index: int = 0

    def on_port(self, port: int) -> SdpAnswer:
        """This answer with our RTP port set: an offer is negotiated once, before the port
        is known, and printed again for the port the call binds."""
        if self.description is None:
            raise ValueError("an answer without its description cannot change port")
        media = list(self.description.media)
        media[self.stream_index] = replace(media[self.stream_index], port=port)
        description = replace(self.description, media=tuple(media))
        return replace(self, sdp=bytes(description), description=description)


def negotiate(offer: SessionDescription, local: LocalMedia) -> SdpAnswer:
    """Answer `offer` (RFC 3264 §6) with one audio stream; raise `SdpError` (488) if we can't.

    The first audio m-line with RTP/AVP and a port other than 0 is used; every other m-line
    is answered with port 0. Codec: the first of `local.codecs` the offer contains (static
    payload types 0, 8 and 9 count without an rtpmap; rtpmap'd names match case-insensitively
    at 8000 Hz). telephone-event: the offer's payload type, when it offers one at 8000 Hz.
    Packet time: the offer's a=ptime when it is 20 or 30 (and not above a=maxptime), else 20.
    """
    index = _pick_audio(offer)
    stream = offer.media[index]
    rtpmap = stream.rtpmap()
    codec, payload_type = _pick_codec(stream, rtpmap, local.codecs)
    te_pt = _telephone_event(stream, rtpmap) if local.telephone_event else None
    ptime = _ptime(stream, offer)

    connection = stream.connections[0] if stream.connections else offer.connection
    if connection is None:
        raise SdpError("offer has no c= line for its audio stream")
    direction = stream.direction or offer.direction or "sendrecv"
    on_hold = direction in ("sendonly", "inactive") or connection.is_hold
    answer_direction = _ANSWER_DIRECTION[direction]

    formats = [str(payload_type)]
    attributes: list[Attribute] = [("rtpmap", f"{payload_type} {codec}/8000")]
    if te_pt is not None:
        formats.append(str(te_pt))
        attributes.append(("rtpmap", f"{te_pt} telephone-event/8000"))
        attributes.append(("fmtp", f"{te_pt} 0-16"))
    attributes.append(("ptime", str(ptime)))
    attributes.append((answer_direction, None))

    media: list[MediaDescription] = []
    for position, offered in enumerate(offer.media):
        if position == index:
            media.append(
                MediaDescription(
                    "audio", local.port, stream.proto, tuple(formats), attributes=tuple(attributes)
                )
            )
        else:
            # RFC 3264 §6: a rejected stream keeps its media type, proto and formats
            media.append(
                MediaDescription(offered.media, 0, offered.proto, offered.formats or ("0",))
            )
    addrtype = _address_type(local.address)
    description = SessionDescription(
        origin=Origin(
            "frontdesk",
            str(local.session_id),
            str(local.session_version),
            "IN",
            addrtype,
            local.address,
        ),
        name="frontdesk",
        connection=Connection("IN", addrtype, local.address),
        media=tuple(media),
    )
    return SdpAnswer(
        sdp=bytes(description),
        codec=codec,
        payload_type=payload_type,
        telephone_event_pt=te_pt,
        ptime_ms=ptime,
        remote_address=connection.host,
        remote_port=stream.port,
        direction=direction,
        on_hold=on_hold,
        answer_direction=answer_direction,
        description=description,
        stream_index=index,
    )


def _pick_audio(offer: SessionDescription) -> int:
    seen_disabled = False
    for index, media in enumerate(offer.media):
        if media.media.lower() != "audio" or media.proto.upper() != "RTP/AVP":
            continue
        if media.port == 0:
            seen_disabled = True
            continue
        return index
    if seen_disabled:
        raise SdpError("the offer's RTP/AVP audio stream has port 0", 488)
    raise SdpError("the offer has no RTP/AVP audio stream", 488)


def _pick_codec(
    stream: MediaDescription,
    rtpmap: dict[str, tuple[str, int, int | None]],
    preferred: tuple[str, ...],
) -> tuple[str, int]:
    offered: list[tuple[str, int]] = []  # (upper-case encoding name, payload type)
    for fmt in stream.formats:
        if not fmt.isdigit() or not fmt.isascii() or int(fmt) > 127:
            continue
        payload_type = int(fmt)
        mapped = rtpmap.get(fmt)
        if mapped is not None:
            name, rate, channels = mapped
            if rate == 8000 and channels in (None, 1):
                offered.append((name.upper(), payload_type))
        elif payload_type in _STATIC_TYPES:
            offered.append((_STATIC_TYPES[payload_type][0], payload_type))
    for codec in preferred:
        wanted = codec.upper()
        for name, payload_type in offered:
            if name == wanted:
                return wanted, payload_type
    raise SdpError(
        f"no common codec: offer has {[name for name, _ in offered] or list(stream.formats)}",
        488,
    )


def _telephone_event(
    stream: MediaDescription, rtpmap: dict[str, tuple[str, int, int | None]]
) -> int | None:
    for fmt in stream.formats:
        mapped = rtpmap.get(fmt)
        if mapped is None or not fmt.isdigit() or not fmt.isascii() or int(fmt) > 127:
            continue
        name, rate, _ = mapped
        if name.lower() == "telephone-event" and rate == 8000:
            return int(fmt)
    return None


def _ptime(stream: MediaDescription, offer: SessionDescription) -> int:
    ptime = _number(stream.attribute("ptime") or offer.attribute("ptime"))
    maxptime = _number(stream.attribute("maxptime") or offer.attribute("maxptime"))
    if ptime not in (20, 30):
        return 20
    if maxptime is not None and maxptime < ptime:
        return 20
    return ptime


def _number(text: str | None) -> int | None:
    if not text:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    return int(value) if value == int(value) else None


def _address_type(address: str) -> str:
    try:
        return "IP6" if ipaddress.ip_address(address).version == 6 else "IP4"
    except ValueError:
        return "IP6" if ":" in address else "IP4"
