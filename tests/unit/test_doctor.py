"""doctor: the pure checks directly, the port probes with real binds on loopback."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from tests.support.sipp import free_port

from frontdesk.cli.doctor import (
    CheckResult,
    bind_problem,
    check_allowlist,
    check_capacity,
    check_media_workers,
    check_pbx_nat,
    check_public_ip,
    check_rtp_ports,
    check_sip_port,
    judge_rtp_sample,
    rtp_capacity,
    run_checks,
    sample_rtp_ports,
)
from frontdesk.config import Settings

# --------------------------------------------------------------------------- capacity


@pytest.mark.parametrize(
    ("port_range", "capacity"),
    [
        ((10000, 12000), 1000),  # 10000..11998 even, 11999 odd partner of 11998
        ((10000, 10001), 1),
        ((10000, 10000), 0),  # no room for RTCP
        ((10001, 10002), 0),  # 10002's partner 10003 is outside
        ((10001, 10003), 1),
        ((10001, 10004), 1),
        ((10000, 10003), 2),
        ((12000, 10000), 0),
    ],
)
def test_rtp_capacity(port_range: tuple[int, int], capacity: int) -> None:
    assert rtp_capacity(port_range) == capacity


def test_rtp_capacity_matches_a_brute_force_count() -> None:
    for low in range(1024, 1040):
        for high in range(low, 1060):
            expected = sum(1 for p in range(low, high + 1) if p % 2 == 0 and p + 1 <= high)
            assert rtp_capacity((low, high)) == expected, (low, high)


def test_rtp_capacity_matches_the_port_pool_of_the_edge() -> None:
    from frontdesk.calls.rtp_ports import RtpPortPool

    for low, high in [(10000, 12000), (10001, 10050), (20000, 20001), (30001, 30002)]:
        assert rtp_capacity((low, high)) == RtpPortPool(low, high).capacity


def test_capacity_check() -> None:
    ok = check_capacity((10000, 12000), 200)
    assert ok == CheckResult("rtp capacity", "ok", ok.detail)
    assert "1000 calls" in ok.detail and "200" in ok.detail
    assert check_capacity((10000, 10399), 200).status == "ok"  # exactly 200
    short = check_capacity((10000, 10397), 200)
    assert short.status == "fail"
    assert "199 calls" in short.detail and "10000-10399" in short.detail


# --------------------------------------------------------------------------- allowlist


def test_allowlist_empty_fails() -> None:
    result = check_allowlist([])
    assert result.status == "fail" and "PBX_ADDRESSES" in result.detail


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0", "::ffff:0:0/96", "::/1"])
def test_allowlist_open_to_everyone_fails(everyone: str) -> None:
    result = check_allowlist(["192.0.2.10", everyone])
    assert result.status == "fail" and "every address" in result.detail


def test_allowlist_broad_warns_and_normal_is_ok() -> None:
    assert check_allowlist(["203.0.0.0/7"]).status == "warn"
    assert check_allowlist(["2001:db8::/16"]).status == "warn"
    result = check_allowlist(["192.0.2.10", "10.0.0.0/8", "2001:db8::/48"])
    assert result.status == "ok"
    assert "192.0.2.10, 10.0.0.0/8, 2001:db8::/48" in result.detail


def test_allowlist_garbage_fails() -> None:
    assert check_allowlist(["pbx.example.com"]).status == "fail"


# --------------------------------------------------------------------------- public ip


def test_public_ip_unset_warns_unless_local_demo() -> None:
    warn = check_public_ip(None, ["203.0.113.5"], "127.0.0.1")
    assert warn.status == "warn" and "127.0.0.1" in warn.detail
    assert check_public_ip(None, ["127.0.0.1", "::1"], "127.0.0.1").status == "ok"


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "0.0.0.0", "::", "169.254.1.1"])
def test_public_ip_unreachable_kinds_warn(address: str) -> None:
    assert check_public_ip(address, ["203.0.113.5"], address).status == "warn"


def test_public_ip_loopback_is_fine_for_a_local_pbx() -> None:
    assert check_public_ip("127.0.0.1", ["127.0.0.1/32"], "127.0.0.1").status == "ok"
    assert check_public_ip("0.0.0.0", ["127.0.0.1"], "0.0.0.0").status == "warn"


def test_public_ip_private_with_public_pbx_warns() -> None:
    # documentation ranges (192.0.2.0/24 ...) are not "global": use plain public addresses
    # (only compared, never contacted)
    assert check_public_ip("10.1.2.3", ["81.2.69.142"], "10.1.2.3").status == "warn"
    assert check_public_ip("10.1.2.3", ["10.1.2.1"], "10.1.2.3").status == "ok"
    assert check_public_ip("81.2.69.160", ["81.2.69.142"], "81.2.69.160").status == "ok"


# --------------------------------------------------------------------------- rtp sample


def test_sample_spreads_over_the_range() -> None:
    sample = sample_rtp_ports((10000, 12000), 32)
    assert len(sample) == 32
    assert sample[0] == 10000 and sample[-1] == 11998
    assert all(p % 2 == 0 and 10000 <= p <= 11998 for p in sample)
    assert sample == sorted(set(sample))


def test_sample_of_a_small_range_is_the_whole_range() -> None:
    assert sample_rtp_ports((10001, 10008), 32) == [10002, 10004, 10006]
    assert sample_rtp_ports((10000, 10000), 32) == []
    assert sample_rtp_ports((10000, 12000), 1) == [10000]


def test_judge_sample() -> None:
    sampled = list(range(10000, 10064, 2))  # 32 ports
    assert judge_rtp_sample(sampled, {}).status == "ok"
    some = judge_rtp_sample(sampled, {10000: "in use", 10002: "in use"})
    assert some.status == "warn" and "2 of 32" in some.detail and "10000 (in use)" in some.detail
    many = judge_rtp_sample(sampled, {p: "in use" for p in sampled[:8]})
    assert many.status == "fail" and "8 of 32" in many.detail
    assert judge_rtp_sample([], {}).status == "fail"


# --------------------------------------------------------------------------- real binds


@pytest.fixture
def held_udp() -> Iterator[int]:
    """A UDP port on 127.0.0.1 held open by this test."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_bind_problem(held_udp: int) -> None:
    assert bind_problem("127.0.0.1", held_udp) == "in use"
    assert bind_problem("127.0.0.1", free_port()) is None
    assert "not an address of this machine" in (bind_problem("203.0.113.123", 5060) or "")


