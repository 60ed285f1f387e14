"""End of turn from the caller's audio: SmartTurn v3.2 over onnxruntime, in the worker.

Owns: loading the SmartTurn ONNX model once per process and the `_StreamingTurnDetector`
that livekit-agents' `AudioRecognition` drives (`turn_detection=` of `AgentSession`):
- `push_audio` keeps the caller's last 8 s (the model's window) as the frames arrive;
- when the VAD has heard 0.2 s of silence the framework calls `predict()`: the window is
  brought to 16 kHz, turned into Whisper log-mel features and scored in a worker thread;
- the framework compares the probability with `unlikely_threshold`: complete → the turn
  ends after the endpointing `min_delay`; incomplete → it waits up to `max_delay` (the
  maximum silence) unless the caller speaks again, which cancels the wait;
- a committed turn (`flush`) empties the window, so the next turn is judged on its own.

The words count too: on the phone audio of a synthetic voice SmartTurn alone calls 45-60 %
of mid-sentence pauses complete (measured on piper speech cut at word boundaries), so a
prediction waits (up to `_TRANSCRIPT_WAIT_S`) for the final transcript of the speech before
the pause (`SmartTurnDetector.on_transcript`, fed from the session's
`user_input_transcribed` events) and reads "incomplete" when the words so far cannot end a
sentence (`words_continue`: a trailing article, preposition, conjunction, "I'd like to
book", a comma or an ellipsis). The audio model decides every other pause.

The model: SmartTurn v3.2 (`smart-turn-v3.2-cpu.onnx`, int8, 8.7 MB), Whisper-tiny encoder
with a classification head, trained by Daily on 23 languages, BSD-2-Clause. Its weights
ship inside the `pipecat-ai` wheel (1.14.0, BSD-2-Clause, Copyright 2024-2026 Daily), at
`pipecat/audio/turn/smart_turn/data/`; we locate the file through the installed
distribution's metadata and never import `pipecat` (its import logs a banner and pulls
loguru). SHA-256 of the file, checked at load: `MODEL_SHA256` below; of the wheel:
0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44. The features are
faster-whisper's `FeatureExtractor` (already a dependency) on the zero-mean, unit-variance
waveform, which equals pipecat's vendored `compute_whisper_log_mel_features` (checked by
`tests/unit/agent/test_turn_model.py`).

Must not: download anything, run inference on the event loop, or log the caller's audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import re
import threading
import time
from collections import deque
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Literal

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
import soxr
from faster_whisper.feature_extractor import FeatureExtractor  # type: ignore[import-untyped]
from livekit import rtc
from livekit.agents import APIConnectOptions
from livekit.agents.language import LanguageCode
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice.turn import TurnDetectionEvent

__all__ = [
    "MODEL_SHA256",
    "SmartTurnDetector",
    "SmartTurnModel",
    "SmartTurnStream",
    "load_smart_turn",
    "smart_turn_path",
    "words_continue",
]

MODEL_FILE = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
MODEL_RATE = 16_000
WINDOW_S = 8  # the model sees the last 8 s of the turn, zero-padded in front
_WINDOW = MODEL_RATE * WINDOW_S
_NORM_EPS = 1e-7
_TRANSCRIPT_WAIT_S = 1.5  # after this the audio's verdict stands alone
_INCOMPLETE = 0.01

#: words after which an English sentence goes on (articles, prepositions, conjunctions,
#: pronouns that open a clause, auxiliaries, fillers)
_CONTINUING_TEXT = (
    "a an the to for of with and or but because so if that than my your our their his her "
    "its at in on from about by into onto as like um uh er erm is are was were am be been "
    "i i'd i'm i'll we we'd we're you you'd he she they it's this these those some any "
    "which who whom whose when where what how would could should can will do does did "
    "very really just also maybe"
)
_CONTINUING_WORDS = frozenset(_CONTINUING_TEXT.split())
#: "I'd like to book", "we want to order": an intention without its object
_INTENTION_WITHOUT_OBJECT = re.compile(
    r"\b(like|love|want|wanted|need|needed|going|have|has|trying|hoping|wish)\s+to\s+\w+$"
)
_WORD = re.compile(r"[a-z']+")


def words_continue(transcript: str) -> bool:
    """Whether the caller's words so far cannot end a sentence (so the turn goes on)."""
    text = transcript.strip().lower()
    if not text:
        return False
    if text.endswith((",", "...", "…", "-", ";", ":")):
        return True
    words = _WORD.findall(text)
    if not words:
        return False
    return words[-1] in _CONTINUING_WORDS or bool(
        _INTENTION_WITHOUT_OBJECT.search(" ".join(words[-4:]))
    )


