"""The nftables rules from `render_rules`, loaded for real, admit the PBX and no one else.

Three namespaces on one bridge: "frontdesk" (rules loaded, UDP echo on the SIP port, an
RTP port and a control port, TCP on the SIP port), "pbx" (in the allowlist, IPv4 and
IPv6) and "stranger" (not). The stranger's datagrams never reach the listener (its log
has none of them) and the rules' drop counters show exactly where they went.

iptables and ufw are not installed here (and not in the Makefile's APT list): their forms
are tested as text only, in tests/unit/test_firewall.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.support.netns import Namespace, NetnsError, Segment, Topology

from frontdesk.cli.firewall import render_rules

pytestmark = [pytest.mark.integration, pytest.mark.root]

SIP_PORT = 15060  # inside our own namespace nothing else can hold these
RTP_RANGE = (10000, 12000)
RTP_PORT = 10002
OTHER_PORT = 8000

# Listens on [::] (dual stack) for UDP on every port given and TCP on the first; logs one
# line per datagram or connection, and echoes.
LISTENER = r"""
import selectors, socket, sys
ports = [int(p) for p in sys.argv[1:]]
sel = selectors.DefaultSelector()
for port in ports:
    u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    u.bind(("::", port))
    sel.register(u, selectors.EVENT_READ, "udp")
t = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("::", ports[0]))
t.listen()
sel.register(t, selectors.EVENT_READ, "tcp")
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        sock = key.fileobj
        if key.data == "udp":
            data, addr = sock.recvfrom(2048)
            print("udp", sock.getsockname()[1], addr[0], data.decode(), flush=True)
            sock.sendto(data, addr)
        else:
            conn, addr = sock.accept()
            print("tcp", ports[0], addr[0], flush=True)
            conn.sendall(b"hello")
            conn.close()
"""

# Sends one datagram (or opens one TCP connection) and says what came back.
PROBE = r"""
import socket, sys
host, port, proto, token = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
if proto == "udp":
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(token.encode(), (host, port))
    try:
        data = s.recv(2048)
        print("echo" if data == token.encode() else "other")
    except TimeoutError:
        print("timeout")
else:
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        print("connected")
    except TimeoutError:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