def test_sip_port_free_and_taken(held_udp: int) -> None:
    free = check_sip_port("127.0.0.1", free_port(kind=socket.SOCK_STREAM))
    assert free.status == "ok", free.detail
    taken = check_sip_port("127.0.0.1", held_udp)
    assert taken.status == "fail"
    assert f"UDP 127.0.0.1:{held_udp}: in use" in taken.detail


def test_sip_port_taken_on_tcp_only() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        result = check_sip_port("127.0.0.1", port)
    assert result.status == "fail" and f"TCP 127.0.0.1:{port}: in use" in result.detail
    assert "UDP" not in result.detail


def test_rtp_ports_probe_sees_a_taken_pair() -> None:
    # a small range of our own, two of its three pairs held (one by the RTCP port)
    for _ in range(20):
        base = free_port() & ~1
        holders = []
        try:
            for port in (base, base + 3):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                holders.append(sock)
                sock.bind(("127.0.0.1", port))
        except OSError:
            for sock in holders:
                sock.close()
            continue
        try:
            result = check_rtp_ports("127.0.0.1", (base, base + 5))
        finally:
            for sock in holders:
                sock.close()
        assert result.status == "fail", result.detail
        assert f"{base} (in use)" in result.detail
        assert f"{base + 2} (RTCP {base + 3} in use)" in result.detail
        return
    pytest.fail("could not hold two UDP ports on 127.0.0.1 for the test")


def test_run_checks_in_order() -> None:
    settings = Settings(
        sip_host="127.0.0.1",
        sip_port=free_port(kind=socket.SOCK_STREAM),
        pbx_addresses=["127.0.0.1"],
        public_ip=None,
        rtp_ports="10000-10099",
        node_max_calls=60,
    )
    results = run_checks(settings)
    assert [r.name for r in results] == [
        "rtp capacity",
        "media workers",
        "pbx allowlist",
        "public ip",
        "pbx nat",
        "sip port",
        "rtp ports",
    ]
    by_name = {r.name: r for r in results}
    assert by_name["rtp capacity"].status == "fail"  # 50 < 60
    assert by_name["pbx allowlist"].status == "ok"
    assert by_name["public ip"].status == "ok"  # loopback PBX: a local demo
    assert by_name["sip port"].status == "ok"
    assert by_name["rtp ports"].status in ("ok", "warn", "fail")  # loopback is shared
    assert all(isinstance(r, CheckResult) for r in results)


def test_pbx_nat_advice() -> None:
    remote = check_pbx_nat(["80.80.80.80"])  # a public address (no traffic is sent)
    assert remote.status == "ok"
    assert (
        "External IP Address" in remote.detail and "Local Network Identification" in remote.detail
    )
    assert "symmetric RTP" in remote.detail
    local = check_pbx_nat(["192.168.1.10", "127.0.0.1"])
    assert local.status == "ok" and "no NAT expected" in local.detail
    assert "symmetric RTP" in local.detail


def test_media_workers_leave_cores_for_sip_and_the_agents() -> None:
    assert check_media_workers(1, 2).status == "ok"
    assert check_media_workers(1, 1).status == "ok"  # one core: nothing better to do
    crowded = check_media_workers(4, 4)
    assert crowded.status == "warn" and "below 4" in crowded.detail
