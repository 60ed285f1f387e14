"""The wire between the SIP edge and a media worker process (sans-IO): kinds and payloads.

Owns: what the edge asks of a media worker and what the worker reports, framed by
`frontdesk.media.wire` (one Unix stream socket per worker; `slot` names the call):

    edge -> worker
      HELLO    `WorkerSettings` as JSON (the first message)
      OPEN     a new call: `OpenCall` as JSON; its RTP and RTCP sockets ride along as
               two file descriptors (SCM_RIGHTS) on the same write
      AUDIO    the agent's speech for the call, PCM 16 kHz (queued, paced by the worker)
      PROMPT   play a prompt the worker knows by number (PROMPT_DEFINE taught it)
      PROMPT_DEFINE  slot = the prompt's number, payload = its PCM 16 kHz
      CLEAR    drop the call's queued speech now (barge-in)
      REOFFER  a re-INVITE's media: {"host", "port"} (the latch learns again)
      RECORD   record the call from now on: ["<org id>", "<session id>"] (they name the file)
      CLOSE    the call ended: the worker closes its sockets and answers CLOSED
    worker -> edge
      READY    the worker runs: {"pid"}
      FRAMES   one frame of the caller's audio, PCM 16 kHz, as the jitter buffer plays it
      DTMF     a key (RFC 4733), the digit as ASCII
      REMOTE   where the call's RTP goes now: {"host", "port"} or null (waiting to latch)
      STATES   every call's counters (`CallState` records, slot 0), a few times a second
      CLOSED   the call's last `CallState`, after its sockets are closed
      CLOCK    the worker's media clock: `ClockReport` (slot 0)

Must not: do IO or read clocks. Times in reports are ages ("this long ago"), never clock
readings, because the two processes' loop clocks are not the same clock.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["CallState", "ClockReport", "Kind", "OpenCall", "WorkerSettings"]


class Kind(enum.IntEnum):
    # edge -> worker
    HELLO = 1
    OPEN = 2
    AUDIO = 3
    PROMPT = 4
    PROMPT_DEFINE = 5
    CLEAR = 6
    REOFFER = 7
    CLOSE = 8
    RECORD = 9
    # worker -> edge
    READY = 20
    FRAMES = 21
    DTMF = 22
    REMOTE = 23
    STATES = 24
    CLOSED = 25
    CLOCK = 26


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    """The few node settings a media worker needs: plain values, so that the worker does
    not import the settings model (pydantic: a fifth of a second of every start)."""

    pbx_networks: tuple[str, ...]  # the allowlist, as CIDRs
    recordings_path: str
    log_level: str = "INFO"
    realtime: bool = True
    use_uvloop: bool = True

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> WorkerSettings:
        value: dict[str, Any] = json.loads(payload)
        value["pbx_networks"] = tuple(value.get("pbx_networks", ()))
        return cls(**value)


@dataclass(frozen=True, slots=True)
class OpenCall:
    """What a worker needs to carry a call's media (the sockets come beside it)."""

    codec: str
    payload_type: int
    telephone_event_pt: int | None
    ptime_ms: int
    remote_host: str  # the offer's c= address and m= port
    remote_port: int

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> OpenCall:
        value: dict[str, Any] = json.loads(payload)
        return cls(**value)


_STATE = struct.Struct("!IIIIIIIBf")
_LATCHING, _LEARNING = 1, 2


def pack_state(
    slot: int,
    rx_packets: int,
    tx_packets: int,
    lost: int,
    rtp_rejected: int,
    rtcp_packets: int,
    latch_moves: int,
    latching: bool,
    learning: bool,
    silent_s: float,
) -> bytes:
    """A `CallState` record without building one (the worker packs every call's, often)."""
    flags = (_LATCHING if latching else 0) | (_LEARNING if learning else 0)
    return _STATE.pack(
        slot, rx_packets, tx_packets, lost, rtp_rejected, rtcp_packets, latch_moves, flags,
        silent_s,
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallState:
    """One call's media counters as its worker last saw them."""

    slot: int
    rx_packets: int = 0
    tx_packets: int = 0
    lost: int = 0
    rtp_rejected: int = 0  # RTP from sources the call's latch refused
    rtcp_packets: int = 0
    latch_moves: int = 0
    latching: bool = False  # symmetric RTP: the offer's address is not the PBX's
    learning: bool = False  # waiting for the PBX's (next) first packet
    silent_s: float = 0.0  # since the last valid RTP packet (since the start before one)

    def pack(self) -> bytes:
        return pack_state(
            self.slot,
            self.rx_packets,
            self.tx_packets,
            self.lost,
            self.rtp_rejected,
            self.rtcp_packets,
            self.latch_moves,
            self.latching,
            self.learning,
            self.silent_s,
        )

    @staticmethod
    def unpack_many(payload: bytes) -> list[CallState]:
        states = []
        for fields in _STATE.iter_unpack(payload[: len(payload) - len(payload) % _STATE.size]):
            slot, rx, tx, lost, rejected, rtcp, moves, flags, silent = fields
            states.append(
                CallState(
                    slot,
                    rx,
                    tx,
                    lost,
                    rejected,
                    rtcp,
                    moves,
                    bool(flags & _LATCHING),
                    bool(flags & _LEARNING),
                    silent,
                )
            )
        return states


_CLOCK_HEAD = struct.Struct("!fI")


@dataclass(frozen=True, slots=True)
class ClockReport:
    """The worker's media clock since its last report: lag estimate and tick samples."""

    lag_s: float  # the moving average the edge sheds new calls on
    late_ms: tuple[float, ...]  # how late each tick started
    work_ms: tuple[float, ...]  # how long each tick worked

    def pack(self) -> bytes:
        count = len(self.late_ms)
        return (
            _CLOCK_HEAD.pack(self.lag_s, count)
            + struct.pack(f"!{count}f", *self.late_ms)
            + struct.pack(f"!{count}f", *self.work_ms[:count])
        )

    @classmethod
    def unpack(cls, payload: bytes) -> ClockReport:
        lag, count = _CLOCK_HEAD.unpack_from(payload)
        late = struct.unpack_from(f"!{count}f", payload, _CLOCK_HEAD.size)
        work = struct.unpack_from(f"!{count}f", payload, _CLOCK_HEAD.size + 4 * count)
        return cls(lag, late, work)