"""


@dataclass
class Lab:
    topo: Topology
    lan: Segment
    frontdesk: Namespace
    pbx: Namespace
    stranger: Namespace
    listener_log: Path

    @property
    def listener_lines(self) -> list[str]:
        return self.listener_log.read_text().splitlines()

    def probe(self, who: Namespace, family: int, port: int, proto: str, token: str) -> str:
        host = self.lan.ipv4(self.frontdesk) if family == 4 else self.lan.ipv6(self.frontdesk)
        done = who.run([sys.executable, "-c", PROBE, host, str(port), proto, token], timeout=10)
        return done.stdout.strip()

    def counters(self) -> dict[str, int]:
        done = self.frontdesk.run(["nft", "-j", "list", "counters", "table", "inet", "frontdesk"])
        found: dict[str, int] = {}
        for item in json.loads(done.stdout)["nftables"]:
            if "counter" in item:
                found[item["counter"]["name"]] = int(item["counter"]["packets"])
        return found


def _require_nft() -> None:
    if shutil.which("nft") is None and not os.access("/usr/sbin/nft", os.X_OK):
        pytest.fail("nft is missing: apt-get install nftables")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    _require_nft()
    try:
        topo = Topology()
    except NetnsError as exc:  # not root, or no iproute2: say so, never skip
        pytest.fail(str(exc))
    with topo:
        frontdesk = topo.add_host("frontdesk")
        pbx = topo.add_host("pbx")
        stranger = topo.add_host("stranger")
        lan = topo.lan(frontdesk, pbx, stranger)
        rules = render_rules(
            [lan.ipv4(pbx), lan.ipv6(pbx)], sip_port=SIP_PORT, rtp_ports=RTP_RANGE, fmt="nftables"
        )
        frontdesk.run(["nft", "-f", "-"], input_text=rules)
        log_path = tmp_path / "listener.log"
        with log_path.open("wb") as log:
            listener = frontdesk.popen(
                [
                    sys.executable,
                    "-u",
                    "-c",
                    LISTENER,
                    str(SIP_PORT),
                    str(RTP_PORT),
                    str(OTHER_PORT),
                ],
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 10
        while "ready" not in log_path.read_text():
            assert listener.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "listener did not start"
            time.sleep(0.02)
        yield Lab(topo, lan, frontdesk, pbx, stranger, log_path)


def test_pbx_gets_through_and_stranger_gets_nothing(lab: Lab) -> None:
    before = lab.counters()
    assert before == {"pbx_sip": 0, "pbx_rtp": 0, "dropped_sip": 0, "dropped_rtp": 0}

    for family in (4, 6):
        for port in (SIP_PORT, RTP_PORT):
            assert lab.probe(lab.pbx, family, port, "udp", f"pbx-{family}-{port}") == "echo"
            got = lab.probe(lab.stranger, family, port, "udp", f"stranger-{family}-{port}")
            assert got == "timeout", f"stranger reached UDP {port} over IPv{family}"
        # a port the rules do not cover stays open to everyone
        assert lab.probe(lab.stranger, family, OTHER_PORT, "udp", f"other-{family}") == "echo"

    # exactly the four datagrams of each side, counted where they were decided
    assert lab.counters() == {"pbx_sip": 2, "pbx_rtp": 2, "dropped_sip": 2, "dropped_rtp": 2}

    for family in (4, 6):
        assert lab.probe(lab.pbx, family, SIP_PORT, "tcp", "-") == "connected"
        assert lab.probe(lab.stranger, family, SIP_PORT, "tcp", "-") == "timeout"
    after = lab.counters()
    assert after["dropped_sip"] >= 2 + 2  # the stranger's SYNs (retransmitted, maybe)
    assert after["pbx_sip"] >= 2 + 2

    log = "\n".join(lab.listener_lines)
    for family in (4, 6):
        for port in (SIP_PORT, RTP_PORT):
            assert f"pbx-{family}-{port}" in log
            assert f"stranger-{family}-{port}" not in log  # never reached the socket
        assert f"other-{family}" in log
    stranger_v4 = lab.lan.ipv4(lab.stranger)
    stranger_v6 = lab.lan.ipv6(lab.stranger)
    tcp_sources = [line.split()[2] for line in lab.listener_lines if line.startswith("tcp ")]
    assert len(tcp_sources) == 2
    assert not any(s.endswith(stranger_v4) or s == stranger_v6 for s in tcp_sources)


def test_reloading_replaces_the_table_and_touches_nothing_else(lab: Lab) -> None:
    # another table in the namespace, as an operator's own firewall would be
    lab.frontdesk.run(["nft", "add", "table", "inet", "operator"])
    lab.frontdesk.run(
        [
            "nft",
            "add",
            "chain",
            "inet",
            "operator",
            "input",
            "{ type filter hook input priority 0 ; }",
        ]
    )
    # reload with the stranger as the PBX now
    rules = render_rules(
        [lab.lan.ipv4(lab.stranger)], sip_port=SIP_PORT, rtp_ports=RTP_RANGE, fmt="nftables"
    )
    lab.frontdesk.run(["nft", "-f", "-"], input_text=rules)
    tables = lab.frontdesk.run(["nft", "list", "tables"]).stdout.split("\n")
    assert sorted(t.strip() for t in tables if t.strip()) == [
        "table inet frontdesk",
        "table inet operator",
    ]
    assert lab.probe(lab.stranger, 4, SIP_PORT, "udp", "now-allowed") == "echo"
    assert lab.probe(lab.pbx, 4, SIP_PORT, "udp", "now-dropped") == "timeout"
    # IPv6 had no PBX address in the new list: dropped for everyone
    assert lab.probe(lab.stranger, 6, SIP_PORT, "udp", "v6-dropped") == "timeout"
    assert lab.counters() == {"pbx_sip": 1, "pbx_rtp": 0, "dropped_sip": 2, "dropped_rtp": 0}


def test_rules_never_reach_the_host(lab: Lab) -> None:
    done = lab.topo.root.run(["nft", "list", "tables"], check=False)
    assert "frontdesk" not in done.stdout
    # give the kernel a moment: nothing asynchronous should appear either
    time.sleep(0.1)
    assert "frontdesk" not in lab.topo.root.run(["nft", "list", "tables"], check=False).stdout
