"""Where a call's RTP goes and whose RTP it takes: the SDP's address, or symmetric RTP.

Owns: the decision, as pure code over addresses (no sockets, no clock). The edge asks
`accept(host, port)` for every datagram on the call's RTP port and sends to `remote`.

Two modes, chosen from the SDP's `c=` address (offer or re-offer):
- **fixed** (`c=` is a PBX address, or the RFC 2543 hold address 0.0.0.0 / ::): exactly
  what the SDP names, as before NAT support: RTP is taken only from that address and
  port, and ours goes there.
- **latching** (`c=` is not a PBX address: a Yeastar behind NAT advertises its LAN address,
  192.168.x.y, while its packets come from the office's public address): nothing is sent
  until RTP arrives from an allowlisted address; that source address and port become
  `remote` (the latch). Asterisk calls this `rtp_symmetric`/comedia, FreeSWITCH
  auto-adjust. Afterwards:
  - RTP from the latched host on a new source port moves the latch there (the NAT
    rebound the PBX's mapping);
  - RTP from any other address, allowlisted or not, is refused (another allowlisted host
    cannot take over a latched call; a stranger never reaches it);
  - a re-offer whose `c=` is still not a PBX address re-opens learning: we keep sending
    to the old latch until RTP comes from an allowlisted source, which becomes the latch;
  - a re-offer for hold (0.0.0.0) changes nothing: no RTP is expected on hold.

Never: send to an address outside the allowlist (`remote` is only ever an allowlisted
source or an allowlisted `c=`), or let a non-allowlisted source's datagram through.

Must not: read packets (the source address is all it sees) or decide time-outs (the
watchdog does: a call whose RTP never comes is freed by the media timeout as usual).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RtpLatch"]

Addr = tuple[str, int]
_HOLD_ADDRESSES = ("0.0.0.0", "::")


@dataclass(slots=True)
class RtpLatch:
    """One call's RTP peer; see the module docstring."""

    allowed: Callable[[str], bool]
    latching: bool
    remote: Addr | None
    learning: bool = False  # latching: the next allowlisted source becomes the latch
    moves: int = 0  # times the latch was set or moved (1 after the first packet)

    @classmethod
    def for_offer(cls, host: str, port: int, allowed: Callable[[str], bool]) -> RtpLatch:
        """The latch for an answered offer whose media address is `host:port`."""
        if host in _HOLD_ADDRESSES or allowed(host):
            return cls(allowed, latching=False, remote=(host, port))
        return cls(allowed, latching=True, remote=None, learning=True)

    def accept(self, host: str, port: int) -> bool:
        """May this datagram reach the call? Latching moves `remote` as a side effect."""
        remote = self.remote
        if not self.latching:
            return remote is not None and remote[0] == host and remote[1] == port
        if remote is not None and remote[0] == host and remote[1] == port:
            return True
        if not self.allowed(host):
            return False
        if self.learning or remote is None or remote[0] == host:
            self.remote = (host, port)
            self.learning = False
            self.moves += 1
            return True
        return False

    def accepts_rtcp_from(self, host: str) -> bool:
        """RTCP comes from the RTP host (its port is RTP's + 1, or wherever NAT put it)."""
        return self.remote is not None and self.remote[0] == host

    def reoffered(self, host: str, port: int) -> None:
        """A re-INVITE's SDP named `host:port` (the PBX's RTP may move)."""
        if host in _HOLD_ADDRESSES:
            if not self.latching:
                self.remote = (host, port)
            return
        if self.allowed(host):
            self.latching = False
            self.learning = False
            self.remote = (host, port)
            return
        # still (or now) behind NAT: learn again, sending to the old allowlisted peer until
        # RTP comes from the new one
        if self.remote is not None and self.remote[0] in _HOLD_ADDRESSES:
            self.remote = None
        self.latching = True
        self.learning = True
