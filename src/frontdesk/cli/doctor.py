"""`frontdesk doctor`: check a node's settings and ports before it takes calls.

Owns: the checks and their verdicts, each a `CheckResult` (ok / warn / fail, with a detail
a person can act on). Most checks are pure functions of settings values, so the tests call
them directly; only `check_sip_port` and `check_rtp_ports` touch the machine, and only by
binding a socket for a moment and closing it again.
Must not: change anything (no files, no firewall, no database), or keep a port open.

The checks, in the order `run_checks` runs them:
- rtp capacity: one call takes one even RTP port, with RTCP on the next (odd) port, so the
  range holds `rtp_capacity(range)` calls; fewer than NODE_MAX_CALLS fails.
- pbx allowlist: empty fails (nobody could call); a network that admits every address
  (0.0.0.0/0, ::/0, or ::ffff:0:0/96, which is all of IPv4 written in IPv6) fails; a very
  broad one (IPv4 wider than /8, IPv6 wider than /32) warns.
- public ip: what SDP and Contact will advertise. Unset, loopback, unspecified or
  link-local warns, unless the allowlist is loopback-only (a local demo); a private
  address while the PBX has a public one warns (the PBX could not reach it).
- pbx nat: what a PBX behind NAT (a Yeastar in an office, its LAN address in SDP) should
  set, and what frontdesk does without it (symmetric RTP); informational, always ok.
- sip port: UDP and TCP on SIP_HOST:SIP_PORT bind (free) or not (taken: fail).
- rtp ports: a spread-out sample of the range's even ports (and their odd partners) bind;
  a few taken warns, a quarter or more of the sample taken fails.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from frontdesk.agent.capacity import node_capacity
from frontdesk.config import Settings
from frontdesk.edge.media_pool import media_workers_for

__all__ = [
    "CheckResult",
    "Status",
    "bind_problem",
    "check_allowlist",
    "check_capacity",
    "check_media_workers",
    "check_pbx_nat",
    "check_public_ip",
    "check_rtp_ports",
    "check_sip_port",
    "judge_rtp_sample",
    "rtp_capacity",
    "run_checks",
    "sample_rtp_ports",
]

Status = Literal["ok", "warn", "fail"]

#: every IPv4 address, written as IPv4-mapped IPv6 addresses
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")
_BROAD_PREFIX = {4: 8, 6: 32}
_RTP_SAMPLE = 32
_RTP_FAIL_SHARE = 0.25


@dataclass(frozen=True)
class CheckResult:
    """One verdict: `name` of the check, `status` ok / warn / fail, and what was found."""

    name: str
    status: Status
    detail: str


# --------------------------------------------------------------------------- pure checks


def rtp_capacity(port_range: tuple[int, int]) -> int:
    """How many calls the inclusive range holds: even ports p with p+1 also in range."""
    low, high = port_range
    if high < low:
        return 0
    first = low + (low % 2)
    last = high - 1  # p + 1 must be <= high
    if last < first:
        return 0
    return (last - first) // 2 + 1


def check_capacity(port_range: tuple[int, int], node_max_calls: int) -> CheckResult:
    """RTP range against the node's call limit."""
    low, high = port_range
    capacity = rtp_capacity(port_range)
    detail = (
        f"RTP {low}-{high} holds {capacity} calls (one even port per call, RTCP on the next "
        f"odd port); NODE_MAX_CALLS is {node_max_calls}"
    )
    if capacity < node_max_calls:
        need_high = low + (low % 2) + 2 * node_max_calls - 1
        return CheckResult(
            "rtp capacity",
            "fail",
            f"{detail}: widen RTP_PORTS to at least {low}-{need_high} "
            f"or lower NODE_MAX_CALLS to {capacity}",
        )
    return CheckResult("rtp capacity", "ok", detail)


def check_media_workers(workers: int, cores: int) -> CheckResult:
    """The media worker processes (RTP off the SIP loop) against the machine's cores."""
    detail = (
        f"{workers} media worker process(es) carry the calls' RTP on {cores} core(s), "
        "beside the SIP loop and the agent workers (FRONTDESK_MEDIA_WORKERS)"
    )
    if cores > 1 and workers >= cores:
        return CheckResult(
            "media workers",
            "warn",
            f"{detail}: as many as the cores leaves SIP and the agents no core of their own; "
            f"set FRONTDESK_MEDIA_WORKERS below {cores}",
        )
    return CheckResult("media workers", "ok", detail)


