"""The agent session's audio ends inside a worker process: our `io.AudioInput` / `io.AudioOutput`.

Owns: turning caller PCM that arrives over IPC into `rtc.AudioFrame`s for the session
(`PipeAudioInput`), and the session's speech into IPC messages for the edge
(`PipeAudioOutput`), including the playout bookkeeping the framework needs: when each
segment started and finished playing, and how much of it was heard when the caller
barged in.

Playout clock: the edge plays agent audio as soon as it arrives, in order, at real time
(20 ms per RTP packet). So a segment starts playing when it arrives or when the previous
one ends, whichever is later, and ends `pushed` seconds after that. The worker keeps that
clock itself instead of waiting for acknowledgements from the edge: the edge never runs
ahead of real time, and lag between the two is one IPC hop (well under a frame).
`clear_buffer()` (barge-in) tells the edge to drop what it has queued and reports each
unfinished segment as interrupted at the position the clock says was heard.

Pause and resume (the framework pauses the agent when the caller starts speaking over it,
and resumes it when that was no interruption: a cough, an "mm-hmm"): the edge has no pause,
so `pause()` tells it to drop its queue (the caller hears the agent stop at once) and keeps
what was not heard yet; `resume()` sends it again from where the caller stopped hearing.
So each unfinished segment keeps its audio until it has played.

Must not: block (everything here runs on the worker's event loop) or know about SIP.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from livekit import rtc
from livekit.agents.voice import io

from frontdesk.agent.backchannel import Transcribing
from frontdesk.agent.ipc import Kind

SAMPLE_RATE = 16000
_MAX_QUEUED_IN = 50  # one second of caller audio; older frames go first
_RESEND_BYTES = 640  # 20 ms of 16 kHz PCM per message when audio is sent again

Send = Callable[[Kind, bytes], None]


class PipeAudioInput(io.AudioInput):
    """Caller audio for the session: fed by the worker's reader, read by the framework."""

    def __init__(self) -> None:
        super().__init__(label="frontdesk-edge")
        self._queue: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue(_MAX_QUEUED_IN)
        self.dropped = 0
        self._closed = False

    def feed(self, pcm: bytes) -> None:
        if self._closed or not pcm:
            return
        frame = rtc.AudioFrame(pcm, SAMPLE_RATE, 1, len(pcm) // 2)
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(frame)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def __anext__(self) -> rtc.AudioFrame:
        frame = await self._queue.get()
        if frame is None:
            self._queue.put_nowait(None)  # every later reader ends too
            raise StopAsyncIteration
        return frame


@dataclass(slots=True)
class _Segment:
    start: float  # monotonic time its first sample plays (or would have, while paused)
    pushed: float = 0.0  # seconds of audio captured
    flushed: bool = False
    timer: asyncio.TimerHandle | None = None
    audio: bytearray = field(default_factory=bytearray)  # for a resume after a pause
    held_at: float | None = None  # seconds heard when paused; None while playing

    def heard(self, now: float) -> float:
        if self.held_at is not None:
            return self.held_at
        return max(0.0, min(now - self.start, self.pushed))


class PipeAudioOutput(io.AudioOutput):
    """Agent speech to the edge, with the playout events the framework waits for."""

    def __init__(
        self,
        send: Send,
        clock: Callable[[], float] = time.monotonic,
        transcribing: Transcribing | None = None,
        max_hold_s: float = 2.0,
    ) -> None:
        super().__init__(
            label="frontdesk-edge",
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=SAMPLE_RATE,
        )
        self._send = send
        self._clock = clock
        self._segments: deque[_Segment] = deque()  # captured, not yet reported finished
        self._busy_until = 0.0
        self._paused = False
        # a resume waits (at most `max_hold_s`) for the words the caller said over us
        self.transcribing = transcribing or Transcribing()
        self._max_hold_s = max_hold_s
        self._held_resume: asyncio.TimerHandle | None = None

    @property
    def playing_until(self) -> float:
        """Monotonic time at which everything sent so far will have played."""
        return self._busy_until

    @property
    def paused(self) -> bool:
        return self._paused

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        now = self._clock()
        current = self._segments[-1] if self._segments else None
        if current is None or current.flushed:
            current = _Segment(start=max(now, self._busy_until))
            if self._paused:
                current.held_at = 0.0
            self._segments.append(current)
            self.on_playback_started(created_at=time.time())
        data = bytes(frame.data)
        current.pushed += frame.samples_per_channel / frame.sample_rate
        current.audio += data
        if self._paused:
            return  # kept for the resume
        self._busy_until = current.start + current.pushed
        self._send(Kind.AUDIO_OUT, data)

    def flush(self) -> None:
        super().flush()
        if not self._segments or self._segments[-1].flushed:
            return
        segment = self._segments[-1]
        segment.flushed = True
        if not self._paused:
            self._schedule_finish(segment)

    def _schedule_finish(self, segment: _Segment) -> None:
        delay = max(0.0, segment.start + segment.pushed - self._clock())
        segment.timer = asyncio.get_running_loop().call_later(delay, self._finish_due)

    def pause(self) -> None:
        """The caller spoke over us: stop the audio now, keep what was not heard."""
        super().pause()
        self._drop_held_resume()
        if self._paused:
            return
        self._paused = True
        self._send(Kind.CLEAR, b"")
        now = self._clock()
        self._busy_until = now
        for segment in self._segments:
            segment.held_at = segment.heard(now)
            if segment.timer is not None:
                segment.timer.cancel()
                segment.timer = None

    def resume(self) -> None:
        """It was no interruption: play on from where the caller stopped hearing, once
        the caller's words are known (they may still interrupt: then `pause` or
        `clear_buffer` comes first and the resume is dropped)."""
        super().resume()
        if not self._paused or self._held_resume is not None:
            return
        if self.transcribing.pending:
            loop = asyncio.get_running_loop()
            self._held_resume = loop.call_later(self._max_hold_s, self._resume_now)
            self.transcribing.when_finished(self._resume_now)
            return
        self._resume_now()

    def _drop_held_resume(self) -> None:
        if self._held_resume is not None:
            self._held_resume.cancel()
            self._held_resume = None
            self.transcribing.forget(self._resume_now)

    def _resume_now(self) -> None:
        self._drop_held_resume()
        if not self._paused:
            return
        self._paused = False
        playing_from = self._clock()
        for segment in self._segments:
            heard = segment.held_at or 0.0
            segment.held_at = None
            segment.start = playing_from - heard
            rest = memoryview(segment.audio)[2 * round(heard * SAMPLE_RATE) :]
            for offset in range(0, len(rest), _RESEND_BYTES):
                self._send(Kind.AUDIO_OUT, bytes(rest[offset : offset + _RESEND_BYTES]))
            playing_from = segment.start + segment.pushed
            if segment.flushed:
                self._schedule_finish(segment)
        self._busy_until = playing_from

    def _finish_due(self) -> None:
        now = self._clock()
        while self._segments and self._segments[0].flushed:
            segment = self._segments[0]
            if segment.start + segment.pushed > now + 0.001:
                break
            self._segments.popleft()
            self.on_playback_finished(playback_position=segment.pushed, interrupted=False)

    def clear_buffer(self) -> None:
        """Barge-in: the edge drops queued audio now; unfinished segments are interrupted."""
        self._send(Kind.CLEAR, b"")
        now = self._clock()
        self._busy_until = now
        self._paused = False  # what was paused is over; the next reply plays at once
        self._drop_held_resume()
        while self._segments:
            segment = self._segments.popleft()
            if segment.timer is not None:
                segment.timer.cancel()
            self.on_playback_finished(playback_position=segment.heard(now), interrupted=True)

    def close(self) -> None:
        """The call ended: cancel pending timers (no events after the end)."""
        self._drop_held_resume()
        for segment in self._segments:
            if segment.timer is not None:
                segment.timer.cancel()
        self._segments.clear()


class NoTextOutput(io.TextOutput):
    """The session's transcription sink: the text goes nowhere (the transcript is built from
    conversation items), but with it the framework's `TranscriptSynchronizer` paces text
    to the audio, so an interrupted reply is stored as far as the caller heard it."""

    def __init__(self) -> None:
        super().__init__(label="frontdesk-none", next_in_chain=None)

    async def capture_text(self, text: str) -> None:
        return None

    def flush(self) -> None:
        return None
