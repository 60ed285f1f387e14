"""The settings page's "play a sample": the organization's greeting in its own voice, as WAV.

Owns: speaking a text with the organization's offline TTS (piper for English, espeak-ng
for other languages: `offline_tts.speak_pcm`) in a worker thread, never on the event loop;
one sample at a time per process (synthesis takes a core for about a second), and the
last few samples kept so that replaying one costs nothing.

Must not: speak with a cloud TTS (that would spend the business's API credit on every
page view; its voice is heard on a test call), or log the text it speaks.
"""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from collections import OrderedDict
from typing import Final

_CACHE_SIZE: Final = 8
_cache: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_one_at_a_time = threading.Lock()  # held in the worker thread, never on a loop


class SampleUnavailable(Exception):
    """No sample can be made for this configuration; the message says why."""


def _wav(pcm: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(pcm)
    return out.getvalue()


def _speak(text: str, language: str) -> bytes:
    from frontdesk.agent.providers.offline_tts import PIPER_RATE, speak_pcm

    key = (text, language)
    with _one_at_a_time:
        cached = _cache.get(key)
        if cached is None:
            cached = _wav(speak_pcm(text, language), PIPER_RATE)
            _cache[key] = cached
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        else:
            _cache.move_to_end(key)
    return cached


async def voice_sample(text: str, language: str, tts: str) -> bytes:
    """WAV of `text` spoken as a call would hear it (SampleUnavailable for cloud TTS)."""
    if tts != "offline":
        raise SampleUnavailable(
            "samples are spoken by the offline voice; a cloud voice is heard on a test call"
        )
    return await asyncio.to_thread(_speak, text, language)
