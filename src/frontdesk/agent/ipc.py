"""The wire between the edge and an agent worker process: framed messages on one stream.

Owns: the message kinds and their framing (sans-IO: bytes in, messages out). One Unix
stream socket joins the edge to each worker process; every message names the call it
belongs to by a small integer `slot`, so one socket carries many calls.

Frame: see `frontdesk.media.wire` (shared with the media workers). Audio payloads are raw
16 kHz 16-bit mono PCM; every other payload is UTF-8 JSON. The first message on a new
socket is `HELLO` from the edge, carrying the node's settings.

Must not: know about SIP, sockets or the agent framework.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from frontdesk.media import wire
from frontdesk.media.wire import FrameError, encode, encode_json, json_payload

__all__ = ["FrameError", "FrameReader", "Kind", "Message", "encode", "encode_json", "json_payload"]


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


Message: TypeAlias = wire.Message[Kind]


class FrameReader(wire.FrameReader[Kind]):
    """Whole agent messages out of the bytes of a worker's stream."""

    def __init__(self) -> None:
        super().__init__(Kind)
