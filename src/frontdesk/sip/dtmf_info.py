"""DTMF carried by SIP INFO: `application/dtmf-relay` and `application/dtmf` bodies.

Owns: reading the key out of an in-dialog INFO's body, and the answer it gets. There is no
RFC for these bodies; what phones and PBXs send (Cisco's `application/dtmf-relay`, which
Yeastar sends when a trunk's DTMF mode is "SIP INFO", and the bare `application/dtmf`):

    application/dtmf-relay:  "Signal=5\\r\\nDuration=160\\r\\n"  (Signal may also be
                             10 for *, 11 for #, 12-15 for A-D: RFC 4733 event codes)
    application/dtmf:        "5"  (or the event code, "11" for #)

Answers: 200 with the key for a DTMF body; 200 and no key for an INFO that is not DTMF (as
before: keep-alive INFOs and unknown packages are accepted and ignored); 400 for a DTMF
body without a key we can read, so a PBX that sends rubbish hears it instead of silence.

Must not: deliver the key anywhere (the user agent reports it as an event) or read
sockets and clocks.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DTMF_CONTENT_TYPES", "InfoDtmf", "read_info_dtmf"]

DTMF_CONTENT_TYPES = ("application/dtmf-relay", "application/dtmf")
_KEYS = "0123456789*#ABCD"  # index = RFC 4733 event code


@dataclass(frozen=True, slots=True)
class InfoDtmf:
    """What an INFO carried: the status to answer and the key (None: not a key press)."""

    status: int
    key: str | None = None


def _key(text: str) -> str | None:
    value = text.strip().upper()
    if len(value) == 1 and value in _KEYS:
        return value
    if value.isdigit() and value.isascii() and int(value) < len(_KEYS):
        return _KEYS[int(value)]
    return None


def read_info_dtmf(content_type: str | None, body: bytes) -> InfoDtmf:
    """The key of an INFO with this Content-Type and body; see the module docstring."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type not in DTMF_CONTENT_TYPES:
        return InfoDtmf(200)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return InfoDtmf(400)
    if media_type == "application/dtmf":
        key = _key(text)
        return InfoDtmf(200, key) if key is not None else InfoDtmf(400)
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name.strip().lower() == "signal":
            key = _key(value)
            return InfoDtmf(200, key) if key is not None else InfoDtmf(400)
    return InfoDtmf(400)
