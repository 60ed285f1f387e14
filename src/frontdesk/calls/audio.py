"""The per-call audio interface the responder (and later the agent) plugs into.

Owns: the hand-over between the media engine, driven by the edge's media clock, and the
code that talks to the caller: 16 kHz 16-bit mono PCM frames in (20 ms each), DTMF
digits in, PCM out of any length (queued and paced by the media engine), `clear()` to
drop queued audio at once (barge-in), and `hangup()`.
Must not: know about SIP, RTP or sockets. Frames that the consumer does not take in
time are dropped oldest-first so a slow consumer never grows memory or delays media.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from frontdesk.media.prompt import Prompt

SAMPLE_RATE = 16000
FRAME_MS = 20
_MAX_QUEUED_FRAMES = 50  # one second of caller audio


class AudioSink(Protocol):
    """What the media engine offers for the outbound direction."""

    def push_audio(self, pcm16k: bytes) -> None: ...
    def play_prompt(self, prompt: Prompt) -> None: ...
    def clear_audio(self) -> None: ...
    @property
    def pending_audio_ms(self) -> float: ...


class CallAudio:
    def __init__(self, sink: AudioSink, on_hangup: Callable[[str], None]) -> None:
        self._sink = sink
        self._on_hangup = on_hangup
        self._frames: asyncio.Queue[bytes | None] = asyncio.Queue(_MAX_QUEUED_FRAMES)
        self._dtmf: asyncio.Queue[str | None] = asyncio.Queue()
        self._ended = asyncio.Event()
        self.dropped_frames = 0
        self.closed = False
        # when set, caller frames go straight here instead of the queue `frames()` reads:
        # the agent host forwards them to a worker process without a task hop per frame
        self.on_frame: Callable[[bytes], None] | None = None
        # when set, DTMF keys go here instead of the queue `dtmf_digits()` reads (the agent
        # host acts on them or forwards them to the worker)
        self.on_dtmf: Callable[[str], None] | None = None

    # -- fed by the edge (media clock) ------------------------------------------------
    def feed_frame(self, pcm16k: bytes) -> None:
        if self.closed:
            return
        if self.on_frame is not None:
            self.on_frame(pcm16k)
            return
        if self._frames.full():
            self._frames.get_nowait()
            self.dropped_frames += 1
        self._frames.put_nowait(pcm16k)

    def feed_dtmf(self, digit: str) -> None:
        if self.closed:
            return
        if self.on_dtmf is not None:
            self.on_dtmf(digit)
            return
        self._dtmf.put_nowait(digit)

    async def closed_wait(self) -> None:
        """Return when the call has ended."""
        await self._ended.wait()

    def close(self) -> None:
        """The call ended: iterators finish, further output is ignored."""
        if self.closed:
            return
        self.closed = True
        self._ended.set()
        if self._frames.full():
            self._frames.get_nowait()
        self._frames.put_nowait(None)
        self._dtmf.put_nowait(None)

    # -- used by the responder / agent ------------------------------------------------
    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            frame = await self._frames.get()
            if frame is None:
                return
            yield frame

    async def dtmf_digits(self) -> AsyncIterator[str]:
        while True:
            digit = await self._dtmf.get()
            if digit is None:
                return
            yield digit

    def play(self, pcm16k: bytes) -> None:
        if not self.closed:
            self._sink.push_audio(pcm16k)

    def play_prompt(self, prompt: Prompt) -> None:
        """Play audio prepared once for many calls (see `frontdesk.media.prompt`)."""
        if not self.closed:
            self._sink.play_prompt(prompt)

    def clear(self) -> None:
        if not self.closed:
            self._sink.clear_audio()

    @property
    def queued_ms(self) -> float:
        return self._sink.pending_audio_ms

    def hangup(self, reason: str = "agent-hangup") -> None:
        if not self.closed:
            self._on_hangup(reason)
