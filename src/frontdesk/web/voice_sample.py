"""The settings page's "play a sample": the organization's greeting in its own voice, as WAV.

Owns: speaking a text with the organization's TTS as a call would hear it: the offline
voice (piper for English, espeak-ng for other languages: `offline_tts.speak_pcm`) in a
worker thread, never on the event loop, one sample at a time per process (synthesis takes
a core for about a second); or the configured cloud voice (OpenAI, ElevenLabs, Cartesia)
through the same livekit plugin the calls use (`factory.build_tts`), with no fallback, so
what is heard is that voice or a clear error. The last few samples are kept, keyed by
voice and text, so replaying one costs nothing: a cloud sample spends the business's API
credit only when the greeting or voice changed (the page's <audio> fetches nothing until
played: `preload="none"`).

Must not: log the text it speaks, or wait longer than `SAMPLE_TIMEOUT_S` for a cloud voice.
"""

from __future__ import annotations

import asyncio
import io
import threading
import wave
from collections import OrderedDict
from typing import Final

import aiohttp

from frontdesk.config import Settings
from frontdesk.tenancy.config import TenantConfig

_CACHE_SIZE: Final = 8
SAMPLE_TIMEOUT_S: Final = 20.0
_Key = tuple[str, str, str, str]  # (tts, voice, language, text)
_cache: OrderedDict[_Key, bytes] = OrderedDict()
_cache_lock = threading.Lock()  # the cache is shared by the loop and the offline thread
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


def _cached(key: _Key) -> bytes | None:
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def _keep(key: _Key, wav: bytes) -> None:
    with _cache_lock:
        _cache[key] = wav
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)


def _speak_offline(key: _Key) -> bytes:
    from frontdesk.agent.providers.offline_tts import PIPER_RATE, speak_pcm

    with _one_at_a_time:
        cached = _cached(key)
        if cached is None:
            _, _, language, text = key
            cached = _wav(speak_pcm(text, language), PIPER_RATE)
            _keep(key, cached)
    return cached


async def _speak_cloud(config: TenantConfig, settings: Settings, text: str) -> bytes:
    from livekit import rtc

    from frontdesk.agent.providers.factory import build_tts
    from frontdesk.agent.providers.keys import needed_keys

    missing = [setting for kind, _, setting in needed_keys(config, settings) if kind == "tts"]
    if missing:
        raise SampleUnavailable(f"the {config.tts} voice needs {missing[0]}, which is not set")
    async with aiohttp.ClientSession() as http:
        voice = build_tts(config, settings, http)
        try:
            async with asyncio.timeout(SAMPLE_TIMEOUT_S):
                frames = [event.frame async for event in voice.synthesize(text)]
        except TimeoutError as exc:
            raise SampleUnavailable(f"the {config.tts} voice did not answer in time") from exc
        except Exception as exc:  # the plugin's API errors: say so, never a 500
            raise SampleUnavailable(f"the {config.tts} voice failed: {type(exc).__name__}") from exc
        finally:
            await voice.aclose()
    if not frames:
        raise SampleUnavailable(f"the {config.tts} voice sent no audio")
    audio = rtc.combine_audio_frames(frames)
    if audio.num_channels != 1:
        raise SampleUnavailable(f"the {config.tts} voice sent {audio.num_channels} channels")
    return _wav(bytes(audio.data), audio.sample_rate)


async def voice_sample(text: str, config: TenantConfig, settings: Settings) -> bytes:
    """WAV of `text` spoken by `config`'s voice, as a call would hear it."""
    key: _Key = (config.tts, config.voice, config.language, text)
    if config.tts == "offline":
        return await asyncio.to_thread(_speak_offline, key)
    cached = _cached(key)
    if cached is None:
        cached = await _speak_cloud(config, settings, text)
        _keep(key, cached)
    return cached