_load_lock = threading.Lock()


class TurnModelError(RuntimeError):
    """The SmartTurn model is missing or is not the file this module was checked with."""


def smart_turn_path() -> Path:
    """The ONNX file inside the installed `pipecat-ai` wheel."""
    try:
        path = Path(str(distribution("pipecat-ai").locate_file(MODEL_FILE)))
    except PackageNotFoundError as exc:
        raise TurnModelError("pipecat-ai (SmartTurn's weights) is not installed") from exc
    if not path.is_file():
        raise TurnModelError(f"SmartTurn weights not found at {path}")
    return path


class SmartTurnModel:
    """The loaded model: `probability(pcm16, rate)` → P(the turn is complete). Thread-safe."""

    def __init__(self, path: Path) -> None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != MODEL_SHA256:
            raise TurnModelError(f"SmartTurn weights at {path} have SHA-256 {digest}, not ours")
        options = onnxruntime.SessionOptions()
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = 1  # workers share the cores
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)

    def features(self, audio: np.ndarray) -> np.ndarray:
        """16 kHz float audio → (80, 800) log-mel features of its last 8 s."""
        window = np.zeros(_WINDOW, dtype=np.float32)
        tail = np.asarray(audio[-_WINDOW:], dtype=np.float32)
        if tail.size:
            window[-tail.size :] = tail
        window = (window - window.mean()) / np.sqrt(window.var() + _NORM_EPS)
        features: np.ndarray = self._features(window, padding=0)
        return features.astype(np.float32)

    def probability(self, pcm16: np.ndarray, rate: int) -> float:
        """P(complete) of 16-bit mono audio at `rate` (the end of the array is now)."""
        audio = pcm16.astype(np.float32) / 32768.0
        if rate != MODEL_RATE and audio.size:
            audio = soxr.resample(audio, rate, MODEL_RATE, quality="HQ")
        outputs = self._session.run(None, {"input_features": self.features(audio)[None]})
        return float(np.asarray(outputs[0]).reshape(-1)[0])


@functools.cache
def _load() -> SmartTurnModel:
    return SmartTurnModel(smart_turn_path())


def load_smart_turn() -> SmartTurnModel:
    """The process's SmartTurn model (loaded and hash-checked on first use)."""
    with _load_lock:
        return _load()


class SmartTurnDetector:
    """The `turn_detection=` of an `AgentSession`: one per process, one stream per call."""

    def __init__(
        self, model: SmartTurnModel | None = None, *, threshold: float = 0.5, timeout: float = 1.0
    ) -> None:
        self._model = model if model is not None else load_smart_turn()
        self._threshold = threshold
        self._timeout = timeout
        self._stream: SmartTurnStream | None = None

    @property
    def model(self) -> str:
        return "smart-turn-v3.2"

    @property
    def provider(self) -> str:
        return "frontdesk"

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> SmartTurnStream:
        self._stream = SmartTurnStream(
            self._model, threshold=self._threshold, timeout=self._timeout
        )
        return self._stream

    def on_transcript(self, transcript: str, *, is_final: bool) -> None:
        """A transcript of the caller's speech (the session's `user_input_transcribed`)."""
        if is_final and self._stream is not None:
            self._stream.add_transcript(transcript)


