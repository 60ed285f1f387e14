"""`Prompt`: audio that many calls play (the greeting), prepared once, not per call.

Owns: turning 16 kHz PCM into ready G.711 payloads, once per (codec, packet time), and
caching them. A call then plays a prompt by walking a tuple of payloads: no resampling,
no encoding and no copying per call or per packet (measured: pushing a 7.7 s greeting
through the per-call resampler cost ~0.4 ms of CPU per call; this costs nothing).
G.722 is stateful (see `media.g722`), so for it the prompt is cut once into 16 kHz PCM
frames (`pcm_frames`) that each call's own encoder encodes as it sends them.
Must not: read files or clocks; the caller hands in the PCM.
"""

from __future__ import annotations

from frontdesk.media import g711
from frontdesk.media.resample import Resampler

AGENT_RATE = 16000


class Prompt:
    __slots__ = ("_cache", "_pcm16k")

    def __init__(self, pcm16k: bytes) -> None:
        self._pcm16k = pcm16k
        self._cache: dict[tuple[str, int], tuple[bytes, ...]] = {}

    @property
    def pcm16k(self) -> bytes:
        return self._pcm16k

    @property
    def duration_ms(self) -> float:
        return len(self._pcm16k) / (2 * AGENT_RATE / 1000)

    def payloads(self, codec: g711.Codec, ptime_ms: int) -> tuple[bytes, ...]:
        """The prompt as one G.711 payload per packet; the last one padded with silence."""
        key = (codec, ptime_ms)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = _encode(self._pcm16k, codec, ptime_ms)
        return cached

    def pcm_frames(self, ptime_ms: int) -> tuple[bytes, ...]:
        """The prompt as one 16 kHz PCM frame per packet; the last one padded with silence."""
        key = ("PCM16", ptime_ms)
        cached = self._cache.get(key)
        if cached is None:
            frame = 2 * AGENT_RATE * ptime_ms // 1000
            pcm = self._pcm16k[: len(self._pcm16k) & ~1]
            if len(pcm) % frame:
                pcm += bytes(frame - len(pcm) % frame)
            cached = self._cache[key] = tuple(
                pcm[offset : offset + frame] for offset in range(0, len(pcm), frame)
            )
        return cached


def _encode(pcm16k: bytes, codec: g711.Codec, ptime_ms: int) -> tuple[bytes, ...]:
    resampler = Resampler(AGENT_RATE, g711.CLOCK_RATE)
    pcm8k = resampler.process(pcm16k) + resampler.flush()
    frame = 2 * g711.CLOCK_RATE * ptime_ms // 1000
    if len(pcm8k) % frame:
        pcm8k += bytes(frame - len(pcm8k) % frame)
    return tuple(
        g711.encode(codec, pcm8k[offset : offset + frame]) for offset in range(0, len(pcm8k), frame)
    )
