"""Drive sipp (Debian `sip-tester`, 3.6.x) from tests and benchmarks, and read its figures.

Owns: building one sipp command line, running it in the foreground with a hard timeout in a
work directory of its own, and parsing what it leaves there into a `SippResult`; plus
`write_rtp_pcap`, which makes the small RTP captures that `play_pcap_audio` replays.
Must not: start anything in the background, send anywhere but the target it is given, or
reuse fixed ports (loopback is shared, so every port is chosen free at run time).

What sipp 3.6.1 leaves in the work directory (checked here with `sipp -h` and trial runs
against Kamailio and a Python UAS):

- `-trace_stat -stf stat.csv`: `;`-separated, one header row then one row per `-fd` period
  and a final row at exit. We read the last row by column name: `TotalCallCreated`,
  `SuccessfulCall(C)`, `FailedCall(C)`, `Retransmissions(C)`,
  `FailedUnexpectedMessage(C)`, `FailedTimeoutOnRecv(C)`, `OutOfCallMsgs(C)`,
  `DeadCallMsgs(C)`, and `StartTime`/`CurrentTime` (each `date<TAB>time<TAB>epoch`).
- `-trace_rtt -rtt_freq 1`: `<scenario>_<pid>_rtt.csv` in the current directory (no option
  names it), header `Date_ms;response_time_ms;rtd_no`, one row per closed response-time
  measure. `response_time_ms` is an integer number of milliseconds: sipp reads a coarse
  clock, so on this kernel values come in steps of about 4 ms (a 50 ms answer reads 48 or
  52) and a sub-millisecond answer reads 0. Percentiles are only as fine as that.
  A scenario marks the end of its measure with `rtd="true"` on a `<recv>` (measure "1",
  started when the call starts, i.e. by the INVITE).
- `-trace_counts`: `<scenario>_<pid>_counts.csv`, per scenario step counters; the sum of
  the `*_Unexp` columns is the number of unexpected messages received.
- `-trace_err -error_file errors.log`: what went wrong, kept as a tail for messages.
- `-trace_logs -log_file logs.log` (with `trace_logs=True`): the scenario's `<log>` lines.

Exit codes: 0 every call succeeded, 1 at least one failed, 97 internal exit command,
99 normal exit without calls, 255 (-1) fatal error, 254 (-2) cannot bind a socket.
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUILTIN_SCENARIOS",
    "LatencyStats",
    "SippError",
    "SippResult",
    "free_port",
    "free_rtp_port",
    "free_udp_block",
    "latency_stats",
    "parse_counts_csv",
    "parse_rtt_csv",
    "parse_stat_csv",
    "percentile",
    "run_sipp",
    "write_rtp_pcap",
]

#: scenarios compiled into sipp, selected with `-sn`
BUILTIN_SCENARIOS = frozenset({"uac", "uas", "regexp", "branchc", "branchs", "uac_pcap"})

EXIT_FATAL = 255
EXIT_BIND_FAILED = 254
_TAIL_CHARS = 4000
_BIG_BUFFER_RATE = 3000.0  # above this rate sipp needs bigger socket buffers (TESTBED)


class SippError(RuntimeError):
    """sipp is missing, or left nothing we can read (it never really ran)."""


@dataclass(frozen=True)
class LatencyStats:
    """A distribution of response times in milliseconds (nearest-rank percentiles)."""

    count: int
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class SippResult:
    """What one sipp run did. Counters are cumulative over the whole run."""

    command: tuple[str, ...]
    exit_code: int
    timed_out: bool
    total_calls: int
    successful_calls: int
    failed_calls: int
    retransmissions: int
    #: messages received that the scenario did not expect (sum of the `*_Unexp` counters)
    unexpected_messages: int
    #: calls that failed because of an unexpected message
    failed_unexpected: int
    failed_timeouts: int
    out_of_call_messages: int
    elapsed_s: float
    #: calls created per second of sipp's own run time
    calls_per_second: float
    #: response times per measure name ("1" is the INVITE to final-answer time)
    rtd_ms: Mapping[str, tuple[float, ...]]
    stats: Mapping[str, str]
    stdout_tail: str
    stderr_tail: str
    errors_tail: str
    #: lines written by the scenario's <log> actions (only with `trace_logs=True`)
    log_lines: tuple[str, ...]
    local_port: int
    media_port: int

    @property
    def ok(self) -> bool:
        """Every call succeeded and sipp said so."""
        return (
            self.exit_code == 0
            and not self.timed_out
            and self.failed_calls == 0
            and self.successful_calls > 0
        )

    @property
    def latency(self) -> LatencyStats | None:
        """Per-call INVITE → final answer latency (measure "1"), None when nothing closed it."""
        samples = self.rtd_ms.get("1", ())
        return latency_stats(samples) if samples else None

    def summary(self) -> str:
        """One line for assertion messages and benchmark output."""
        lat = self.latency
        lat_text = f" p50={lat.p50_ms:g}ms p99={lat.p99_ms:g}ms" if lat else ""
        return (
            f"sipp exit={self.exit_code}{' TIMEOUT' if self.timed_out else ''} "
            f"calls={self.total_calls} ok={self.successful_calls} failed={self.failed_calls} "
            f"retrans={self.retransmissions} unexpected={self.unexpected_messages} "
            f"cps={self.calls_per_second:.1f}{lat_text}"
        )

    def explain(self) -> str:
        """The summary plus the tails of sipp's outputs, for a failing assertion."""
        return (
            f"{self.summary()}\ncommand: {' '.join(self.command)}\n"
            f"--- errors.log ---\n{self.errors_tail}\n--- stderr ---\n{self.stderr_tail}\n"
            f"--- stdout ---\n{self.stdout_tail}"
        )


