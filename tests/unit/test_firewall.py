"""render_rules: validation, and the text of each format.

The nftables script is also loaded for real into a namespace by
tests/integration/test_firewall_netns.py. iptables and ufw are not installed on the test
machines (and not in the Makefile's APT list), so their forms are checked here as text only.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from frontdesk.cli.firewall import FORMATS, FirewallError, plan_rules, render_rules
from frontdesk.cli.main import app

PBX = ["192.0.2.10", "198.51.100.0/24", "2001:db8::1"]


def render(fmt: str, addresses: list[str] | None = None) -> str:
    return render_rules(
        PBX if addresses is None else addresses, sip_port=15060, rtp_ports=(10000, 12000), fmt=fmt
    )


# --------------------------------------------------------------------------- validation


def test_empty_allowlist_is_an_error() -> None:
    with pytest.raises(FirewallError, match="no PBX address"):
        render("nftables", [])


@pytest.mark.parametrize("bad", ["pbx.example.com", "192.0.2.300", "10.0.0.0/33", "", " "])
def test_bad_address_is_named(bad: str) -> None:
    with pytest.raises(FirewallError) as caught:
        render("nftables", ["192.0.2.1", bad])
    assert repr(bad) in str(caught.value)


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0", "10.0.0.1/0"])
def test_allow_everything_is_refused(everyone: str) -> None:
    with pytest.raises(FirewallError, match="every address"):
        render("iptables", ["192.0.2.1", everyone])


def test_one_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(FirewallError, match="list"):
        render_rules("192.0.2.1", sip_port=15060, rtp_ports=(10000, 12000), fmt="nftables")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sip_port", "rtp", "message"),
    [
        (0, (10000, 12000), "SIP port 0"),
        (70000, (10000, 12000), "SIP port 70000"),
        (15060, (12000, 10000), "RTP port range"),
        (15060, (0, 100), "RTP port range"),
        (11000, (10000, 12000), "inside the RTP range"),
    ],
)
def test_bad_ports(sip_port: int, rtp: tuple[int, int], message: str) -> None:
    with pytest.raises(FirewallError, match=message):
        render_rules(["192.0.2.1"], sip_port=sip_port, rtp_ports=rtp, fmt="nftables")


def test_unknown_format() -> None:
    with pytest.raises(FirewallError, match="pf"):
        render("pf")


def test_plan_splits_families_collapses_and_deduplicates() -> None:
    plan = plan_rules(
        ["192.0.2.10", "192.0.2.10", "198.51.100.7/24", "198.51.100.0/25", "2001:db8::1"],
        sip_port=5080,
        rtp_ports=(20000, 20099),
    )
    assert [str(n) for n in plan.v4] == ["192.0.2.10/32", "198.51.100.0/24"]
    assert [str(n) for n in plan.v6] == ["2001:db8::1/128"]
    assert (plan.sip_port, plan.rtp_low, plan.rtp_high) == (5080, 20000, 20099)


def test_firewall_error_is_a_value_error() -> None:
    assert issubclass(FirewallError, ValueError)


# --------------------------------------------------------------------------- nftables


def test_nftables_is_one_table_of_its_own() -> None:
    text = render("nftables")
    assert text.startswith("#!/usr/sbin/nft -f\n")
    assert text.endswith("}\n")
    # idempotent reload: declare, delete, define; never a flush of the whole ruleset
    assert "table inet frontdesk\ndelete table inet frontdesk\n" in text
    assert "flush ruleset" not in text
    tables = [line for line in text.splitlines() if line.startswith("table ")]
    assert tables == ["table inet frontdesk", "table inet frontdesk {"]


def test_nftables_rules() -> None:
    text = render("nftables")
    assert "elements = { 192.0.2.10, 198.51.100.0/24 }" in text
    assert "elements = { 2001:db8::1 }" in text
    assert "type filter hook input priority filter - 10; policy accept;" in text
    rules = [line.strip() for line in text.splitlines() if "counter name" in line]
    assert rules == [
        'meta l4proto { tcp, udp } th dport 15060 ip saddr @pbx4 counter name "pbx_sip" accept',
        'udp dport 10000-12000 ip saddr @pbx4 counter name "pbx_rtp" accept',
        'meta l4proto { tcp, udp } th dport 15060 ip6 saddr @pbx6 counter name "pbx_sip" accept',
        'udp dport 10000-12000 ip6 saddr @pbx6 counter name "pbx_rtp" accept',
        'meta l4proto { tcp, udp } th dport 15060 counter name "dropped_sip" drop',
        'udp dport 10000-12000 counter name "dropped_rtp" drop',
    ]
    assert "reject" not in text  # strangers get nothing back


def test_nftables_with_one_family_has_no_empty_set() -> None:
    text = render("nftables", ["192.0.2.10"])
    assert "set pbx6" not in text and "@pbx6" not in text
    # IPv6 to the ports is still dropped: the drop rules are family-independent
    assert 'th dport 15060 counter name "dropped_sip" drop' in text


def test_nftables_single_rtp_port() -> None:
    text = render_rules(["192.0.2.1"], sip_port=5060, rtp_ports=(4000, 4000), fmt="nftables")
    assert "udp dport 4000 ip saddr" in text


# --------------------------------------------------------------------------- iptables


def test_iptables_uses_a_dedicated_chain_in_both_families() -> None:
    lines = render("iptables").splitlines()
    assert lines[0] == "#!/bin/sh"
    assert "set -e" in lines
    for tool in ("iptables", "ip6tables"):
        mine = [line for line in lines if line.startswith(f"{tool} ")]
        assert mine[0] == f"{tool} -N FRONTDESK 2>/dev/null || {tool} -F FRONTDESK"
        assert (
            mine[-1]
            == f"{tool} -C INPUT -j FRONTDESK 2>/dev/null || {tool} -I INPUT 1 -j FRONTDESK"
        )
        assert all(" -A FRONTDESK " in line for line in mine[1:-1])  # nothing outside the chain
        drops = [line for line in mine if line.endswith("-j DROP")]
        assert drops == [
            f"{tool} -A FRONTDESK -p udp --dport 15060 -j DROP",
            f"{tool} -A FRONTDESK -p tcp --dport 15060 -j DROP",
            f"{tool} -A FRONTDESK -p udp --dport 10000:12000 -j DROP",
        ]
        # every accept comes before the first drop
        first_drop = mine.index(drops[0])
        assert all(line.endswith("-j DROP") for line in mine[first_drop:-1])


def test_iptables_accepts_each_network_in_its_family() -> None:
    text = render("iptables")
    assert "iptables -A FRONTDESK -p udp -s 192.0.2.10 --dport 15060 -j ACCEPT" in text
    assert "iptables -A FRONTDESK -p tcp -s 198.51.100.0/24 --dport 15060 -j ACCEPT" in text
    assert "iptables -A FRONTDESK -p udp -s 198.51.100.0/24 --dport 10000:12000 -j ACCEPT" in text
    assert "ip6tables -A FRONTDESK -p udp -s 2001:db8::1 --dport 10000:12000 -j ACCEPT" in text
    assert "iptables -A FRONTDESK -p udp -s 2001:db8::1" not in text
    assert "ip6tables -A FRONTDESK -p udp -s 192.0.2.10" not in text


# --------------------------------------------------------------------------- ufw


def test_ufw_allows_then_denies() -> None:
    lines = [line for line in render("ufw").splitlines() if line.startswith("ufw ")]
    allows = [line for line in lines if line.startswith("ufw allow ")]
    denies = [line for line in lines if line.startswith("ufw deny ")]
    assert lines == allows + denies
    assert len(allows) == 3 * len(PBX)
    assert (
        "ufw allow proto udp from 198.51.100.0/24 to any port 10000:12000 "
        "comment 'frontdesk RTP from PBX'"
    ) in allows
    assert (
        "ufw allow proto tcp from 2001:db8::1 to any port 15060 comment 'frontdesk SIP from PBX'"
        in allows
    )
    assert denies == [
        "ufw deny proto udp to any port 15060 comment 'frontdesk SIP others'",
        "ufw deny proto tcp to any port 15060 comment 'frontdesk SIP others'",
        "ufw deny proto udp to any port 10000:12000 comment 'frontdesk RTP others'",
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_names_the_pbx_and_ends_with_newline(fmt: str) -> None:
    text = render(fmt)
    assert text.endswith("\n") and not text.endswith("\n\n")
    assert "192.0.2.10, 198.51.100.0/24, 2001:db8::1" in text.splitlines()[1]


# --------------------------------------------------------------------------- through the CLI


def test_cli_prints_rules_for_the_given_pbx() -> None:
    result = CliRunner().invoke(app, ["firewall", "--pbx", "192.0.2.10", "--format", "ufw"])
    assert result.exit_code == 0, result.output
    assert "ufw allow proto udp from 192.0.2.10 to any port 15060" in result.output


def test_cli_names_a_bad_address() -> None:
    result = CliRunner().invoke(app, ["firewall", "--pbx", "not-an-ip"])
    assert result.exit_code == 2
    assert "not-an-ip" in result.output
