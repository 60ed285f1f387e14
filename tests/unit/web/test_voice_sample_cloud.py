"""The settings page's voice sample with a cloud voice: the greeting goes through the real
openai plugin to a local OpenAI-compatible server (`FakeOpenAIServer`'s speech endpoint),
comes back as the WAV the page plays, and a replay costs no second request."""

from __future__ import annotations

import io
import wave

import pytest
from tests.fakes.openai_server import SPEECH_RATE, FakeOpenAIServer, Say

from frontdesk.config import load_settings
from frontdesk.tenancy.config import TenantConfig
from frontdesk.web.voice_sample import SampleUnavailable, voice_sample

GREETING = "Thank you for calling the Alpha law office."


async def test_a_cloud_voice_sample_is_that_voice_and_is_asked_for_once() -> None:
    async with FakeOpenAIServer(lambda _body: Say("unused")) as server:
        settings = load_settings(None, openai_base_url=server.base_url)
        config = TenantConfig(tts="openai", voice="alloy", greeting=GREETING)
        first = await voice_sample(GREETING, config, settings)
        again = await voice_sample(GREETING, config, settings)
    assert again == first
    [asked] = server.speech_requests
    assert asked["input"] == GREETING and asked["voice"] == "alloy"
    with wave.open(io.BytesIO(first)) as wav:
        assert wav.getframerate() == SPEECH_RATE and wav.getnchannels() == 1
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.5 < seconds < 6.0, seconds  # the whole sentence, not a fragment


async def test_a_cloud_voice_without_its_key_says_which_setting() -> None:
    settings = load_settings(None, openai_base_url=None, openai_api_key=None)
    config = TenantConfig(tts="openai", greeting=GREETING + " Again.")
    with pytest.raises(SampleUnavailable, match="FRONTDESK_OPENAI_API_KEY"):
        await voice_sample(config.greeting, config, settings)
