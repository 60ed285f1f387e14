"""`StereoAligner`: two mono streams that arrive on their own (caller heard, agent sent)
laid side by side as one stereo timeline, sans-IO.

Owns: keeping the two channels in step with the call's clock. Each chunk comes with the
media clock's `now` when it was sent or played out; a channel whose audio stopped (no RTP
from the caller before latching, on hold, a skipped send tick) is padded with silence so
that its next chunk lands where the clock says, and `take()` hands out only the samples
both channels have, padding a channel that has fallen more than `slack_s` behind the
newest time seen. Nothing is resampled here: both channels are 16 kHz s16le mono.

Must not: read clocks (every time is an argument), decode audio or touch files.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

CALLER, AGENT = 0, 1


class StereoAligner:
    def __init__(self, rate: int, start: float, slack_s: float = 0.1) -> None:
        self._rate = rate
        self._start = start
        self._slack = round(slack_s * rate)
        self._pending: tuple[bytearray, bytearray] = (bytearray(), bytearray())
        self._written = 0  # samples per channel handed out by take()
        self._latest = start
        self.padded_samples = [0, 0]  # silence inserted per channel (gaps in its stream)

    def _position(self, channel: int) -> int:
        return self._written + len(self._pending[channel]) // 2

    def _expected(self, now: float) -> int:
        return max(0, round((now - self._start) * self._rate))

    def _pad_to(self, channel: int, target: int) -> None:
        missing = target - self._position(channel)
        if missing > 0:
            self._pending[channel].extend(bytes(2 * missing))
            self.padded_samples[channel] += missing

    def feed(self, channel: int, now: float, pcm: bytes) -> None:
        """A chunk of `channel` whose last sample was sent or heard at `now`."""
        self._latest = max(self._latest, now)
        samples = len(pcm) // 2
        target_start = self._expected(now) - samples
        if target_start - self._position(channel) > self._slack:
            self._pad_to(channel, target_start)
        self._pending[channel].extend(pcm[: 2 * samples])

    def take(self, *, final: bool = False) -> npt.NDArray[np.int16]:
        """The stereo frames (n × 2, int16) both channels have; `final`: all that is left."""
        behind = self._expected(self._latest) - self._slack
        for channel in (CALLER, AGENT):
            if final:
                self._pad_to(channel, max(self._position(CALLER), self._position(AGENT)))
            elif self._position(channel) < behind:
                self._pad_to(channel, behind)
        ready = min(len(self._pending[CALLER]), len(self._pending[AGENT])) // 2
        if ready == 0:
            return np.zeros((0, 2), dtype=np.int16)
        frames = np.empty((ready, 2), dtype=np.int16)
        for channel in (CALLER, AGENT):
            buffer = self._pending[channel]
            frames[:, channel] = np.frombuffer(bytes(buffer[: 2 * ready]), dtype="<i2")
            del buffer[: 2 * ready]
        self._written += ready
        return frames
