"""Spoken test audio: a caller's words as PCM or as a WAV for baresip, made offline.

Owns: speaking a sentence with the offline piper voice (the same one the agent uses, so no
extra download or package) at the rate a test needs, padded with silence, and
transcribing a recording with the offline whisper model, so tests can assert on what a
call really carried. Must not: be used by the product (tests and benchmarks only).
"""

from __future__ import annotations

import functools
import wave
from pathlib import Path

import numpy as np
import soxr

from frontdesk.agent.providers.offline_stt import load_whisper
from frontdesk.agent.providers.offline_tts import PIPER_RATE, load_piper


@functools.cache
def speech_pcm(text: str, rate: int = 16000) -> bytes:
    """`text` spoken by piper as 16-bit mono PCM at `rate` (no padding)."""
    voice = load_piper(1)
    samples = np.concatenate(
        [np.asarray(chunk.audio_int16_array, dtype=np.int16) for chunk in voice.synthesize(text)]
    )
    if rate != PIPER_RATE:
        samples = soxr.resample(samples, PIPER_RATE, rate, quality="HQ")
    return np.asarray(np.clip(samples, -32768, 32767), dtype="<i2").tobytes()


def silence(seconds: float, rate: int = 16000) -> bytes:
    return bytes(2 * round(seconds * rate))


def write_wav(path: Path, pcm: bytes, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return path


def caller_wav(
    path: Path, parts: list[tuple[float, str]], total_s: float, rate: int = 8000
) -> Path:
    """A caller's side of a call (8 kHz; 16 kHz for G.722): each (start second, sentence)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.zeros(round(total_s * rate), dtype=np.int16)
    for start, text in parts:
        words = np.frombuffer(speech_pcm(text, rate), dtype="<i2")
        at = round(start * rate)
        end = min(len(audio), at + len(words))
        audio[at:end] = words[: end - at]
    return write_wav(path, audio.tobytes(), rate)


def transcribe(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, text) of each segment whisper hears in a WAV file."""
    model = load_whisper(2)
    segments, _ = model.transcribe(str(path), language="en", beam_size=1)
    return [(s.start, s.end, s.text.strip()) for s in segments]
