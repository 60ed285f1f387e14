"""The UAS side of one INVITE dialog (RFC 3261 §12), and the requests it sends.

Owns: the dialog's identity (Call-ID, local and remote tags), its parties, remote target
and route set, the two CSeq spaces, and building in-dialog requests (our BYE).
Must not: send anything or keep timers; `useragent.py` does that.

Where in-dialog requests go: to the address the dialog-creating INVITE came from, not to
the remote target's host. On a peer trunk the PBX is the only party we talk to, the
allowlist trusts exactly that address, and a Contact naming another host (a NATed or
misconfigured PBX) would otherwise make us send to an address we never trusted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from frontdesk.sip.headers import NameAddr
from frontdesk.sip.message import Headers, Request

Addr = tuple[str, int]


class CallState(enum.Enum):
    PENDING = "pending"  # INVITE received, no final response yet
    ANSWERED = "answered"  # 2xx sent, waiting for ACK
    CONFIRMED = "confirmed"  # ACK received
    ENDED = "ended"  # BYE either way, CANCEL, rejection, ACK timeout


@dataclass(slots=True, eq=False)
class Dialog:
    """Dialog state from the UAS point of view."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_party: str  # our To header value, with our tag (becomes From in our requests)
    remote_party: str  # the peer's From header value (becomes To in our requests)
    remote_target: str  # the peer's Contact URI
    route_set: tuple[str, ...]  # Record-Route values, in order (§12.1.1)
    peer: Addr
    remote_cseq: int
    local_cseq: int = 1
    state: CallState = CallState.PENDING
    transport: str = "UDP"  # how the peer reached us (its Via): our requests go the same way
    local_sdp: bytes = b""  # our current session description (the last SDP we sent)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_invite(cls, invite: Request, local_tag: str, peer: Addr) -> Dialog:
        headers = invite.headers
        from_value = headers.get("From") or ""
        to_value = headers.get("To") or ""
        remote = NameAddr.parse(from_value)
        local = NameAddr.parse(to_value).with_tag(local_tag)
        contact = headers.first("Contact")
        target = NameAddr.parse(contact).uri if contact else remote.uri
        cseq_text = headers.get("CSeq") or "0 INVITE"
        via = headers.first("Via") or ""
        transport = via.split("/", 2)[2].split(None, 1)[0].upper() if via.count("/") >= 2 else "UDP"
        return cls(
            call_id=invite.call_id,
            local_tag=local_tag,
            remote_tag=remote.tag or "",
            local_party=str(local),
            remote_party=from_value,
            remote_target=target,
            route_set=tuple(headers.values("Record-Route")),
            peer=peer,
            remote_cseq=int(cseq_text.split(None, 1)[0]),
            transport=transport if transport in ("UDP", "TCP") else "UDP",
        )

    def build_request(
        self, method: str, via: str, body: bytes = b"", *extra: tuple[str, str]
    ) -> Request:
        """An in-dialog request (§12.2.1.1) with the next local CSeq."""
        self.local_cseq += 1
        items: list[tuple[str, str]] = [
            ("Via", via),
            ("Max-Forwards", "70"),
            ("From", self.local_party),
            ("To", self.remote_party),
            ("Call-ID", self.call_id),
            ("CSeq", f"{self.local_cseq} {method}"),
        ]
        items.extend(("Route", route) for route in self.route_set)
        items.extend(extra)
        return Request(method, self.remote_target, Headers._trusted(tuple(items)), body)
