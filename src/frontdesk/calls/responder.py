"""The built-in responder: what an answered call runs until the voice agent lands.

It plays the greeting (a clip shipped in the package, loaded and resampled once per
process, never made per call), then plays back what the caller says (echo), so a test
call proves audio flows both ways. `Admitted.greeting` text is not spoken here (no TTS in
this module); it is recorded so routing tests can see which greeting a call was given.
"""

from __future__ import annotations

import functools
import wave
from importlib import resources

import numpy as np
import soxr

from frontdesk.calls.audio import SAMPLE_RATE, CallAudio
from frontdesk.media.prompt import Prompt

_MAX_ECHO_BACKLOG_MS = 20


@functools.cache
def greeting_prompt() -> Prompt:
    """The shipped greeting, prepared once per process for every call to play."""
    return Prompt(greeting_pcm())


def greeting_pcm() -> bytes:
    """The shipped greeting as 16 kHz 16-bit mono PCM (loaded once)."""
    return asset_pcm("greeting.wav")


@functools.cache
def asset_pcm(name: str) -> bytes:
    """A WAV shipped in `frontdesk.assets` as 16 kHz 16-bit mono PCM (loaded once)."""
    asset = resources.files("frontdesk.assets").joinpath(name)
    with asset.open("rb") as raw, wave.open(raw) as wav:
        rate = wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2")
    if rate != SAMPLE_RATE:
        samples = soxr.resample(samples, rate, SAMPLE_RATE, quality="HQ")
    return np.asarray(samples, dtype="<i2").tobytes()


async def run_echo_responder(audio: CallAudio, greeting: Prompt) -> None:
    """Greeting first; then every caller frame is played back."""
    audio.play_prompt(greeting)
    async for frame in audio.frames():
        # While the greeting plays, caller audio is not mixed in; afterwards at most one
        # frame waits, so no backlog builds up (a 100 ms one did: echo came back 160 ms late).
        if audio.queued_ms > _MAX_ECHO_BACKLOG_MS:
            continue
        audio.play(frame)
