"""Firewall rules that let only the PBX reach the SIP port and the RTP range.

Owns: turning the PBX allowlist and the two port settings into text an operator loads:
an nftables script (`nft -f`), iptables/ip6tables commands, or ufw commands.
Must not: run anything, read the environment, or touch the network: `render_rules` is a
pure function of its arguments, so `frontdesk firewall` only prints and the tests can
compare text. The edge enforces the same allowlist in the application; these rules make
the kernel drop strangers' packets before a socket ever sees them.

What every form does, for TCP+UDP on the SIP port and UDP on the RTP range:
- accept from the PBX networks (IPv4 and IPv6, single addresses or CIDRs),
- drop from everyone else (drop, never reject: a stranger gets nothing back),
- leave every other port, protocol and connection alone.

nftables: one table of its own, `inet frontdesk`, replaced as a whole on every load (the
"add, delete, define" idiom makes the script idempotent), so no other table or rule is
touched. Its input chain runs at `priority filter - 10`, before the usual filter chains:
its drops are final, and its accepts only let the packet go on to the other tables (a drop
elsewhere still wins). Named counters (`pbx_sip`, `pbx_rtp`, `dropped_sip`, `dropped_rtp`)
show what happened: `nft list counters table inet frontdesk`.
iptables: a chain `FRONTDESK` of its own (flushed and refilled), jumped to first from
INPUT, in both iptables and ip6tables. ufw: `allow` rules for the PBX, then `deny` rules.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from frontdesk.errors import FrontdeskError

__all__ = ["FORMATS", "FirewallError", "FirewallPlan", "plan_rules", "render_rules"]

FORMATS = ("nftables", "iptables", "ufw")

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class FirewallError(FrontdeskError, ValueError):
    """The rules cannot be rendered: a bad address, port range or format (named in the text)."""


@dataclass(frozen=True)
class FirewallPlan:
    """Validated input of every renderer: the PBX networks per family and the ports."""

    v4: tuple[ipaddress.IPv4Network, ...]
    v6: tuple[ipaddress.IPv6Network, ...]
    sip_port: int
    rtp_low: int
    rtp_high: int

    @property
    def networks(self) -> tuple[IpNetwork, ...]:
        return (*self.v4, *self.v6)


def _parse_network(value: str) -> IpNetwork:
    text = value.strip()
    if not text:
        raise FirewallError(f"PBX address {value!r} is empty")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise FirewallError(f"PBX address {value!r} is not an IP address or CIDR") from exc
    if network.prefixlen == 0:
        raise FirewallError(
            f"PBX address {value!r} allows every address: the rules would protect nothing"
        )
    return network


def plan_rules(
    addresses: Sequence[str], *, sip_port: int, rtp_ports: tuple[int, int]
) -> FirewallPlan:
    """Validate the inputs once for every format. Raises `FirewallError` naming the culprit."""
    if isinstance(addresses, str):
        raise FirewallError("PBX addresses must be a list, not one string")
    if not addresses:
        raise FirewallError(
            "no PBX address given: set FRONTDESK_PBX_ADDRESSES or pass --pbx "
            "(rules that drop everyone would cut the PBX off too)"
        )
    networks = [_parse_network(item) for item in addresses]
    if not 1 <= sip_port <= 65535:
        raise FirewallError(f"SIP port {sip_port} is not within 1-65535")
    low, high = rtp_ports
    if not (1 <= low <= high <= 65535):
        raise FirewallError(f"RTP port range {low}-{high} is not LOW-HIGH within 1-65535")
    if low <= sip_port <= high:
        raise FirewallError(f"SIP port {sip_port} lies inside the RTP range {low}-{high}")
    v4 = tuple(
        ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    )
    v6 = tuple(
        ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    )
    return FirewallPlan(v4=v4, v6=v6, sip_port=sip_port, rtp_low=low, rtp_high=high)


def render_rules(
    addresses: list[str], *, sip_port: int, rtp_ports: tuple[int, int], fmt: str
) -> str:
    """Render rules that admit SIP and RTP only from `addresses`, in `fmt`.

    `fmt` is one of "nftables" (a complete `nft -f` script), "iptables" (a shell script of
    iptables and ip6tables commands) or "ufw" (a shell script of ufw commands). The text
    ends with a newline. Raises `FirewallError` for an empty list, a value that is not an
    IP address or CIDR (or is a whole address family, like 0.0.0.0/0), bad ports, or an
    unknown format.
    """
    renderers = {"nftables": _nftables, "iptables": _iptables, "ufw": _ufw}
    renderer = renderers.get(fmt)
    if renderer is None:
        raise FirewallError(f"unknown firewall format {fmt!r}: use one of {', '.join(FORMATS)}")
    plan = plan_rules(addresses, sip_port=sip_port, rtp_ports=rtp_ports)
    return "\n".join(renderer(plan)) + "\n"


def _text(network: IpNetwork) -> str:
    """A single host as its bare address, anything wider as a CIDR."""
    return str(network.network_address) if network.num_addresses == 1 else str(network)


def _header(plan: FirewallPlan, comment: str) -> list[str]:
    pbx = ", ".join(_text(n) for n in plan.networks)
    return [
        f"{comment} frontdesk: SIP (UDP+TCP {plan.sip_port}) and RTP "
        f"(UDP {plan.rtp_low}-{plan.rtp_high}) only from the PBX: {pbx}",
        f"{comment} Everyone else's packets to those ports are dropped; other traffic is "
        "left alone.",
        f"{comment} Generated by `frontdesk firewall`.",
    ]


# --------------------------------------------------------------------------- nftables


def _nftables(plan: FirewallPlan) -> list[str]:
    rtp = f"{plan.rtp_low}-{plan.rtp_high}" if plan.rtp_high > plan.rtp_low else str(plan.rtp_low)
    sip_match = f"meta l4proto {{ tcp, udp }} th dport {plan.sip_port}"
    rtp_match = f"udp dport {rtp}"
    lines = [
        "#!/usr/sbin/nft -f",
        *_header(plan, "#"),
        "# Load: nft -f FILE (replaces table inet frontdesk, touches nothing else).",
        "# Remove: nft delete table inet frontdesk",
        "",
        "table inet frontdesk",
        "delete table inet frontdesk",
        "",
        "table inet frontdesk {",
    ]
    for name in ("pbx_sip", "pbx_rtp", "dropped_sip", "dropped_rtp"):
        lines.append(f"\tcounter {name} {{")
        lines.append("\t}")
        lines.append("")
    for family, networks in (("ipv4_addr", plan.v4), ("ipv6_addr", plan.v6)):
        if not networks:
            continue
        set_name = "pbx4" if family == "ipv4_addr" else "pbx6"
        lines += [
            f"\tset {set_name} {{",
            f"\t\ttype {family}",
            "\t\tflags interval",
            f"\t\telements = {{ {', '.join(_text(n) for n in networks)} }}",
            "\t}",
            "",
        ]
    lines += [
        "\tchain input {",
        "\t\ttype filter hook input priority filter - 10; policy accept;",
    ]
    for saddr, networks in (("ip saddr @pbx4", plan.v4), ("ip6 saddr @pbx6", plan.v6)):
        if networks:
            lines.append(f'\t\t{sip_match} {saddr} counter name "pbx_sip" accept')
            lines.append(f'\t\t{rtp_match} {saddr} counter name "pbx_rtp" accept')
    lines += [
        f'\t\t{sip_match} counter name "dropped_sip" drop',
        f'\t\t{rtp_match} counter name "dropped_rtp" drop',
        "\t}",
        "}",
    ]
    return lines


# --------------------------------------------------------------------------- iptables


def _iptables(plan: FirewallPlan) -> list[str]:
    rtp = f"{plan.rtp_low}:{plan.rtp_high}"
    lines = [
        "#!/bin/sh",
        *_header(plan, "#"),
        "# Run as root. Re-running replaces the FRONTDESK chains; other rules stay as they are.",
        "# Remove: iptables -D INPUT -j FRONTDESK; iptables -F FRONTDESK; iptables -X FRONTDESK",
        "#         (and the same with ip6tables)",
        "set -e",
    ]
    for tool, networks in (("iptables", plan.v4), ("ip6tables", plan.v6)):
        lines += [
            "",
            f"{tool} -N FRONTDESK 2>/dev/null || {tool} -F FRONTDESK",
        ]
        for network in networks:
            source = _text(network)
            for proto in ("udp", "tcp"):
                lines.append(
                    f"{tool} -A FRONTDESK -p {proto} -s {source} --dport {plan.sip_port} -j ACCEPT"
                )
            lines.append(f"{tool} -A FRONTDESK -p udp -s {source} --dport {rtp} -j ACCEPT")
        lines += [
            f"{tool} -A FRONTDESK -p udp --dport {plan.sip_port} -j DROP",
            f"{tool} -A FRONTDESK -p tcp --dport {plan.sip_port} -j DROP",
            f"{tool} -A FRONTDESK -p udp --dport {rtp} -j DROP",
            f"{tool} -C INPUT -j FRONTDESK 2>/dev/null || {tool} -I INPUT 1 -j FRONTDESK",
        ]
    return lines


# --------------------------------------------------------------------------- ufw


def _ufw(plan: FirewallPlan) -> list[str]:
    rtp = f"{plan.rtp_low}:{plan.rtp_high}"
    lines = [
        "#!/bin/sh",
        *_header(plan, "#"),
        "# ufw applies the first rule that matches: these must come before any broader rule",
        "# for the same ports (check with `ufw status numbered`). ufw deny drops silently.",
        "set -e",
        "",
    ]
    for network in plan.networks:
        for proto in ("udp", "tcp"):
            lines.append(
                f"ufw allow proto {proto} from {_text(network)} to any port {plan.sip_port} "
                "comment 'frontdesk SIP from PBX'"
            )
        lines.append(
            f"ufw allow proto udp from {_text(network)} to any port {rtp} "
            "comment 'frontdesk RTP from PBX'"
        )
    for proto in ("udp", "tcp"):
        lines.append(
            f"ufw deny proto {proto} to any port {plan.sip_port} comment 'frontdesk SIP others'"
        )
    lines.append(f"ufw deny proto udp to any port {rtp} comment 'frontdesk RTP others'")
    return lines