def _networks(addresses: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item.strip(), strict=False) for item in addresses]


def check_allowlist(addresses: Sequence[str]) -> CheckResult:
    """The PBX allowlist: set, parseable, and not open to everyone."""
    name = "pbx allowlist"
    if not addresses:
        return CheckResult(
            name,
            "fail",
            "FRONTDESK_PBX_ADDRESSES is empty: no PBX could call (set the PBX address or CIDR)",
        )
    try:
        networks = _networks(addresses)
    except ValueError as exc:
        return CheckResult(name, "fail", f"not an IP address or CIDR: {exc}")
    for network in networks:
        if network.prefixlen == 0 or (
            isinstance(network, ipaddress.IPv6Network) and network.supernet_of(_MAPPED_V4)
        ):
            return CheckResult(
                name,
                "fail",
                f"{network} admits every address: anyone could place calls; "
                "list the PBX's own address(es)",
            )
    broad = [n for n in networks if n.prefixlen < _BROAD_PREFIX[n.version]]
    listed = ", ".join(str(n.network_address) if n.num_addresses == 1 else str(n) for n in networks)
    if broad:
        return CheckResult(
            name,
            "warn",
            f"{', '.join(str(n) for n in broad)} is very broad "
            f"(a PBX trunk is usually one address or a small range); allowlist: {listed}",
        )
    return CheckResult(name, "ok", f"only {listed} may send SIP and RTP")


def _loopback_only(addresses: Sequence[str]) -> bool:
    try:
        networks = _networks(addresses)
    except ValueError:
        return False
    return bool(networks) and all(n.is_loopback for n in networks)


def check_public_ip(
    public_ip: str | None, pbx_addresses: Sequence[str], advertised: str
) -> CheckResult:
    """Is the address put in SDP and Contact one the PBX can reach?"""
    name = "public ip"
    local_demo = _loopback_only(pbx_addresses)
    if not public_ip:
        if local_demo:
            return CheckResult(name, "ok", f"unset; the PBX is local, {advertised} is advertised")
        return CheckResult(
            name,
            "warn",
            f"FRONTDESK_PUBLIC_IP is unset: SDP and Contact will carry {advertised}; "
            "set the address the PBX reaches this node on",
        )
    try:
        address = ipaddress.ip_address(public_ip)
    except ValueError:
        return CheckResult(name, "fail", f"{public_ip!r} is not an IP address")
    if address.is_loopback or address.is_unspecified or address.is_link_local:
        kind = (
            "loopback"
            if address.is_loopback
            else "unspecified"
            if address.is_unspecified
            else "link-local"
        )
        if local_demo and not address.is_unspecified:
            return CheckResult(name, "ok", f"{public_ip} ({kind}); the PBX is local too")
        return CheckResult(
            name,
            "warn",
            f"{public_ip} is {kind}: a PBX on another machine cannot send RTP to it",
        )
    try:
        pbx_public = any(n.is_global for n in _networks(pbx_addresses))
    except ValueError:
        pbx_public = False
    if address.is_private and pbx_public:
        return CheckResult(
            name,
            "warn",
            f"{public_ip} is a private address but the PBX has a public one: "
            "it cannot reach this node there (set the NAT's public address)",
        )
    return CheckResult(name, "ok", f"SDP and Contact carry {public_ip}")


def check_pbx_nat(pbx_addresses: Sequence[str]) -> CheckResult:
    """Advice for a PBX behind NAT, and what frontdesk does when it is not followed."""
    name = "pbx nat"
    without = (
        "without it frontdesk still answers: it sends RTP only to the source of the RTP "
        "that arrives from a PBX address (symmetric RTP), and nothing before that RTP arrives"
    )
    try:
        networks = _networks(pbx_addresses)
    except ValueError:
        networks = []
    if networks and all(not n.is_global for n in networks):
        return CheckResult(
            name,
            "ok",
            "the PBX is on a private network or this machine: no NAT expected between it and "
            f"frontdesk; if its SDP names an address that is not a PBX address, {without}",
        )
    return CheckResult(
        name,
        "ok",
        "if the Yeastar is behind NAT (its SDP carries its LAN address), set its SIP NAT "
        "settings: External IP Address = the office's public address (the one in "
        "FRONTDESK_PBX_ADDRESSES), Local Network Identification = its LAN (for example "
        f"192.168.1.0/255.255.255.0), NAT Mode = Yes; {without}. The office firewall must "
        "let the PBX's RTP out and our replies back in (the PBX sends first)",
    )


