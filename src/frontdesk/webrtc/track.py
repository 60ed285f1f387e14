"""Audio between aiortc and a call's `CallAudio`: the agent's PCM out, the caller's PCM in.

Owns: `AgentTrack`, the outbound aiortc track that paces 20 ms frames of the agent's
16 kHz PCM (silence when there is none) and is the `AudioSink` a `CallAudio` writes to;
and `pump_caller_audio`, which resamples the browser's decoded audio (Opus: 48 kHz
stereo) to 16 kHz mono PCM in 20 ms frames for the agent.
Must not: know routing, admission or the agent; decide when a call ends.
"""

from __future__ import annotations

import asyncio
import fractions
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from frontdesk.calls.audio import FRAME_MS, SAMPLE_RATE
from frontdesk.media.prompt import Prompt

FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000
FRAME_BYTES = 2 * FRAME_SAMPLES
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class AgentTrack(MediaStreamTrack):
    """What the browser hears: the agent's audio, paced at 20 ms, silence in between."""

    kind = "audio"

    def __init__(self, on_first_audio: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._pending = bytearray()
        self._pts = 0
        self._start: float | None = None
        self._on_first_audio = on_first_audio

    # -- AudioSink (what CallAudio writes to) -------------------------------------------
    def push_audio(self, pcm16k: bytes) -> None:
        self._pending += pcm16k

    def play_prompt(self, prompt: Prompt) -> None:
        self._pending += b"".join(prompt.pcm_frames(FRAME_MS))

    def clear_audio(self) -> None:
        self._pending.clear()

    @property
    def pending_audio_ms(self) -> float:
        return len(self._pending) / (2 * SAMPLE_RATE / 1000)

    # -- aiortc ---------------------------------------------------------------------------
    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._pts += FRAME_SAMPLES
            wait = self._start + self._pts / SAMPLE_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        chunk = bytes(self._pending[:FRAME_BYTES])
        del self._pending[:FRAME_BYTES]
        if chunk and self._on_first_audio is not None:
            self._on_first_audio()
            self._on_first_audio = None
        chunk = chunk.ljust(FRAME_BYTES, b"\0")
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
        frame.planes[0].update(chunk)
        frame.pts = self._pts
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = _TIME_BASE
        return frame


async def pump_caller_audio(track: MediaStreamTrack, feed: Callable[[bytes], None]) -> None:
    """Feed the browser's audio to `feed` as 20 ms frames of 16 kHz mono PCM until it ends."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    pending = bytearray()
    while True:
        try:
            frame = await track.recv()
        except MediaStreamError:
            return
        assert isinstance(frame, av.AudioFrame)
        for resampled in resampler.resample(frame):
            pending += bytes(resampled.planes[0])[: 2 * resampled.samples]
        while len(pending) >= FRAME_BYTES:
            feed(bytes(pending[:FRAME_BYTES]))
            del pending[:FRAME_BYTES]
