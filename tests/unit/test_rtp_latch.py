"""The symmetric-RTP decision (calls/rtp_latch.py), with the real allowlist."""

from __future__ import annotations

import ipaddress

from frontdesk.calls.rtp_latch import RtpLatch
from frontdesk.edge.allowlist import Allowlist

PBX = Allowlist([ipaddress.ip_network("203.0.113.0/29"), ipaddress.ip_network("127.0.0.1/32")])
PUBLIC = "203.0.113.7"  # the office's public address (allowlisted)
OTHER_PBX = "203.0.113.3"  # another allowlisted host
LAN = "192.168.1.50"  # what a Yeastar behind NAT writes in c=
STRANGER = "198.51.100.9"


def nat_latch() -> RtpLatch:
    return RtpLatch.for_offer(LAN, 4000, PBX.allows)


def test_allowlisted_sdp_address_is_fixed_as_before() -> None:
    latch = RtpLatch.for_offer(PUBLIC, 4000, PBX.allows)
    assert not latch.latching and latch.remote == (PUBLIC, 4000)
    assert latch.accept(PUBLIC, 4000)
    assert not latch.accept(PUBLIC, 4002)  # another port of the PBX: refused, as today
    assert not latch.accept(STRANGER, 4000)
    assert latch.remote == (PUBLIC, 4000)


def test_nat_sends_nothing_until_rtp_arrives_then_latches_on_its_source() -> None:
    latch = nat_latch()
    assert latch.latching and latch.remote is None  # nothing is ever sent to the LAN address
    assert not latch.accept(STRANGER, 4000)
    assert latch.remote is None
    assert latch.accept(PUBLIC, 31234)
    assert latch.remote == (PUBLIC, 31234) and latch.moves == 1
    assert latch.accept(PUBLIC, 31234)
    assert latch.moves == 1


def test_strangers_and_other_pbx_hosts_never_take_a_latched_call() -> None:
    latch = nat_latch()
    latch.accept(PUBLIC, 31234)
    assert not latch.accept(STRANGER, 31234)
    assert not latch.accept(LAN, 4000)
    assert not latch.accept(OTHER_PBX, 31234)
    assert latch.remote == (PUBLIC, 31234)


def test_new_source_port_from_the_latched_host_moves_the_latch() -> None:
    latch = nat_latch()
    latch.accept(PUBLIC, 31234)
    assert latch.accept(PUBLIC, 40000)  # the NAT rebound the mapping
    assert latch.remote == (PUBLIC, 40000) and latch.moves == 2
    assert latch.accept(PUBLIC, 31234)  # and back: whichever port spoke last
    assert latch.remote == (PUBLIC, 31234)


def test_reinvite_behind_nat_relearns_and_keeps_sending_meanwhile() -> None:
    latch = nat_latch()
    latch.accept(PUBLIC, 31234)
    latch.reoffered("192.168.1.51", 4100)
    assert latch.remote == (PUBLIC, 31234)  # the old peer until the new RTP shows up
    assert not latch.accept(STRANGER, 1)
    assert latch.accept(OTHER_PBX, 5000)  # learning: any allowlisted source
    assert latch.remote == (OTHER_PBX, 5000)
    assert not latch.accept(PUBLIC, 31234)  # learned again: the old peer is out


def test_reinvite_to_an_allowlisted_address_fixes_the_peer() -> None:
    latch = nat_latch()
    latch.accept(PUBLIC, 31234)
    latch.reoffered(OTHER_PBX, 6000)
    assert not latch.latching and latch.remote == (OTHER_PBX, 6000)
    assert not latch.accept(PUBLIC, 31234)
    assert latch.accept(OTHER_PBX, 6000)


def test_fixed_call_moving_behind_nat_learns() -> None:
    latch = RtpLatch.for_offer(PUBLIC, 4000, PBX.allows)
    latch.reoffered(LAN, 4000)
    assert latch.latching and latch.remote == (PUBLIC, 4000)
    assert latch.accept(PUBLIC, 31000)
    assert latch.remote == (PUBLIC, 31000)


def test_hold_reoffer_keeps_the_latch() -> None:
    latch = nat_latch()
    latch.accept(PUBLIC, 31234)
    latch.reoffered("0.0.0.0", 4000)
    assert latch.remote == (PUBLIC, 31234) and latch.latching
    fixed = RtpLatch.for_offer("0.0.0.0", 4000, PBX.allows)  # as before: what the SDP says
    assert not fixed.latching and fixed.remote == ("0.0.0.0", 4000)


def test_rtcp_only_from_the_latched_host() -> None:
    latch = nat_latch()
    assert not latch.accepts_rtcp_from(PUBLIC)
    latch.accept(PUBLIC, 31234)
    assert latch.accepts_rtcp_from(PUBLIC)
    assert not latch.accepts_rtcp_from(STRANGER)
