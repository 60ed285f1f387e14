"""Framed messages on one byte stream between our own processes (sans-IO).

Owns: the frame format shared by the edge's two kinds of worker process (the agent
workers, `frontdesk.agent.ipc`, and the media workers, `frontdesk.media.control`):

    !IBI header: length of (kind + slot + payload), kind, slot; then the payload

`slot` names the call a message belongs to, so one socket carries many calls. Each user
defines its own `IntEnum` of kinds; `FrameReader` turns bytes into whole messages of it.

Why our own framing and not multiprocessing.Queue: a queue pickles every 20 ms frame and
runs a feeder thread per queue; one socket per worker with fixed 9-byte headers is read
by the event loop directly.

Must not: do IO; the caller feeds bytes in and writes the encoded bytes out.
"""

from __future__ import annotations

import enum
import json
import struct
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

HEADER = struct.Struct("!IBI")
MAX_FRAME = 16 * 1024 * 1024  # far above any message; a larger length is corruption

K = TypeVar("K", bound=enum.IntEnum)


@dataclass(frozen=True, slots=True)
class Message(Generic[K]):
    kind: K
    slot: int
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload)


class FrameError(ValueError):
    """The stream is corrupt: the connection must be dropped."""


def encode(kind: int, slot: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(len(payload) + 5, kind, slot) + payload


def json_payload(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_json(kind: int, slot: int, value: Any) -> bytes:
    return encode(kind, slot, json_payload(value))


class FrameReader(Generic[K]):
    """Feed it bytes as they arrive; it returns the whole messages they complete."""

    def __init__(self, kinds: type[K]) -> None:
        self._kinds = kinds
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message[K]]:
        buffer = self._buffer
        buffer += data
        messages: list[Message[K]] = []
        offset = 0
        size = len(buffer)
        kinds = self._kinds
        while size - offset >= 4:
            (length,) = struct.unpack_from("!I", buffer, offset)
            if length < 5 or length > MAX_FRAME:
                raise FrameError(f"bad frame length {length}")
            if size - offset < 4 + length:
                break
            _, kind, slot = HEADER.unpack_from(buffer, offset)
            try:
                message_kind = kinds(kind)
            except ValueError as exc:
                raise FrameError(f"unknown message kind {kind}") from exc
            start = offset + HEADER.size
            messages.append(Message(message_kind, slot, bytes(buffer[start : offset + 4 + length])))
            offset += 4 + length
        if offset:
            del buffer[:offset]
        return messages