def sample_rtp_ports(port_range: tuple[int, int], count: int = _RTP_SAMPLE) -> list[int]:
    """Up to `count` even RTP ports spread evenly over the range (first and last included)."""
    low, _ = port_range
    capacity = rtp_capacity(port_range)
    if capacity == 0 or count <= 0:
        return []
    first = low + (low % 2)
    if capacity <= count:
        return [first + 2 * i for i in range(capacity)]
    if count == 1:
        return [first]
    step = (capacity - 1) / (count - 1)
    return sorted({first + 2 * round(i * step) for i in range(count)})


def judge_rtp_sample(sampled: Sequence[int], taken: dict[int, str]) -> CheckResult:
    """Verdict over probed ports: `taken` maps each taken even port to why."""
    name = "rtp ports"
    if not sampled:
        return CheckResult(name, "fail", "the RTP range holds no even/odd port pair")
    if not taken:
        return CheckResult(name, "ok", f"{len(sampled)} sampled port pairs are free")
    shown = ", ".join(f"{port} ({why})" for port, why in sorted(taken.items())[:5])
    more = f" and {len(taken) - 5} more" if len(taken) > 5 else ""
    detail = f"{len(taken)} of {len(sampled)} sampled port pairs are taken: {shown}{more}"
    if len(taken) / len(sampled) >= _RTP_FAIL_SHARE:
        return CheckResult(name, "fail", f"{detail}; move RTP_PORTS to a free range")
    return CheckResult(name, "warn", f"{detail}; calls given those ports would fail")


# --------------------------------------------------------------------------- probes


def bind_problem(host: str, port: int, kind: int = socket.SOCK_DGRAM) -> str | None:
    """Bind `host:port` for a moment: None when that works, else a short reason."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.socket(family, kind)
    except OSError as exc:
        return f"cannot open a socket: {exc.strerror}"
    with sock:
        if kind == socket.SOCK_STREAM:
            # a server sets it too, so a connection in TIME_WAIT is no conflict
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return "in use"
            if exc.errno == errno.EACCES:
                return "permission denied"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"{host} is not an address of this machine"
            return exc.strerror or str(exc)
    return None


def check_sip_port(host: str, port: int) -> CheckResult:
    """UDP and TCP on the SIP port can be bound (nothing else holds them)."""
    problems = {
        proto: why
        for proto, kind in (("UDP", socket.SOCK_DGRAM), ("TCP", socket.SOCK_STREAM))
        if (why := bind_problem(host, port, kind)) is not None
    }
    where = f"{host}:{port}"
    if not problems:
        return CheckResult("sip port", "ok", f"UDP and TCP {where} are free")
    text = "; ".join(f"{proto} {where}: {why}" for proto, why in problems.items())
    hint = " (is frontdesk already running?)" if "in use" in problems.values() else ""
    return CheckResult("sip port", "fail", f"{text}{hint}")


def check_rtp_ports(host: str, port_range: tuple[int, int]) -> CheckResult:
    """Bind a sample of RTP port pairs on `host`."""
    sampled = sample_rtp_ports(port_range)
    taken: dict[int, str] = {}
    for port in sampled:
        for candidate in (port, port + 1):
            why = bind_problem(host, candidate)
            if why is not None:
                taken[port] = why if candidate == port else f"RTCP {candidate} {why}"
                break
    return judge_rtp_sample(sampled, taken)


def run_checks(settings: Settings) -> list[CheckResult]:
    """Every check, in a fixed order."""
    rtp_range = settings.rtp_port_range
    return [
        check_capacity(
            rtp_range,
            node_capacity(settings.node_max_calls, (), agent_enabled=settings.agent_enabled),
        ),
        check_media_workers(media_workers_for(settings), os.cpu_count() or 1),
        check_allowlist(settings.pbx_addresses),
        check_public_ip(settings.public_ip, settings.pbx_addresses, settings.advertised_ip),
        check_pbx_nat(settings.pbx_addresses),
        check_sip_port(settings.sip_host, settings.sip_port),
        check_rtp_ports(settings.sip_host, rtp_range),
    ]
