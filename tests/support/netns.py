"""Network-namespace topologies for tests that need real, separate IP addresses.

Owns: creating namespaces with unique names (`fdt-<random>-<role>`), joining them with
veth pairs or a bridge, giving every end a link-local IPv4 address (169.254.0.0/16) and a
ULA IPv6 address (fd00::/8), running commands inside, and tearing all of it down again,
processes first, even when the test failed. Needs root and iproute2.
Must not: touch anything it did not create, or use addresses outside 169.254.0.0/16 and
fd00::/8 (the machine's own network is never part of a topology).

Typical use::

    with Topology() as topo:
        fd = topo.add_host("frontdesk")
        pbx = topo.add_host("pbx")
        stranger = topo.add_host("stranger")
        lan = topo.lan(fd, pbx, stranger)          # one bridge, one /28, one /64
        server = fd.popen(["python3", "-m", "http.server", "--bind", lan.ipv4(fd), "8000"])
        pbx.run(["ping", "-c1", "-W1", lan.ipv4(fd)])

    with Topology() as topo:                      # the host itself as a member
        fd = topo.add_host("frontdesk")
        up = topo.link(topo.root, fd)              # veth: one end stays on the host
        # the host reaches up.ipv4(fd); inside, fd reaches up.ipv4(topo.root)

`lan` puts its bridge in a namespace of its own (role "switch"), so nothing but the
veth end of a `root` member appears on the host. Each segment gets a random /28 of
169.254.0.0/16 (never 169.254.169.0/24, where clouds keep their metadata service) that no
route on the host already covers, and fd00:<topology>:<segment>::/64. IPv6 addresses are
added with `nodad`, so they work at once.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["Namespace", "NetnsError", "Segment", "Topology", "require_netns_support"]

_NETNS_DIR = Path("/run/netns")
_V4_POOL = ipaddress.IPv4Network("169.254.0.0/16")
_V4_PREFIX = 28
_FORBIDDEN_V4 = (
    ipaddress.IPv4Network("169.254.0.0/24"),
    ipaddress.IPv4Network("169.254.169.0/24"),
    ipaddress.IPv4Network("169.254.255.0/24"),
)
_MAX_MEMBERS = 2 ** (32 - _V4_PREFIX) - 3  # minus network, broadcast, and a spare


class NetnsError(RuntimeError):
    """A topology could not be built (not root, iproute2 missing, a command failed)."""


def require_netns_support() -> None:
    """Raise `NetnsError` naming what is missing to build topologies here."""
    if os.geteuid() != 0:
        raise NetnsError("network namespaces need root (run the tests as root)")
    if shutil.which("ip") is None:
        raise NetnsError("the `ip` command is missing: apt-get install iproute2")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)
    if check and done.returncode != 0:
        raise NetnsError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")
    return done


@dataclass(eq=False)
class Namespace:
    """One network namespace of a topology (or the machine's own, when `is_root`)."""

    role: str
    name: str
    topology: Topology = field(repr=False)

    @property
    def is_root(self) -> bool:
        return self.name == ""

    def argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` wrapped to run inside this namespace."""
        if self.is_root:
            return list(argv)
        return ["ip", "netns", "exec", self.name, *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        check: bool = True,
        timeout: float = 30.0,
        input_text: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a short command inside and wait for it; output is captured as text."""
        done = subprocess.run(
            self.argv(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input_text,
            check=False,
        )
        if check and done.returncode != 0:
            raise NetnsError(
                f"in {self.role}: {' '.join(argv)} exited {done.returncode}: "
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done

    def popen(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: int | IO[Any] | None = subprocess.PIPE,
        stderr: int | IO[Any] | None = subprocess.PIPE,
        stdin: int | IO[Any] | None = subprocess.DEVNULL,
    ) -> subprocess.Popen[bytes]:
        """Start a long-running command inside; the topology stops it on teardown.

        Output goes to pipes by default (read them, or they fill up and block the
        process); pass a file for long-running chatty processes.
        """
        proc = subprocess.Popen(
            self.argv(argv),
            env=None if env is None else dict(env),
            stdout=stdout,
            stderr=stderr,
            stdin=stdin,
            start_new_session=True,  # its own process group, so teardown reaches children
        )
        self.topology._processes.append(proc)
        return proc


@dataclass(frozen=True)
class Attachment:
    """One member's end of a segment: the interface inside the member and its addresses."""

    ifname: str
    ipv4: str
    ipv6: str


@dataclass(eq=False)
class Segment:
    """A layer-2 segment (a veth pair or a bridge) and its members' addresses."""

    name: str
    network4: ipaddress.IPv4Network
    network6: ipaddress.IPv6Network
    members: dict[str, Attachment] = field(default_factory=dict)

    def _get(self, member: Namespace) -> Attachment:
        try:
            return self.members[member.role]
        except KeyError:
            raise NetnsError(f"{member.role} is not on segment {self.name}") from None

    def ipv4(self, member: Namespace) -> str:
        """The member's IPv4 address on this segment."""
        return self._get(member).ipv4

    def ipv6(self, member: Namespace) -> str:
        """The member's IPv6 address on this segment."""
        return self._get(member).ipv6

    def ifname(self, member: Namespace) -> str:
        """The member's interface on this segment."""
        return self._get(member).ifname


class Topology:
    """Namespaces and the links between them; a context manager that removes them all.

    `add_host(role)` makes a namespace (loopback up); `link(a, b)` joins two members with
    a veth pair; `lan(*members)` joins any number through a bridge. `root` stands for the
    machine itself as a member. `close()` (or leaving the `with`) stops every process
    started with `popen`, deletes the namespaces and any veth end left on the host.
    """

    def __init__(self, *, prefix: str = "fdt-") -> None:
        require_netns_support()
        self.id = secrets.token_hex(3)
        self.prefix = f"{prefix}{self.id}"
        self.root = Namespace("root", "", self)
        self._namespaces: dict[str, Namespace] = {}
        self._host_ifaces: list[str] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._segments: list[Segment] = []
        self._v6_base = secrets.randbelow(0xFFFF) + 1
        self._closed = False

    # ------------------------------------------------------------------ building

    @property
    def namespaces(self) -> tuple[Namespace, ...]:
        return tuple(self._namespaces.values())

    def add_host(self, role: str) -> Namespace:
        """A new namespace `fdt-<id>-<role>` with its loopback up."""
        if not role.replace("-", "").replace("_", "").isalnum() or role == "root":
            raise NetnsError(f"role {role!r} must be a plain word other than 'root'")
        if role in self._namespaces:
            raise NetnsError(f"this topology already has a {role!r} namespace")
        name = f"{self.prefix}-{role}"
        _ip("netns", "add", name)
        namespace = Namespace(role, name, self)
        self._namespaces[role] = namespace
        _ip("-n", name, "link", "set", "lo", "up")
        return namespace

    def link(self, a: Namespace, b: Namespace, *, name: str | None = None) -> Segment:
        """Join `a` and `b` with a veth pair (either may be `root`)."""
        if a is b:
            raise NetnsError("a link needs two different members")
        segment = self._new_segment(name or f"{a.role}-{b.role}", (a, b))
        (if_a, if_b) = (self._ifname(a, segment), self._ifname(b, segment))
        self._veth(a, if_a, b, if_b)
        for member, ifname in ((a, if_a), (b, if_b)):
            self._address(segment, member, ifname)
        return segment

    def lan(self, *members: Namespace, name: str = "lan") -> Segment:
        """Join all `members` through one bridge living in a namespace of its own."""
        if len(members) < 2 or len({m.role for m in members}) != len(members):
            raise NetnsError("a LAN needs at least two different members")
        segment = self._new_segment(name, members)
        switch = self.add_host(f"switch{len(self._segments)}")
        bridge = "br0"
        _ip("-n", switch.name, "link", "add", bridge, "type", "bridge")
        _ip("-n", switch.name, "link", "set", bridge, "up")
        for index, member in enumerate(members):
            ifname = self._ifname(member, segment)
            port = f"p{index}"
            self._veth(member, ifname, switch, port)
            _ip("-n", switch.name, "link", "set", port, "master", bridge)
            self._address(segment, member, ifname)
        return segment

    def _new_segment(self, name: str, members: Sequence[Namespace]) -> Segment:
        if len(members) > _MAX_MEMBERS:
            raise NetnsError(f"a segment holds at most {_MAX_MEMBERS} members")
        network4 = self._pick_v4(any(m.is_root for m in members))
        network6 = ipaddress.IPv6Network(f"fd00:{self._v6_base:x}:{len(self._segments) + 1:x}::/64")
        segment = Segment(name, network4, network6)
        self._segments.append(segment)
        return segment

    def _pick_v4(self, on_root: bool) -> ipaddress.IPv4Network:
        taken = [s.network4 for s in self._segments]
        if on_root:
            taken += _host_v4_routes()
        candidates = list(_V4_POOL.subnets(new_prefix=_V4_PREFIX))
        for _ in range(200):
            network = candidates[secrets.randbelow(len(candidates))]
            if any(network.overlaps(bad) for bad in (*_FORBIDDEN_V4, *taken)):
                continue
            return network
        raise NetnsError("no free /28 left in 169.254.0.0/16")

    def _ifname(self, member: Namespace, segment: Segment) -> str:
        index = len(self._segments)
        if member.is_root:
            return f"fdt{self.id}s{index}"  # unique on the host: 3 + 6 + 1 + digits <= 15
        return f"{segment.name[:10]}{index}"

    def _veth(self, a: Namespace, if_a: str, b: Namespace, if_b: str) -> None:
        args = ["link", "add", if_a]
        if not a.is_root:
            args += ["netns", a.name]
        args += ["type", "veth", "peer", "name", if_b]
        if not b.is_root:
            args += ["netns", b.name]
        _ip(*args)
        for member, ifname in ((a, if_a), (b, if_b)):
            if member.is_root:
                self._host_ifaces.append(ifname)
            _ip(*_in(member), "link", "set", ifname, "up")

    def _address(self, segment: Segment, member: Namespace, ifname: str) -> None:
        host_index = len(segment.members) + 1
        v4 = segment.network4.network_address + host_index
        v6 = segment.network6.network_address + host_index
        _ip(*_in(member), "addr", "add", f"{v4}/{_V4_PREFIX}", "dev", ifname)
        _ip(*_in(member), "-6", "addr", "add", f"{v6}/64", "dev", ifname, "nodad")
        segment.members[member.role] = Attachment(ifname, str(v4), str(v6))

    # ------------------------------------------------------------------ teardown

    def close(self) -> None:
        """Stop processes, delete namespaces and host-side veths. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        problems: list[str] = []
        for proc in self._processes:
            _stop(proc)
        for namespace in reversed(self._namespaces.values()):
            _kill_remaining(namespace.name)
            done = _ip("netns", "del", namespace.name, check=False)
            if done.returncode != 0 and (_NETNS_DIR / namespace.name).exists():
                problems.append(f"{namespace.name}: {done.stderr.strip()}")
        for ifname in self._host_ifaces:
            if _ip("link", "show", ifname, check=False).returncode == 0:
                _ip("link", "del", ifname, check=False)
        if problems:
            raise NetnsError("teardown left namespaces behind: " + "; ".join(problems))

    def __enter__(self) -> Topology:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _in(member: Namespace) -> list[str]:
    return [] if member.is_root else ["-n", member.name]


def _host_v4_routes() -> list[ipaddress.IPv4Network]:
    """Every IPv4 destination the host already routes inside 169.254.0.0/16."""
    done = _ip("-4", "route", "show", "table", "all", check=False)
    found: list[ipaddress.IPv4Network] = []
    for line in done.stdout.splitlines():
        words = line.split()
        if not words:
            continue
        target = words[1] if words[0] in ("local", "broadcast", "unicast") else words[0]
        try:
            network = ipaddress.IPv4Network(target, strict=False)
        except ValueError:
            continue  # "default" and the like
        if network.overlaps(_V4_POOL) and network.prefixlen > 0:
            found.append(network)
    return found


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop one process we started, and its process group, politely then firmly."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
    for stream in (proc.stdout, proc.stderr, proc.stdin):
        if stream is not None:
            stream.close()


def _kill_remaining(name: str) -> None:
    """Kill what still runs inside a namespace we created (started by our own `run`s)."""
    done = _ip("netns", "pids", name, check=False)
    for word in done.stdout.split():
        if word.isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(word), signal.SIGKILL)
