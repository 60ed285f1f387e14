"""The wire between the edge and an agent worker process: framed messages on one stream.

Owns: the message kinds and their framing (sans-IO: bytes in, messages out). One Unix
stream socket joins the edge to each worker process; every message names the call it
belongs to by a small integer `slot`, so one socket carries many calls.

Frame: `!IBI` header (length of kind+slot+payload, kind, slot), then the payload. Audio
payloads are raw 16 kHz 16-bit mono PCM; every other payload is UTF-8 JSON. The first
message on a new socket is `HELLO` from the edge, carrying the node's settings.

Why our own framing and not multiprocessing.Queue: a queue pickles every 20 ms frame and
runs a feeder thread per queue; one socket per worker with fixed 9-byte headers is read
by the event loop directly (the edge's loop must stay free for RTP).

Must not: know about SIP, sockets or the agent framework.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct("!IBI")
MAX_FRAME = 16 * 1024 * 1024  # far above any message; a larger length is corruption


class Kind(enum.IntEnum):
    # edge -> worker
    HELLO = 1  # settings (pickled Settings; the only non-JSON control payload)
    START = 2  # a call's CallSpec (JSON)
    AUDIO_IN = 3  # caller audio, PCM 16 kHz
    DTMF = 4  # {"digit": "5", "action": null | "transfer" | "hangup" | "transfer-failed"}
    TOOL_RESULT = 5  # {"id", "ok", "result" | "error"}
    STOP = 6  # the call ended: {"reason"}
    # worker -> edge
    READY = 19  # models loaded, calls welcome: {"pid"}
    STARTED = 20  # the session runs: {"at"}
    AUDIO_OUT = 21  # agent audio, PCM 16 kHz
    CLEAR = 22  # drop queued agent audio now (barge-in)
    TOOL_CALL = 23  # {"id", "name", "args"}
    TRANSCRIPT = 24  # {"role", "text", "at"}
    HANGUP = 25  # end the call once queued audio has played: {"reason"}
    ENDED = 26  # the session is gone: {"reason"}


@dataclass(frozen=True, slots=True)
class Message:
    kind: Kind
    slot: int
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class FrameError(ValueError):
    """The stream is corrupt: the connection must be dropped."""


def encode(kind: Kind, slot: int, payload: bytes = b"") -> bytes:
    return _HEADER.pack(len(payload) + 5, kind, slot) + payload


def json_payload(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_json(kind: Kind, slot: int, value: Any) -> bytes:
    return encode(kind, slot, json_payload(value))


class FrameReader:
    """Feed it bytes as they arrive; it returns the whole messages they complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        offset = 0
        size = len(buffer)
        while size - offset >= 4:
            (length,) = struct.unpack_from("!I", buffer, offset)
            if length < 5 or length > MAX_FRAME:
                raise FrameError(f"bad frame length {length}")
            if size - offset < 4 + length:
                break
            _, kind, slot = _HEADER.unpack_from(buffer, offset)
            try:
                message_kind = Kind(kind)
            except ValueError as exc:
                raise FrameError(f"unknown message kind {kind}") from exc
            start = offset + _HEADER.size
            messages.append(Message(message_kind, slot, bytes(buffer[start : offset + 4 + length])))
            offset += 4 + length
        if offset:
            del buffer[:offset]
        return messages
