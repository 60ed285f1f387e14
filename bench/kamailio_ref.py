"""Kamailio's stateless 486: the native reference for frontdesk's signalling figures.

`kamailio_486()` starts Kamailio in the foreground with bench/kamailio_486.cfg on a free
loopback port (its own pid file, runtime and working directory in a temporary directory),
waits until it answers, yields where it listens, and stops it. `measure()` drives it with
sipp's uac_busy scenario (INVITE → 486 → ACK) through `tests.support.sipp.run_sipp`.
A benchmark that measures frontdesk's 486 calls both in one run, so the two figures come
from the same machine in the same minute.

    python -m bench.kamailio_ref [--calls 60000] [--rate 20000] [--children 4]

prints calls/s and the INVITE → 486 latency (p50/p99, in sipp's 4 ms clock steps) and
the sipp command that produced them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.sipp import SippResult, free_port, run_sipp

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "bench" / "kamailio_486.cfg"
BUSY_SCENARIO = ROOT / "tests" / "data" / "sipp" / "uac_busy.xml"
_READY_TIMEOUT_S = 10.0


class KamailioError(RuntimeError):
    """Kamailio is missing, or did not come up answering."""


@dataclass(frozen=True)
class KamailioRef:
    """A running reference Kamailio."""

    host: str
    port: int
    pid: int
    log_path: Path

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


def kamailio_binary() -> str:
    """The kamailio executable, or a KamailioError naming the Debian package."""
    found = shutil.which("kamailio") or (
        "/usr/sbin/kamailio" if os.access("/usr/sbin/kamailio", os.X_OK) else None
    )
    if found is None:
        raise KamailioError("kamailio is not installed: apt-get install kamailio")
    return found


def _answers(host: str, port: int, timeout: float = 0.3) -> bool:
    """Does something on host:port answer a SIP OPTIONS with a 486?"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        local = sock.getsockname()[1]
        probe = (
            f"OPTIONS sip:probe@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{local};branch=z9hG4bKfdprobe{time.monotonic_ns()}\r\n"
            f"From: <sip:probe@{host}>;tag=probe\r\nTo: <sip:probe@{host}>\r\n"
            f"Call-ID: probe-{time.monotonic_ns()}@{host}\r\nCSeq: 1 OPTIONS\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        sock.settimeout(timeout)
        sock.sendto(probe.encode(), (host, port))
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return False
    return data.startswith(b"SIP/2.0 486")


def _port_free(host: str, port: int) -> bool:
    """Kamailio binds with SO_REUSEADDR and would share a taken port: look first."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()  # the main process stops its children itself
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: only kamailio's processes
        proc.wait(timeout=5)


@contextlib.contextmanager
def kamailio_486(
    port: int | None = None, *, host: str = "127.0.0.1", children: int = 4
) -> Iterator[KamailioRef]:
    """Run the reference Kamailio on `host:port` (a free port when None) while inside."""
    binary = kamailio_binary()
    with tempfile.TemporaryDirectory(prefix="fd-kamailio-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "kamailio.log"
        for _attempt in range(3):
            listen_port = port or free_port(host)
            if not _port_free(host, listen_port):
                if port is None:
                    continue
                raise KamailioError(f"UDP {host}:{port} is taken")
            command = [
                binary,
                "-DD",  # foreground, no daemon
                "-E",  # log to stderr
                "-f",
                str(CONFIG),
                "-A",
                f"FD_LISTEN=udp:{host}:{listen_port}",
                "-n",
                str(children),
                "-T",  # no TCP
                "-S",  # no SCTP
                "-Y",
                str(workdir),
                "-P",
                str(workdir / "kamailio.pid"),
                "-w",
                str(workdir),
            ]
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            try:
                deadline = time.monotonic() + _READY_TIMEOUT_S
                while proc.poll() is None and time.monotonic() < deadline:
                    if _answers(host, listen_port):
                        break
                else:
                    tail = log_path.read_text(errors="replace")[-2000:]
                    if proc.poll() is not None and port is None:
                        continue  # most likely the port was taken meanwhile: try another
                    raise KamailioError(f"kamailio did not answer on {host}:{listen_port}:\n{tail}")
                yield KamailioRef(host, listen_port, proc.pid, log_path)
                return
            finally:
                _stop(proc)
        raise KamailioError(f"kamailio would not start:\n{log_path.read_text(errors='replace')}")


def measure(
    ref: KamailioRef,
    *,
    calls: int = 60_000,
    rate: float = 20_000,
    concurrent: int | None = None,
    timeout_s: float = 120.0,
) -> SippResult:
    """Drive `ref` with uac_busy (INVITE, 486, ACK) and return sipp's figures."""
    return run_sipp(
        BUSY_SCENARIO,
        ref.target,
        calls=calls,
        rate=rate,
        concurrent=concurrent,
        timeout_s=timeout_s,
        service="1000",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=20_000)
    parser.add_argument("--concurrent", type=int, default=None)
    parser.add_argument("--children", type=int, default=4)
    args = parser.parse_args(argv)
    with kamailio_486(children=args.children) as ref:
        result = measure(ref, calls=args.calls, rate=args.rate, concurrent=args.concurrent)
    lat = result.latency
    print(
        f"kamailio 486 reference: {result.successful_calls}/{result.total_calls} calls answered "
        f"486, {result.failed_calls} failed, offered {args.rate:g}/s, "
        f"achieved {result.calls_per_second:.0f} calls/s"
    )
    if lat is not None:
        print(
            f"  INVITE->486 latency: p50 {lat.p50_ms:g} ms, p90 {lat.p90_ms:g} ms, "
            f"p99 {lat.p99_ms:g} ms, max {lat.max_ms:g} ms (sipp clock steps ~4 ms)"
        )
    print(f"  command: {' '.join(result.command)}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
