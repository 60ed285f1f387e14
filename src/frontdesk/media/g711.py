"""G.711 (PCMU μ-law, PCMA A-law) between 16-bit little-endian PCM and payload bytes.

Owns: the two codecs' names and static payload types (RFC 3551 §6: PCMU 0, PCMA 8),
encoding and decoding whole buffers, and the encoded silence a sender fills gaps with.
The arithmetic is the standard library's `audioop` (C, a few hundred ns per 20 ms frame);
on Python 3.13+ the `audioop-lts` package provides the same module.

Must not: resample (everything here is 8 kHz), packetise, or touch sockets or clocks.
"""

from __future__ import annotations

import sys
import warnings
from typing import Literal

from frontdesk.errors import MediaError

with warnings.catch_warnings():
    # Python 3.11/3.12 warn that audioop goes away in 3.13; audioop-lts replaces it there.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

__all__ = [
    "CLOCK_RATE",
    "PCMA_PT",
    "PCMU_PT",
    "Codec",
    "codec_for_payload_type",
    "decode",
    "encode",
    "parse_codec",
    "payload_type_of",
    "silence_payload",
]

Codec = Literal["PCMU", "PCMA"]

PCMU_PT = 0
PCMA_PT = 8
CLOCK_RATE = 8000
_SILENCE_BYTE = {"PCMU": 0xFF, "PCMA": 0xD5}  # what linear 0 encodes to (A-law: +8)
_BIG_ENDIAN = sys.byteorder == "big"


def parse_codec(name: str) -> Codec:
    """The codec an SDP encoding name (any case) stands for; `MediaError` otherwise."""
    upper = name.upper()
    if upper == "PCMU":
        return "PCMU"
    if upper == "PCMA":
        return "PCMA"
    raise MediaError(f"unsupported codec {name!r}: only PCMU and PCMA")


def payload_type_of(codec: Codec) -> int:
    """The static RTP payload type of a codec (RFC 3551 table 4)."""
    return PCMU_PT if codec == "PCMU" else PCMA_PT


def codec_for_payload_type(payload_type: int) -> Codec:
    """The codec of a static payload type; `MediaError` for anything but 0 and 8."""
    if payload_type == PCMU_PT:
        return "PCMU"
    if payload_type == PCMA_PT:
        return "PCMA"
    raise MediaError(f"payload type {payload_type} is not G.711")


def encode(codec: Codec, pcm: bytes) -> bytes:
    """Encode 16-bit little-endian mono PCM; one output byte per input sample."""
    if len(pcm) % 2:
        raise MediaError("16-bit PCM must have an even number of bytes")
    if _BIG_ENDIAN:
        pcm = audioop.byteswap(pcm, 2)
    if codec == "PCMU":
        return audioop.lin2ulaw(pcm, 2)
    return audioop.lin2alaw(pcm, 2)


def decode(codec: Codec, payload: bytes) -> bytes:
    """Decode G.711 to 16-bit little-endian mono PCM; two output bytes per input byte."""
    pcm = audioop.ulaw2lin(payload, 2) if codec == "PCMU" else audioop.alaw2lin(payload, 2)
    if _BIG_ENDIAN:
        pcm = audioop.byteswap(pcm, 2)
    return pcm


def silence_payload(codec: Codec, samples: int) -> bytes:
    """`samples` samples of encoded digital silence (linear 0)."""
    return bytes((_SILENCE_BYTE[codec],)) * samples
