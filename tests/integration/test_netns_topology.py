"""tests.support.netns: topologies come up addressable and go away completely."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys

import pytest
from tests.support.netns import NetnsError, Topology

pytestmark = [pytest.mark.integration, pytest.mark.root]

ECHO = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 9999))
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(100)
    s.sendto(data, addr)
"""

SEND = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"ping", (sys.argv[1], 9999))
print(s.recv(100).decode())
"""


def _namespaces() -> str:
    done = subprocess.run(["ip", "netns", "list"], check=True, capture_output=True, text=True)
    return done.stdout


def _topology() -> Topology:
    try:
        return Topology()
    except NetnsError as exc:  # not root, or no iproute2: say so, never skip
        pytest.fail(str(exc))


def test_lan_and_host_link_carry_ipv4_and_ipv6() -> None:
    with _topology() as topo:
        a = topo.add_host("a")
        b = topo.add_host("b")
        lan = topo.lan(a, b)
        up = topo.link(topo.root, a)
        for segment in (lan, up):
            assert segment.network4.subnet_of(ipaddress.IPv4Network("169.254.0.0/16"))
            assert segment.network6.subnet_of(ipaddress.IPv6Network("fd00::/8"))
        assert lan.network4 != up.network4
        targets = [lan.ipv4(a), lan.ipv6(a), up.ipv4(a)]
        for address in targets:
            server = a.popen([sys.executable, "-u", "-c", ECHO, address])
            assert server.stdout is not None
            assert server.stdout.readline().strip() == b"ready"
        assert b.run([sys.executable, "-c", SEND, lan.ipv4(a)]).stdout.strip() == "ping"
        assert b.run([sys.executable, "-c", SEND, lan.ipv6(a)]).stdout.strip() == "ping"
        # the host reaches the namespace through the veth it holds one end of
        assert topo.root.run([sys.executable, "-c", SEND, up.ipv4(a)]).stdout.strip() == "ping"
        host_if = up.ifname(topo.root)
        assert host_if.startswith("fdt") and len(host_if) <= 15


def test_teardown_after_a_failure_leaves_nothing() -> None:
    topo = _topology()
    with pytest.raises(RuntimeError, match="boom"), topo:
        a = topo.add_host("a")
        b = topo.add_host("b")
        topo.lan(a, b)
        link = topo.link(topo.root, a)
        host_if = link.ifname(topo.root)
        sleeper = a.popen(["sleep", "300"])
        raise RuntimeError("boom")
    assert sleeper.poll() is not None  # stopped, not left behind
    assert topo.prefix not in _namespaces()  # a, b and the LAN's switch namespace
    shown = subprocess.run(["ip", "link", "show", host_if], check=False, capture_output=True)
    assert shown.returncode != 0  # the host end of the veth is gone too
    topo.close()  # a second close is harmless


def test_namespace_names_are_unique_and_prefixed() -> None:
    with _topology() as first, _topology() as second:
        x = first.add_host("pbx")
        y = second.add_host("pbx")
        assert x.name != y.name
        assert x.name.startswith("fdt-") and y.name.startswith("fdt-")
        with pytest.raises(NetnsError, match="already"):
            first.add_host("pbx")
        with pytest.raises(NetnsError):
            first.add_host("root")


def test_run_reports_failures_with_the_role() -> None:
    with _topology() as topo:
        a = topo.add_host("alpha")
        with pytest.raises(NetnsError, match="in alpha"):
            a.run([sys.executable, "-c", "raise SystemExit(3)"])
        assert a.run(["true"]).returncode == 0
        assert os.path.exists(f"/run/netns/{a.name}")
