"""Call setup at the edge: what an offer allows, and the call's media for the answer.

Owns: checking an INVITE's offer before admission is asked (a call we cannot carry is
refused first: no common codec, 488; any `c=` address is fine: one that is not the PBX's
gets symmetric RTP through the call's `RtpLatch`, never RTP of ours), binding the call's
RTP and RTCP sockets on a port from the pool (here, so a taken port is found before the
200 OK), handing them to a media worker (`MediaPool.open`), building the `EdgeCall`, and
returning the answer SDP for that port to the caller (it goes straight into the 200 OK;
nothing is stashed on the dialog). Re-INVITE offers are checked here too.

Must not: decide who may call, or send SIP (the server answers with what this returns).
"""

from __future__ import annotations

import socket

from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.rtp_latch import RtpLatch
from frontdesk.calls.rtp_ports import RtpPortPool
from frontdesk.config import Settings
from frontdesk.edge.allowlist import Allowlist
from frontdesk.edge.call import EdgeCall, Hangup, Transfer
from frontdesk.edge.media_pool import MediaPool
from frontdesk.errors import PortsExhausted
from frontdesk.media.control import OpenCall
from frontdesk.sip.sdp import LocalMedia, SdpAnswer, SessionDescription, negotiate
from frontdesk.sip.useragent import ServerCall

_BIND_ATTEMPTS = 8


def _bound_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class CallSetup:
    """Offers in, bound media and answer SDP out."""

    def __init__(
        self, settings: Settings, allowlist: Allowlist, ports: RtpPortPool, media: MediaPool
    ) -> None:
        self.settings = settings
        self.allowlist = allowlist
        self.ports = ports
        self.media = media

    def check_offer(self, body: bytes, port: int = 0) -> tuple[SessionDescription, SdpAnswer]:
        """The parsed offer and our answer for `port`; `SdpError` (with its status) if not."""
        offer = SessionDescription.parse(body)
        return offer, negotiate(offer, self.local_media(port))

    def local_media(self, port: int) -> LocalMedia:
        settings = self.settings
        return LocalMedia(address=settings.advertised_ip, port=port, codecs=tuple(settings.codecs))

    def open_media(
        self,
        server_call: ServerCall,
        facts: InviteFacts,
        admitted: Admitted,
        negotiated: SdpAnswer,
        now: float,
        on_hangup: Hangup,
        on_transfer: Transfer,
    ) -> tuple[EdgeCall, bytes]:
        """Bind the call's RTP/RTCP ports, hand them to a media worker, and return the
        call with its answer SDP: the answer `check_offer` negotiated, printed with the
        bound port. No round trip: the worker takes the call up when it reads the OPEN."""
        for _attempt in range(_BIND_ATTEMPTS):
            port = self.ports.allocate()
            answer = negotiated.on_port(port)
            host = self._rtp_bind_host(answer.remote_address)
            rtp_sock: socket.socket | None = None
            try:
                rtp_sock = _bound_udp(host, port)
                rtcp_sock = _bound_udp(host, port + 1)
            except OSError:  # taken by someone else: put it back at the end, try another
                if rtp_sock is not None:
                    rtp_sock.close()
                self.ports.release(port)
                continue
            latch = RtpLatch.for_offer(
                answer.remote_address, answer.remote_port, self.allowlist.allows
            )
            spec = OpenCall(
                codec=answer.codec,
                payload_type=answer.payload_type,
                telephone_event_pt=answer.telephone_event_pt,
                ptime_ms=answer.ptime_ms,
                remote_host=answer.remote_address,
                remote_port=answer.remote_port,
            )
            media = self.media.open(spec, rtp_sock, rtcp_sock, latch.remote)
            call = EdgeCall(server_call, facts, admitted, media, port, now, on_hangup, on_transfer)
            call.codec, call.ptime_ms = answer.codec, answer.ptime_ms
            if answer.on_hold:
                call.on_hold_since = now
            return call, answer.sdp
        raise PortsExhausted("no bindable RTP port found")

    def _rtp_bind_host(self, remote_host: str) -> str:
        host = self.settings.sip_host
        if host in ("0.0.0.0", "::", ""):
            return "::" if ":" in remote_host else "0.0.0.0"
        return host
