"""The offline speech set on real audio: piper → G.711 μ-law → whisper, and espeak-ng.

A sentence spoken by piper (22050 Hz) is brought to 8 kHz, encoded and decoded as PCMU the
way a call carries it, and the offline STT must give the words back. The figures the
issue asks for (model loads, STT time for a ~2 s utterance, TTS time to first audio, RSS
with everything loaded) are measured in a fresh process, printed, and held to loose bounds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import soxr
from livekit import rtc

from frontdesk.agent.providers.offline_stt import WhisperSTT
from frontdesk.agent.providers.offline_tts import PIPER_RATE, OfflineTTS
from frontdesk.media import g711

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENTENCE = "I would like to order two pizzas for delivery."


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower().replace("2", "two"))


async def speak(tts: OfflineTTS, text: str) -> rtc.AudioFrame:
    frames = [audio.frame async for audio in tts.synthesize(text)]
    return rtc.combine_audio_frames(frames)


def through_pcmu(frame: rtc.AudioFrame) -> rtc.AudioFrame:
    samples = np.frombuffer(bytes(frame.data), dtype="<i2")
    narrow = soxr.resample(samples, frame.sample_rate, 8000).astype("<i2").tobytes()
    back = g711.decode("PCMU", g711.encode("PCMU", narrow))
    return rtc.AudioFrame(back, 8000, 1, len(back) // 2)


async def test_piper_speech_survives_g711_and_whisper_hears_it() -> None:
    tts = OfflineTTS(language="en")
    spoken = await speak(tts, SENTENCE)
    assert spoken.sample_rate == PIPER_RATE == tts.sample_rate
    assert 1.5 < spoken.duration < 6.0
    heard = await WhisperSTT().recognize(through_pcmu(spoken))
    assert words(heard.alternatives[0].text) == words(SENTENCE)


async def test_espeak_fallback_speaks_italian() -> None:
    tts = OfflineTTS(language="it")
    assert tts.provider == "espeak-ng"
    spoken = await speak(tts, "Buongiorno, come posso aiutarla?")
    assert spoken.sample_rate == PIPER_RATE
    assert spoken.duration > 1.0
    samples = np.frombuffer(bytes(spoken.data), dtype="<i2").astype(np.float64)
    assert np.sqrt(np.mean(samples**2)) > 300  # speech, not silence


_MEASURE = r"""
import asyncio, json, resource, time
import numpy as np, soxr
from livekit import rtc
t = time.perf_counter()
from frontdesk.agent.providers.offline_stt import WhisperSTT, load_whisper
from frontdesk.agent.providers.offline_tts import OfflineTTS, load_piper
from frontdesk.agent.providers.vad import load_vad
from frontdesk.agent.providers.kb_llm import KnowledgeBaseLLM
imports = time.perf_counter() - t
t = time.perf_counter(); load_whisper(1); whisper_load = time.perf_counter() - t
t = time.perf_counter(); load_piper(1); piper_load = time.perf_counter() - t
t = time.perf_counter(); load_vad(0.45); vad_load = time.perf_counter() - t

async def main():
    tts = OfflineTTS()
    async def first_audio(text):
        t = time.perf_counter(); first = None; frames = []
        async for a in tts.synthesize(text):
            if first is None:
                first = time.perf_counter() - t
            frames.append(a.frame)
        return first, rtc.combine_audio_frames(frames)
    await first_audio("Warm up.")
    ttfa_one, _ = await first_audio("Every day from six pm to eleven pm.")
    ttfa_two, clip = await first_audio(
        "Thank you for calling. Is there anything else I can help you with?")
    stt = WhisperSTT()
    clip2 = (await first_audio("I would like to order two pizzas."))[1]
    await stt.recognize(clip2)
    t = time.perf_counter(); await stt.recognize(clip2); stt_time = time.perf_counter() - t
    return ttfa_one, ttfa_two, clip2.duration, stt_time

ttfa_one, ttfa_two, clip_s, stt_time = asyncio.run(main())
print(json.dumps({
    "imports_s": imports, "whisper_load_s": whisper_load, "piper_load_s": piper_load,
    "vad_load_s": vad_load, "tts_first_audio_s": ttfa_one,
    "tts_first_audio_two_sentences_s": ttfa_two, "stt_clip_s": clip_s, "stt_s": stt_time,
    "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def test_offline_figures_in_a_fresh_process() -> None:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE], capture_output=True, text=True, timeout=240, check=True
    )
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    print("\noffline speech figures:", json.dumps(figures, indent=1))
    print(f"(whole measurement {time.perf_counter() - started:.1f} s)")
    assert 1.2 < figures["stt_clip_s"] < 4.0
    # loose bounds: a shared 2-core machine; the printed figures are the measurement
    assert figures["stt_s"] < 3.0
    assert figures["tts_first_audio_s"] < 2.0
    assert figures["max_rss_mb"] < 1500
