"""Spoken test audio: a caller's words as PCM or as a WAV for baresip, made offline.

Owns: speaking a sentence with the offline piper voice (the same one the agent uses, so no
extra download or package) at the rate a test needs, padded with silence; a second test
voice made from it (slower, pitched up 18 %: a different-sounding speaker to the models);
a sentence with a pause inserted at a word boundary mid-flow (`paused_speech_pcm`); and
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

#: test voices: "joe" (the agent's piper voice as it is) and "high" (joe slower and
#: pitched up 18 % by resampling: another speaker's pitch and pace)
VOICES = ("joe", "high")
_HIGH_PITCH = 1.18


@functools.cache
def speech_pcm(text: str, rate: int = 16000, voice: str = "joe") -> bytes:
    """`text` spoken by piper as 16-bit mono PCM at `rate` (no padding)."""
    from piper.config import SynthesisConfig

    piper = load_piper(1)
    config = SynthesisConfig(length_scale=1.25 if voice == "high" else None)
    samples = np.concatenate(
        [
            np.asarray(chunk.audio_int16_array, dtype=np.int16)
            for chunk in piper.synthesize(text, syn_config=config)
        ]
    )
    source_rate = PIPER_RATE if voice != "high" else round(PIPER_RATE * _HIGH_PITCH)
    if rate != source_rate:
        samples = soxr.resample(samples, source_rate, rate, quality="HQ")
    return np.asarray(np.clip(samples, -32768, 32767), dtype="<i2").tobytes()


def _energy(samples: np.ndarray, rate: int) -> np.ndarray:
    step = rate // 100  # 10 ms
    frames = samples[: len(samples) // step * step].reshape(-1, step).astype(np.float64)
    energy: np.ndarray = np.sqrt((frames**2).mean(axis=1))
    return energy


def paused_speech_pcm(
    before: str, after: str, pause_s: float, rate: int = 8000, voice: str = "joe"
) -> tuple[bytes, float]:
    """`before after` spoken as one sentence (so the words before the pause keep the
    prosody of a sentence that goes on), with `pause_s` of silence inserted at the word
    boundary after `before`; and the second at which the pause starts.

    The boundary is the quietest 10 ms within -30 %..0 % of where `before` spoken alone
    ends (alone it is said a little slower, with a final fall)."""
    whole = np.frombuffer(speech_pcm(f"{before} {after}", rate, voice), dtype="<i2")
    alone = np.frombuffer(speech_pcm(before, rate, voice), dtype="<i2")
    loud = np.nonzero(_energy(alone, rate) > 100)[0]
    end_alone = int(loud[-1]) + 1 if loud.size else len(alone) // (rate // 100)
    energy = np.convolve(_energy(whole, rate), np.ones(3) / 3, mode="same")
    low, high = int(end_alone * 0.7), min(len(energy) - 1, end_alone + 1)
    cut = (low + int(np.argmin(energy[low:high]))) * (rate // 100)
    gap = np.zeros(round(pause_s * rate), dtype=np.int16)
    joined = np.concatenate([whole[:cut], gap, whole[cut:]])
    return joined.astype("<i2").tobytes(), cut / rate


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
    path: Path, parts: list[tuple[float, str | bytes]], total_s: float, rate: int = 8000
) -> Path:
    """A caller's side of a call (8 kHz; 16 kHz for G.722): each (start second, sentence
    or PCM at `rate`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.zeros(round(total_s * rate), dtype=np.int16)
    for start, text in parts:
        pcm = speech_pcm(text, rate) if isinstance(text, str) else text
        words = np.frombuffer(pcm, dtype="<i2")
        at = round(start * rate)
        end = min(len(audio), at + len(words))
        audio[at:end] = words[: end - at]
    return write_wav(path, audio.tobytes(), rate)


def transcribe(path: Path) -> list[tuple[float, float, str]]:
    """(start s, end s, text) of each segment whisper hears in a WAV file."""
    model = load_whisper(2)
    segments, _ = model.transcribe(str(path), language="en", beam_size=1)
    return [(s.start, s.end, s.text.strip()) for s in segments]