# --------------------------------------------------------------------------- pure helpers


def percentile(sorted_samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile `q` (0-100] of samples already sorted ascending."""
    if not sorted_samples:
        raise ValueError("percentile of no samples")
    if not 0 < q <= 100:
        raise ValueError(f"percentile {q} is outside (0, 100]")
    rank = math.ceil(q / 100 * len(sorted_samples))
    return float(sorted_samples[max(rank, 1) - 1])


def latency_stats(samples: Sequence[float]) -> LatencyStats:
    """Summarise response times (ms)."""
    ordered = sorted(samples)
    return LatencyStats(
        count=len(ordered),
        mean_ms=sum(ordered) / len(ordered),
        p50_ms=percentile(ordered, 50),
        p90_ms=percentile(ordered, 90),
        p99_ms=percentile(ordered, 99),
        max_ms=ordered[-1],
    )


def parse_stat_csv(text: str) -> dict[str, str]:
    """The last row of a `-trace_stat` file, keyed by column name."""
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if any(row)]
    if len(rows) < 2:
        raise ValueError("statistics file has no data row")
    header, last = rows[0], rows[-1]
    return {name: value for name, value in zip(header, last, strict=False) if name}


def parse_rtt_csv(text: str) -> dict[str, tuple[float, ...]]:
    """Response times (ms) per measure name from a `-trace_rtt` file."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or lines[0].split(";")[:3] != ["Date_ms", "response_time_ms", "rtd_no"]:
        raise ValueError("not a sipp response-time file (header Date_ms;response_time_ms;rtd_no)")
    measures: dict[str, list[float]] = {}
    for line in lines[1:]:
        parts = line.split(";")
        if len(parts) < 3:
            raise ValueError(f"malformed response-time row {line!r}")
        measures.setdefault(parts[2].strip(), []).append(float(parts[1]))
    return {name: tuple(values) for name, values in measures.items()}


def parse_counts_csv(text: str) -> dict[str, int]:
    """The last row of a `-trace_counts` file as integer counters, keyed by column name."""
    rows = [row for row in csv.reader(text.splitlines(), delimiter=";") if any(row)]
    if len(rows) < 2:
        return {}
    counters: dict[str, int] = {}
    for name, value in zip(rows[0], rows[-1], strict=False):
        if name and value.strip().lstrip("-").isdigit():
            counters[name] = int(value)
    return counters


def _stat_int(stats: Mapping[str, str], name: str) -> int:
    value = stats.get(name, "0").strip()
    return int(value) if value.lstrip("-").isdigit() else 0


def _stat_epoch(stats: Mapping[str, str], name: str) -> float:
    """`StartTime`-like cells hold `date<TAB>time<TAB>epoch`; the epoch is the precise part."""
    value = stats.get(name, "").strip().split("\t")[-1]
    try:
        return float(value)
    except ValueError:
        return 0.0


# --------------------------------------------------------------------------- ports


def free_port(host: str = "127.0.0.1", kind: int = socket.SOCK_DGRAM) -> int:
    """A port the kernel just handed out on `host` (free now; may be taken again later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_sip_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """A port free for both UDP and TCP on `host` now: the edge binds SIP on both (a
    UDP-only pick can collide with a TCP listener or an outgoing connection's port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        port = free_port(host)
        with socket.socket(family, socket.SOCK_STREAM) as tcp:
            try:
                tcp.bind((host, port))
            except OSError:
                continue
        return port
    raise SippError(f"found no port free for both UDP and TCP on {host}")


def free_udp_block(host: str, count: int, attempts: int = 50) -> int | None:
    """An even port P with P..P+count-1 all free for UDP on `host` now, or None."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        base = free_port(host) & ~1
        if base < 1024 or base + count > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                held.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    return None


def free_rtp_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """An even UDP port P with P..P+3 free (sipp binds P for audio and P+2 for video)."""
    base = free_udp_block(host, 4, attempts)
    if base is None:
        raise SippError(f"found no four free consecutive UDP ports on {host}")
    return base


# --------------------------------------------------------------------------- pcap


def write_rtp_pcap(
    path: Path,
    payload: bytes,
    *,
    payload_type: int,
    ptime_ms: int = 20,
    sample_rate: int = 8000,
    bytes_per_sample: int = 1,
    ssrc: int = 0x46445431,
    src: tuple[str, int] = ("169.254.0.1", 40000),
    dst: tuple[str, int] = ("169.254.0.2", 40002),
) -> int:
    """Write `payload` as an RTP stream in a pcap that sipp's `play_pcap_audio` replays.

    The audio is cut into `ptime_ms` packets (the last partial one is dropped) with pcap
    timestamps `ptime_ms` apart, which is what sipp paces its replay by. Addresses and
    ports inside are placeholders: sipp replaces them with its media address and the
    far end's SDP address. Returns the number of packets written. Pure file output.
    """
    samples = sample_rate * ptime_ms // 1000
    chunk = samples * bytes_per_sample
    count = len(payload) // chunk
    if count == 0:
        raise ValueError(
            f"payload of {len(payload)} bytes is shorter than one {ptime_ms} ms packet"
        )
    src_ip = socket.inet_aton(src[0])
    dst_ip = socket.inet_aton(dst[0])
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for index in range(count):
        rtp = (
            struct.pack(
                "!BBHII",
                0x80,
                ((1 << 7) if index == 0 else 0) | (payload_type & 0x7F),
                index & 0xFFFF,
                (index * samples) & 0xFFFFFFFF,
                ssrc,
            )
            + payload[index * chunk : (index + 1) * chunk]
        )
        udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(rtp), 0) + rtp
        ip_header = struct.pack(
            "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), index & 0xFFFF, 0, 64, 17, 0, src_ip, dst_ip
        )
        ip_header = ip_header[:10] + struct.pack("!H", _ip_checksum(ip_header)) + ip_header[12:]
        frame = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
        frame += ip_header + udp
        micros = index * ptime_ms * 1000
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return count


def _ip_checksum(header: bytes) -> int:
    total: int = sum(int(word) for word in struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --------------------------------------------------------------------------- running


@dataclass
class _Plan:
    """Everything one attempt needs; kept apart so a bind failure can retry with new ports."""

    scenario_args: list[str]
    target: str
    local_ip: str
    calls: int
    rate: float
    concurrent: int | None
    timeout_s: float
    service: str | None
    keys: Mapping[str, str]
    variables: Mapping[str, str]
    call_length_ms: int | None
    trace_logs: bool
    extra_args: Sequence[str]
    transport: str
    bind_local: bool
    env: Mapping[str, str] | None
    netns: str | None


def _command(plan: _Plan, local_port: int, media_port: int) -> list[str]:
    args = [
        "sipp",
        plan.target,
        *plan.scenario_args,
        "-i",
        plan.local_ip,
        "-mi",
        plan.local_ip,
        "-p",
        str(local_port),
        "-mp",
        str(media_port),
        "-t",
        plan.transport,
        "-m",
        str(plan.calls),
        "-r",
        f"{plan.rate:g}",
        "-nostdin",
        "-trace_stat",
        "-stf",
        "stat.csv",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_counts",
        "-trace_err",
        "-error_file",
        "errors.log",
        "-timeout",
        f"{max(1, math.ceil(plan.timeout_s))}s",
        "-timeout_error",
    ]
    if plan.bind_local:
        args.append("-bind_local")
    if plan.concurrent is not None:
        args += ["-l", str(plan.concurrent)]
    if plan.service is not None:
        args += ["-s", plan.service]
    if plan.rate >= _BIG_BUFFER_RATE and "-buff_size" not in plan.extra_args:
        args += ["-buff_size", "4194304"]
    if plan.call_length_ms is not None:
        args += ["-d", str(plan.call_length_ms)]
    for key, value in plan.keys.items():
        args += ["-key", key, value]
    for name, value in plan.variables.items():
        args += ["-set", name, value]
    if plan.trace_logs:
        args += ["-trace_logs", "-log_file", "logs.log"]
    args += list(plan.extra_args)
    if plan.netns is not None:
        args = ["ip", "netns", "exec", plan.netns, *args]
    return args


def _tail(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return ""
    return data[-_TAIL_CHARS:].decode("utf-8", "replace")


def _log_lines(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return tuple(line.rstrip() for line in text.splitlines() if line.strip())


def _read_one(workdir: Path, pattern: str) -> str | None:
    found = sorted(workdir.glob(pattern))
    return found[-1].read_text(encoding="utf-8", errors="replace") if found else None


def _attempt(plan: _Plan, workdir: Path, local_port: int, media_port: int) -> SippResult:
    command = _command(plan, local_port, media_port)
    stdout_path = workdir / "stdout.txt"
    stderr_path = workdir / "stderr.txt"
    timed_out = False
    env = dict(os.environ if plan.env is None else plan.env)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        # its own session, so a timeout kill reaches nothing but this sipp
        proc = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )
        try:
            exit_code = proc.wait(timeout=plan.timeout_s + 15)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            exit_code = proc.wait()
    # a killed sipp can leave half-written files: what cannot be read counts as absent
    try:
        stats = parse_stat_csv(_read_one(workdir, "stat.csv") or "")
    except ValueError:
        stats = {}
    try:
        rtd = parse_rtt_csv(_read_one(workdir, "*_rtt.csv") or "")
    except ValueError:
        rtd = {}
    counts_text = _read_one(workdir, "*_counts.csv")
    counts = parse_counts_csv(counts_text) if counts_text else {}
    total = _stat_int(stats, "TotalCallCreated")
    elapsed = max(_stat_epoch(stats, "CurrentTime") - _stat_epoch(stats, "StartTime"), 0.0)
    return SippResult(
        command=tuple(command),
        exit_code=exit_code,
        timed_out=timed_out,
        total_calls=total,
        successful_calls=_stat_int(stats, "SuccessfulCall(C)"),
        failed_calls=_stat_int(stats, "FailedCall(C)"),
        retransmissions=_stat_int(stats, "Retransmissions(C)"),
        unexpected_messages=sum(v for k, v in counts.items() if k.endswith("_Unexp")),
        failed_unexpected=_stat_int(stats, "FailedUnexpectedMessage(C)"),
        failed_timeouts=_stat_int(stats, "FailedTimeoutOnRecv(C)"),
        out_of_call_messages=_stat_int(stats, "OutOfCallMsgs(C)"),
        elapsed_s=elapsed,
        calls_per_second=total / elapsed if elapsed > 0 else 0.0,
        rtd_ms=rtd,
        stats=stats,
        stdout_tail=_tail(stdout_path),
        stderr_tail=_tail(stderr_path),
        errors_tail=_tail(workdir / "errors.log"),
        log_lines=_log_lines(workdir / "logs.log"),
        local_port=local_port,
        media_port=media_port,
    )


def run_sipp(
    scenario: Path | str,
    target: str,
    *,
    local_ip: str = "127.0.0.1",
    local_port: int | None = None,
    calls: int = 1,
    rate: float = 10.0,
    concurrent: int | None = None,
    timeout_s: float = 30.0,
    media_port: int | None = None,
    service: str | None = None,
    keys: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    call_length_ms: int | None = None,
    trace_logs: bool = False,
    extra_args: Sequence[str] = (),
    transport: str = "u1",
    bind_local: bool = True,
    workdir: Path | None = None,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
) -> SippResult:
    """Run sipp once in the foreground and return its parsed figures.

    `scenario` is a scenario file, or the name of one compiled into sipp ("uac", "uas", ...).
    `target` is "host:port". `calls` is `-m`, `rate` is `-r` (calls/s), `concurrent` is
    `-l`, `call_length_ms` is `-d` (the length of a scenario's plain `<pause/>`).
    `local_port`/`media_port` default to free ports chosen now (on `local_ip`, inside
    `netns` when given), chosen again if sipp still fails to bind. `service` is `-s` (the
    Request-URI user, `[service]`); `keys` become `-key NAME VALUE` (`[NAME]` in messages,
    or as a whole attribute value); `variables` become `-set NAME VALUE` (scenario globals).
    `timeout_s` is sipp's own `-timeout` with `-timeout_error`; the process is killed 15 s
    after that. `bind_local` (default on) makes `local_ip` the real source address, which
    is what an allowlist sees. `trace_logs` collects the scenario's `<log>` lines.
    `workdir` keeps sipp's files (else a temporary directory is removed). `netns` runs sipp
    inside that network namespace (`ip netns exec`). Raises `SippError` when sipp is not
    installed or produced no statistics at all (a scenario it refused, for one).
    """
    if shutil.which("sipp") is None:
        raise SippError("sipp is not installed: apt-get install sip-tester")
    if calls < 1 or rate <= 0 or timeout_s <= 0:
        raise ValueError("calls, rate and timeout_s must be positive")
    if isinstance(scenario, str) and scenario in BUILTIN_SCENARIOS:
        scenario_args = ["-sn", scenario]
    else:
        path = Path(scenario).resolve()
        if not path.is_file():
            raise SippError(f"scenario {path} does not exist")
        scenario_args = ["-sf", str(path)]
    plan = _Plan(
        scenario_args=scenario_args,
        target=target,
        local_ip=local_ip,
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        timeout_s=timeout_s,
        service=service,
        keys=dict(keys or {}),
        variables=dict(variables or {}),
        call_length_ms=call_length_ms,
        trace_logs=trace_logs,
        extra_args=extra_args,
        transport=transport,
        bind_local=bind_local,
        env=env,
        netns=netns,
    )
    with tempfile.TemporaryDirectory(prefix="fd-sipp-") as tmp:
        base = Path(tmp) if workdir is None else workdir
        for attempt in range(3):
            run_dir = base / f"run{attempt}"
            run_dir.mkdir(parents=True, exist_ok=True)
            sip_port, rtp_port = local_port, media_port
            if sip_port is None or rtp_port is None:
                free_sip, free_rtp = _free_ports(local_ip, netns)
                sip_port = sip_port or free_sip
                rtp_port = rtp_port or free_rtp
            result = _attempt(plan, run_dir, sip_port, rtp_port)
            auto = local_port is None or media_port is None
            if result.exit_code == EXIT_BIND_FAILED and auto and not result.stats:
                time.sleep(0.05)
                continue
            break
        if not result.stats and not result.timed_out:
            raise SippError(f"sipp left no statistics (it did not run):\n{result.explain()}")
        return result


_PROBE = (
    "import sys\n"
    "sys.path[:0] = [{path!r}]\n"
    "from tests.support.sipp import free_port, free_rtp_port\n"
    "print(free_port({ip!r}), free_rtp_port({ip!r}))\n"
)


def _free_ports(local_ip: str, netns: str | None) -> tuple[int, int]:
    """A free SIP port and a free media port on `local_ip`, seen from inside `netns`."""
    if netns is None:
        return free_port(local_ip), free_rtp_port(local_ip)
    package_root = str(Path(__file__).resolve().parents[2])
    probe = _PROBE.format(path=package_root, ip=local_ip)
    out = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if out.returncode != 0:
        raise SippError(f"cannot probe free ports in netns {netns}: {out.stderr.strip()}")
    sip_text, rtp_text = out.stdout.split()
    return int(sip_text), int(rtp_text)
