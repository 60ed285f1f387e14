"""Place one real call with baresip (Debian `baresip`, 1.0.0) as a headless caller.

Owns: a throw-away baresip configuration (config, accounts, the caller's audio) in a
directory of its own, with every port chosen free at run time (loopback is shared);
running baresip as an asyncio subprocess, so an edge served by the same event loop keeps
answering; dialling and following the call over baresip's `ctrl_tcp` control socket;
and always stopping the process at the end (`quit`, SIGTERM twice, then SIGKILL).
Must not: call anything but the target it is given, or leave a baresip running.

Typical use, in an async test::

    call = await place_call("1000", "127.0.0.1", edge_port, Path("caller.wav"),
                            workdir=tmp_path, timeout_s=30)
    assert call.established and call.closed
    heard = read_wav(call.received_wav)       # what the edge sent us
    said = read_wav(call.sent_wav)            # what we sent the edge

What baresip 1.0.0 does here (checked with trial runs on this machine):

- Audio in: `audio_source aufile,<wav>` needs 16-bit PCM at the codec's rate (8 kHz for
  G.711) and one channel; other WAVs are converted with sox. When the file ends the
  `menu` module hangs up (AUDIO_ERROR "end of file", then BYE), so the length of the WAV
  is the length of the call: pad it with silence (`pad_end_s`) for a longer call.
- Audio out: baresip needs a player, but there is no sound card. `alsa,null` works but
  its thread writes into a sink that never blocks, so it spins a whole CPU core for the
  length of the call (15.8 s of CPU in a 19 s run), which starves the edge under test on
  a 2-core machine. The default is `aubridge,<unique name>`: a bridge device whose other
  end (a source of that name) never exists, so nothing pulls audio through it (0.13 s of
  CPU for the same 19 s run). Recording does not depend on the player (below).
- Recording: the `sndfile` audio filter writes two WAVs into `snd_path`, opened when the
  audio stream starts, 16-bit mono at 8 kHz, closed when the call ends:
  `dump-YYYY-MM-DD-HH-MM-SS-enc.wav`, the audio baresip SENT (the source, just before
  the encoder) and `dump-YYYY-MM-DD-HH-MM-SS-dec.wav`, the audio it RECEIVED (just after
  the decoder, in the RTP receive path, so it does not need a running player). Newer
  baresip versions put `<cname>=><peer>-` after `dump-`; we match `dump-*-enc.wav` and
  `dump-*-dec.wav`.
- Timing in the recordings: both files are written packet by packet, samples back to
  back, so a position is a count of 20 ms frames, not a wall-clock time. "dec" starts
  with the first frame out of baresip's jitter buffer (`jitter_buffer_delay`, frames),
  which therefore shifts nothing inside the file; the frames still buffered when the
  call ends are not written ("dec" is ~120 ms shorter than "enc" at the default 5-10,
  equally long at 0-0). The lag of an echo between "enc" and "dec" positions is thus
  the far end's turnaround (RTP in to RTP out), checked against a capture on lo.
- Addresses: without `net_interface 127.0.0.1` baresip offers its eth0 address in the
  SDP (and the edge refuses it with 488, media address not a PBX address);
  `net_interface lo` fails ("could not get network address"), the address works.
- Control: `ctrl_tcp` speaks netstrings of JSON. Events look like
  `{"event":true,"type":"CALL_ESTABLISHED","class":"call","id":"<Call-ID>",
  "param":...}`; a call shows CALL_LOCAL_SDP, CALL_REMOTE_SDP, CALL_ESTABLISHED,
  CALL_RTPESTAB, (AUDIO_ERROR at the end of the WAV), CALL_CLOSED, whose param says why:
  "end of file" (the WAV ended, we sent BYE), "Connection reset by user" (our `hangup`
  command), "Connection reset by peer" (the far end sent BYE). Commands
  are `{"command":"dial","params":"sip:...","token":"..."}`, answered by
  `{"response":true,"ok":true,"data":"...","token":"..."}`.
- We dial over ctrl_tcp rather than with `-e "/dial ..."`: with `-e` the INVITE leaves
  before we can connect to the control socket, and an edge on loopback answers within a
  few milliseconds, so CALL_ESTABLISHED could be sent before anyone listens. `-t` is
  still passed, as a backstop that ends baresip even if this process dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import socket
import subprocess
import tempfile
import uuid
import wave
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.sipp import free_udp_block

__all__ = [
    "MODULE_PATH",
    "BaresipCall",
    "BaresipError",
    "BaresipEvent",
    "parse_netstrings",
    "place_call",
    "prepare_audio",
]

MODULE_PATH = Path("/usr/lib/baresip/modules")
_RATE = 8000
_TAIL_CHARS = 4000
_CTRL_CONNECT_S = 5.0
_QUIT_WAIT_S = 2.0
_TERM_WAIT_S = 1.0
_RTP_RANGE = 16


class BaresipError(RuntimeError):
    """baresip (or a tool it needs) is missing, or it never came up."""


@dataclass(frozen=True)
class BaresipEvent:
    """One ctrl_tcp event; `at` is seconds since baresip was started."""

    at: float
    type: str
    call_id: str | None
    param: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class BaresipCall:
    """What one call placed by `place_call` left behind."""

    target: str  # the SIP URI dialled
    workdir: Path  # config, accounts, caller.wav, recordings/, baresip.log
    sent_wav: Path | None  # sndfile "enc": what baresip sent
    received_wav: Path | None  # sndfile "dec": what baresip received
    events: tuple[BaresipEvent, ...]
    responses: tuple[Mapping[str, Any], ...]  # answers to our ctrl_tcp commands
    exit_status: int | None  # the process's return code (negative: killed by signal)
    stopped_by: str  # "quit", "terminate", "kill" or "exited" (it had already ended)
    timed_out: bool  # the call had not closed by itself within timeout_s
    log_tail: str
    dialled_at: float  # seconds since start, when the dial command was sent
    elapsed_s: float  # from start until the process had exited
    ports: Mapping[str, int] = field(default_factory=dict)  # sip, ctrl, rtp_min, rtp_max

    def first(self, event_type: str) -> BaresipEvent | None:
        return next((e for e in self.events if e.type == event_type), None)

    @property
    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    @property
    def call_id(self) -> str | None:
        """The SIP Call-ID of the call (as the edge's CallRecord has it)."""
        return next((e.call_id for e in self.events if e.call_id), None)

    @property
    def established(self) -> bool:
        return self.first("CALL_ESTABLISHED") is not None

    @property
    def closed(self) -> bool:
        return self.first("CALL_CLOSED") is not None

    @property
    def close_reason(self) -> str | None:
        closed = self.first("CALL_CLOSED")
        return None if closed is None else closed.param

    @property
    def connected_s(self) -> float | None:
        """How long the call was up: CALL_ESTABLISHED to CALL_CLOSED."""
        up, down = self.first("CALL_ESTABLISHED"), self.first("CALL_CLOSED")
        if up is None or down is None:
            return None
        return down.at - up.at

    def describe(self) -> str:
        """A summary for assertion messages."""
        return (
            f"baresip call to {self.target}: events={self.event_types} "
            f"close={self.close_reason!r} exit={self.exit_status} ({self.stopped_by}) "
            f"timed_out={self.timed_out}\n--- log tail ---\n{self.log_tail}"
        )


# --------------------------------------------------------------------------- netstrings


def parse_netstrings(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split complete netstrings (`<len>:<data>,`) off `buffer`; return them and the rest."""
    messages: list[bytes] = []
    while True:
        colon = buffer.find(b":")
        if colon < 0:
            if len(buffer) > 10 or (buffer and not buffer.isdigit()):
                raise ValueError(f"not a netstring: {buffer[:40]!r}")
            return messages, buffer
        head = buffer[:colon]
        if not head.isdigit() or len(head) > 9:
            raise ValueError(f"not a netstring length: {head[:40]!r}")
        size = int(head)
        end = colon + 1 + size
        if len(buffer) < end + 1:
            return messages, buffer
        if buffer[end : end + 1] != b",":
            raise ValueError("netstring not terminated by ','")
        messages.append(buffer[colon + 1 : end])
        buffer = buffer[end + 1 :]


def _netstring(payload: Mapping[str, Any]) -> bytes:
    data = json.dumps(payload).encode()
    return str(len(data)).encode() + b":" + data + b","


# --------------------------------------------------------------------------- set-up


def _require_baresip() -> str:
    binary = shutil.which("baresip")
    if binary is None:
        raise BaresipError("baresip is not installed: run `apt-get install baresip`")
    return binary


def _free_port(host: str, kinds: tuple[int, ...], attempts: int = 50) -> int:
    """A port free on `host` for every socket type in `kinds` (UDP and/or TCP) right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(attempts):
        with socket.socket(family, kinds[0]) as first:
            first.bind((host, 0))
            port = int(first.getsockname()[1])
            try:
                for kind in kinds[1:]:
                    with socket.socket(family, kind) as other:
                        other.bind((host, port))
            except OSError:
                continue
            return port
    raise BaresipError(f"found no port free for {kinds} on {host}")


def _free_udp_range(host: str, count: int, attempts: int = 50) -> int:
    """An even port P with P..P+count-1 free for UDP on `host` right now."""
    base = free_udp_block(host, count, attempts)
    if base is None:
        raise BaresipError(f"found no {count} free consecutive UDP ports on {host}")
    return base


def prepare_audio(source: Path, dest: Path, pad_end_s: float = 0.0, rate: int = _RATE) -> Path:
    """Write `source` to `dest` as mono 16-bit PCM at `rate` (8 kHz), `pad_end_s` of silence added.

    Uses sox (Debian `sox`) only when the source is in another format.
    """
    with wave.open(str(source), "rb") as wav:
        fits = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (rate, 1, 2)
        frames = wav.readframes(wav.getnframes()) if fits else b""
    if not fits:
        sox = shutil.which("sox")
        if sox is None:
            raise BaresipError(f"{source} is not {rate} Hz mono s16: run `apt-get install sox`")
        converted = dest.with_suffix(".sox.wav")
        subprocess.run(
            [
                sox,
                str(source),
                "-r",
                str(rate),
                "-c",
                "1",
                "-b",
                "16",
                "-e",
                "signed-integer",
                str(converted),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with wave.open(str(converted), "rb") as wav:
            frames = wav.readframes(wav.getnframes())
        converted.unlink()
    frames += bytes(2 * round(max(0.0, pad_end_s) * rate))
    with wave.open(str(dest), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return dest


def _write_config(
    workdir: Path,
    *,
    local_host: str,
    sip_port: int,
    ctrl_port: int,
    rtp_min: int,
    rtp_max: int,
    audio: Path,
    player: str,
    user: str,
    codecs: str,
    rate: int,
    jitter_buffer: str,
    call_timeout_s: int,
) -> Path:
    config_dir = workdir / "config"
    config_dir.mkdir(parents=True, exist_ok=True)
    recordings = workdir / "recordings"
    recordings.mkdir(exist_ok=True)
    for value in (str(audio), str(recordings), player):
        if any(c.isspace() for c in value):
            raise BaresipError(f"baresip config values cannot hold whitespace: {value!r}")
    player_module = player.split(",", 1)[0]
    if not (MODULE_PATH / f"{player_module}.so").is_file():
        raise BaresipError(f"no baresip module {player_module}.so in {MODULE_PATH}")
    modules = ["g711", "aufile", player_module, "sndfile"]
    if "G722" in codecs.upper():
        modules.insert(0, "g722")  # Debian's baresip ships it
    for name in [*modules, "account", "menu", "ctrl_tcp"]:
        if not (MODULE_PATH / f"{name}.so").is_file():
            raise BaresipError(
                f"baresip module {name}.so is missing: run `apt-get install baresip-core`"
            )
    lines = [
        "poll_method\tepoll",
        f"sip_listen\t{local_host}:{sip_port}",
        f"net_interface\t{local_host}",
        f"call_local_timeout\t{call_timeout_s}",
        "call_max_calls\t1",
        f"audio_player\t{player}",
        f"audio_alert\t{player}",
        f"audio_source\taufile,{audio}",
        f"ausrc_srate\t{rate}",
        "ausrc_channels\t1",
        "audio_buffer\t20-160",
        f"rtp_ports\t{rtp_min}-{rtp_max}",
        "rtcp_mux\tno",
        f"jitter_buffer_delay\t{jitter_buffer}",
        f"module_path\t{MODULE_PATH}",
        *(f"module\t{name}.so" for name in modules),
        "module_tmp\taccount.so",
        "module_app\tmenu.so",  # the dial command, and hang-up at the end of the WAV
        "module_app\tctrl_tcp.so",
        f"ctrl_tcp_listen\t{local_host}:{ctrl_port}",
        f"snd_path\t{recordings}",
    ]
    (config_dir / "config").write_text("\n".join(lines) + "\n")
    (config_dir / "accounts").write_text(
        f"<sip:{user}@{local_host}:{sip_port}>;regint=0;audio_codecs={codecs}\n"
    )
    (config_dir / "contacts").write_text("")
    return config_dir


def _log_tail(path: Path) -> str:
    """The end of baresip's output, without menu's once-a-100-ms status line."""
    try:
        text = path.read_bytes().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = []
    for raw in text.replace("\r", "\n").split("\n"):
        line = raw.replace("\x1b[31m", "").replace("\x1b[;m", "").strip()
        if line and not (line.startswith("[") and "] audio=" in line):
            kept.append(line)
    return "\n".join(kept)[-_TAIL_CHARS:]


def _recording(directory: Path, kind: str) -> Path | None:
    found = sorted(directory.glob(f"dump-*-{kind}.wav"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


# --------------------------------------------------------------------------- the call


class _Control:
    """The ctrl_tcp connection: events and responses, read by a task into a queue."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, started: float
    ) -> None:
        self.writer = writer
        self.messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.events: list[BaresipEvent] = []
        self.responses: list[Mapping[str, Any]] = []
        self._reader = reader
        self._started = started
        self._task = asyncio.create_task(self._read(), name="baresip ctrl_tcp reader")

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        buffer = b""
        try:
            while chunk := await self._reader.read(65536):
                messages, buffer = parse_netstrings(buffer + chunk)
                for raw in messages:
                    message = json.loads(raw)
                    if not isinstance(message, dict):
                        continue
                    if message.get("event"):
                        call_id = message.get("id")
                        self.events.append(
                            BaresipEvent(
                                at=loop.time() - self._started,
                                type=str(message.get("type", "")),
                                call_id=str(call_id) if call_id else None,
                                param=str(message.get("param", "")),
                                data=message,
                            )
                        )
                    elif message.get("response"):
                        self.responses.append(message)
                    self.messages.put_nowait(message)
        except (OSError, ValueError):
            pass
        finally:
            self.messages.put_nowait(None)

    def send(self, command: str, params: str = "") -> bool:
        if self.writer.is_closing():
            return False
        try:
            self.writer.write(_netstring({"command": command, "params": params, "token": command}))
        except (OSError, RuntimeError):
            return False
        return True

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def _connect(
    host: str, port: int, process: asyncio.subprocess.Process, log: Path, started: float
) -> _Control:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _CTRL_CONNECT_S
    while True:
        if process.returncode is not None:
            raise BaresipError(
                f"baresip exited ({process.returncode}) before its control socket opened:\n"
                + _log_tail(log)
            )
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise BaresipError(
                    f"baresip's ctrl_tcp never listened on {host}:{port}:\n" + _log_tail(log)
                ) from None
            await asyncio.sleep(0.02)
            continue
        return _Control(reader, writer, started)


async def _stop(process: asyncio.subprocess.Process, control: _Control | None) -> str:
    """End baresip: `quit` over ctrl_tcp, then SIGTERM twice, then SIGKILL.

    `quit` (and a first SIGTERM) stop gracefully, which waits for open SIP transactions:
    after a call nobody answered that can be the 32 s of an INVITE's timer B. baresip
    takes a second SIGTERM as "stop now".
    """
    if process.returncode is not None:
        return "exited"
    if control is not None and control.send("quit"):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), _QUIT_WAIT_S)
            return "quit"
    for _ in range(2):
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), _TERM_WAIT_S)
            return "terminate"
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
    return "kill"


async def place_call(
    number: str,
    host: str,
    port: int,
    audio: Path,
    *,
    workdir: Path | None = None,
    timeout_s: float = 60.0,
    pad_end_s: float = 0.0,
    hangup_after_s: float | None = None,
    local_host: str = "127.0.0.1",
    user: str = "test",
    codecs: str = "PCMU/8000/1",
    rate: int = _RATE,
    player: str | None = None,
    jitter_buffer: str = "5-10",
) -> BaresipCall:
    """Call `sip:number@host:port` with baresip, sending `audio`, and wait for the end.

    The call lasts as long as `audio` (plus `pad_end_s` of silence): baresip hangs up
    when the file ends, unless the far end hangs up first, `hangup_after_s` (counted from
    CALL_ESTABLISHED) comes first, or `timeout_s` (counted from dialling) passes, after
    which we hang up and report `timed_out`. baresip is stopped before this returns, in
    every case. Files stay in `workdir` (a new temporary directory when None, left for
    the caller to remove). `codecs` is the account's `audio_codecs` (with "G722/16000/1"
    baresip's g722 module is loaded); `rate` is the microphone WAV's rate (16000 for a
    G.722 call, so baresip sends what it was given). `jitter_buffer` is baresip's
    `jitter_buffer_delay` in frames (baresip's default, 5-10); it does not shift positions
    in the recordings.
    """
    binary = _require_baresip()
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="baresip-"))
    workdir.mkdir(parents=True, exist_ok=True)
    # in a thread: sox may run, and an edge in this event loop must keep serving meanwhile
    caller_wav = await asyncio.to_thread(
        prepare_audio, Path(audio), workdir / "caller.wav", pad_end_s, rate
    )
    sip_port = _free_port(local_host, (socket.SOCK_DGRAM, socket.SOCK_STREAM))
    ctrl_port = _free_port(local_host, (socket.SOCK_STREAM,))
    rtp_min = _free_udp_range(local_host, _RTP_RANGE)
    rtp_max = rtp_min + _RTP_RANGE - 1
    config_dir = _write_config(
        workdir,
        local_host=local_host,
        sip_port=sip_port,
        ctrl_port=ctrl_port,
        rtp_min=rtp_min,
        rtp_max=rtp_max,
        audio=caller_wav,
        player=player or f"aubridge,fd-{uuid.uuid4().hex[:12]}",
        user=user,
        codecs=codecs,
        rate=rate,
        jitter_buffer=jitter_buffer,
        call_timeout_s=max(5, math.ceil(timeout_s)),
    )
    target = f"sip:{number}@{host}:{port}"
    log_path = workdir / "baresip.log"
    loop = asyncio.get_running_loop()
    backstop_s = math.ceil(timeout_s + _CTRL_CONNECT_S + 10)
    started = loop.time()
    control: _Control | None = None
    dialled_at = 0.0
    timed_out = False
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            binary,
            "-f",
            str(config_dir),
            "-t",
            str(backstop_s),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        control = await _connect(local_host, ctrl_port, process, log_path, started)
        control.send("dial", target)
        dialled_at = loop.time() - started
        deadline = loop.time() + timeout_s
        hangup_at: float | None = None
        while True:
            wake = deadline if hangup_at is None else min(deadline, hangup_at)
            try:
                message = await asyncio.wait_for(
                    control.messages.get(), max(0.0, wake - loop.time())
                )
            except TimeoutError:
                if hangup_at is not None and loop.time() >= hangup_at:
                    control.send("hangup")
                    hangup_at = None
                    continue
                timed_out = True
                control.send("hangup")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_closed(control), 2.0)
                break
            if message is None:  # control socket closed: baresip is going away
                break
            kind = message.get("type")
            if kind == "CALL_ESTABLISHED" and hangup_after_s is not None:
                hangup_at = loop.time() + hangup_after_s
            if kind == "CALL_CLOSED":
                break
    finally:
        try:
            stopped_by = await _stop(process, control)
        except BaseException:
            if process.returncode is None:
                process.kill()
            raise
        finally:
            if control is not None:
                await control.close()
    recordings = workdir / "recordings"
    return BaresipCall(
        target=target,
        workdir=workdir,
        sent_wav=_recording(recordings, "enc"),
        received_wav=_recording(recordings, "dec"),
        events=tuple(control.events) if control is not None else (),
        responses=tuple(control.responses) if control is not None else (),
        exit_status=process.returncode,
        stopped_by=stopped_by,
        timed_out=timed_out,
        log_tail=_log_tail(log_path),
        dialled_at=dialled_at,
        elapsed_s=loop.time() - started,
        ports={"sip": sip_port, "ctrl": ctrl_port, "rtp_min": rtp_min, "rtp_max": rtp_max},
    )


async def _closed(control: _Control) -> None:
    while (message := await control.messages.get()) is not None:
        if message.get("type") == "CALL_CLOSED":
            return