class SmartTurnStream:
    """One call's audio window and its in-flight prediction."""

    def __init__(self, model: SmartTurnModel, *, threshold: float, timeout: float) -> None:
        self._model = model
        self._threshold = threshold
        self._timeout = timeout
        self._frames: deque[np.ndarray] = deque()
        self._samples = 0
        self._rate: int | None = None
        self._request: asyncio.Future[TurnDetectionEvent] | None = None
        self._inferences: set[asyncio.Future[float]] = set()  # owned: cancelled by aclose
        self._closed = False
        self._words: list[str] = []  # final transcripts of this turn so far
        self._heard = asyncio.Event()  # a final transcript came after the last predict()

    @property
    def model(self) -> str:
        return "smart-turn-v3.2"

    @property
    def provider(self) -> str:
        return "frontdesk"

    @property
    def is_fallback(self) -> bool:
        return False

    @property
    def prediction_timeout(self) -> float:
        return self._timeout + _TRANSCRIPT_WAIT_S

    @property
    def transcript(self) -> str:
        return " ".join(self._words)

    def add_transcript(self, transcript: str) -> None:
        if transcript.strip():
            self._words.append(transcript.strip())
            self._heard.set()

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        return self._threshold

    async def backchannel_threshold(self, language: LanguageCode | None) -> float | None:
        return None

    async def supports_language(self, language: LanguageCode | None) -> bool:
        return True  # trained on 23 languages; it judges prosody more than words

    def push_audio(self, frame: rtc.AudioFrame) -> None:
        if self._closed:
            return
        samples = np.frombuffer(bytes(frame.data), dtype="<i2")
        if frame.num_channels > 1:
            samples = samples.reshape(-1, frame.num_channels)[:, 0]
        if self._rate != frame.sample_rate:
            self._frames.clear()
            self._samples = 0
            self._rate = frame.sample_rate
        self._frames.append(samples)
        self._samples += samples.size
        keep = self._rate * WINDOW_S
        while self._frames and self._samples - self._frames[0].size >= keep:
            self._samples -= self._frames.popleft().size

    def predict(self) -> asyncio.Future[TurnDetectionEvent]:
        """Score the window as it is now; the future resolves with P(complete)."""
        self.cancel_inference()
        loop = asyncio.get_running_loop()
        request: asyncio.Future[TurnDetectionEvent] = loop.create_future()
        if self._closed or self._rate is None or not self._frames:
            request.set_result(_event(1.0, 0.0))
            return request
        self._request = request
        self._heard.clear()
        window = np.concatenate(list(self._frames))
        inference = asyncio.ensure_future(self._judge(window, self._rate))
        self._inferences.add(inference)
        inference.add_done_callback(self._inferences.discard)

        def done(result: asyncio.Future[float]) -> None:
            if self._request is request:
                self._request = None
            if request.done():
                return  # cancelled: a newer request or new speech superseded it
            if result.cancelled() or result.exception() is not None:
                request.set_result(_event(1.0, None))  # no opinion: the min delay ends it
            else:
                request.set_result(_event(result.result(), None))

        inference.add_done_callback(done)
        return request

    async def _judge(self, window: np.ndarray, rate: int) -> float:
        """P(complete): the audio model's, unless the words so far cannot end a sentence."""
        probability = await asyncio.to_thread(self._model.probability, window, rate)
        # the transcript of the speech before this pause comes after the VAD's end of
        # speech (whisper runs then); the framework awaits this future in the meantime
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), _TRANSCRIPT_WAIT_S)
        if words_continue(self.transcript):
            return min(probability, _INCOMPLETE)
        return probability

    def cancel_inference(self, *, timed_out: bool = False) -> None:
        request, self._request = self._request, None
        if request is not None and not request.done():
            # as livekit's own streams do: a superseded request reads "not complete"
            request.set_result(_event(0.0, None))

    def flush(self, reason: str | None = None) -> None:
        """The turn was committed (or cleared): the next turn starts a new window."""
        self._frames.clear()
        self._samples = 0
        self._words.clear()
        self.cancel_inference()

    def end_input(self) -> None:
        self.flush()
        self._closed = True

    async def aclose(self) -> None:
        self.end_input()
        for inference in list(self._inferences):
            inference.cancel()  # the thread finishes its ~50 ms; nobody waits for it


def _event(probability: float, inference_s: float | None) -> TurnDetectionEvent:
    kind: Literal["eot_prediction"] = "eot_prediction"
    return TurnDetectionEvent(
        type=kind,
        end_of_turn_probability=probability,
        last_speaking_time=time.time(),
        inference_duration=inference_s,
    )
