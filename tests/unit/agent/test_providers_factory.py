"""The provider factory: offline by default, cloud plugins by config, keys checked up front.

"No network" is observed, not assumed: a Python audit hook records every socket connect and
name lookup made while the cloud plugins are built and the event loop runs a little, and a
local listener stands in as the OpenAI-compatible base URL and must see no connection.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest
from livekit.plugins import cartesia, deepgram, elevenlabs, openai, silero

from frontdesk.agent.providers.factory import build_providers, check_provider_keys
from frontdesk.agent.providers.fallback import LLMFallback, STTFallback, TTSFallback
from frontdesk.agent.providers.kb_llm import KnowledgeBaseLLM
from frontdesk.agent.providers.offline_stt import WhisperSTT
from frontdesk.agent.providers.offline_tts import OfflineTTS
from frontdesk.config import Settings
from frontdesk.errors import ConfigError
from frontdesk.tenancy.config import TenantConfig

_network_events: list[tuple[str, Any]] = []
_recording = False


def _audit(event: str, args: Any) -> None:
    if _recording and event in ("socket.connect", "socket.getaddrinfo", "socket.sendto"):
        _network_events.append((event, args))


sys.addaudithook(_audit)


def settings(**values: Any) -> Settings:
    return Settings(**values)


def test_offline_is_the_default_and_needs_no_key() -> None:
    providers = build_providers(TenantConfig(), settings())
    assert isinstance(providers.stt, WhisperSTT)
    assert isinstance(providers.llm, KnowledgeBaseLLM)
    assert isinstance(providers.tts, OfflineTTS) and providers.tts.provider == "piper"
    assert isinstance(providers.vad, silero.VAD)
    assert check_provider_keys([("pizzeria", TenantConfig())], settings()) == []


def test_models_load_once_per_process() -> None:
    first = build_providers(TenantConfig(), settings())
    second = build_providers(TenantConfig(language="it"), settings())
    assert first.vad is second.vad
    assert first.stt._model is second.stt._model  # type: ignore[attr-defined]
    assert isinstance(second.tts, OfflineTTS) and second.tts.provider == "espeak-ng"


async def test_cloud_plugins_are_built_without_touching_the_network() -> None:
    global _recording
    accepted: list[int] = []

    def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    cfg = settings(
        openai_api_key="sk-dummy",
        openai_base_url=f"http://127.0.0.1:{port}/v1",
        deepgram_api_key="dg-dummy",
        elevenlabs_api_key="el-dummy",
        cartesia_api_key="ca-dummy",
    )
    built = []
    _network_events.clear()
    _recording = True
    try:
        for stt_name, llm_name, tts_name in [
            ("openai", "openai", "openai"),
            ("deepgram", "openai", "elevenlabs"),
            ("deepgram", "openai", "cartesia"),
        ]:
            config = TenantConfig(
                stt=stt_name, llm=llm_name, tts=tts_name, llm_model="llama-3.1-8b", voice="v1"
            )
            built.append(build_providers(config, cfg))
        await asyncio.sleep(0.2)
    finally:
        _recording = False
    assert _network_events == []
    assert accepted == []
    # the hook does see a real connection (so the empty list above means something)
    _recording = True
    try:
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
    finally:
        _recording = False
    assert any(event == "socket.connect" for event, _ in _network_events)
    first, second, third = built
    # each cloud provider is the first of a fallback adapter; the offline one is second
    for providers in built:
        assert isinstance(providers.stt, STTFallback)
        assert isinstance(providers.llm, LLMFallback)
        assert isinstance(providers.tts, TTSFallback)
        assert isinstance(providers.stt.members[1], WhisperSTT)
        assert isinstance(providers.llm.members[1], KnowledgeBaseLLM)
        assert isinstance(providers.tts.members[1], OfflineTTS)
    assert isinstance(first.stt.members[0], openai.STT)
    cloud_llm = first.llm.members[0]
    assert isinstance(cloud_llm, openai.LLM) and cloud_llm.model == "llama-3.1-8b"
    assert isinstance(first.tts.members[0], openai.TTS)
    assert isinstance(second.stt.members[0], deepgram.STT)
    assert isinstance(second.tts.members[0], elevenlabs.TTS)
    assert isinstance(third.tts.members[0], cartesia.TTS)
    for providers in built:
        await providers.stt.aclose()
        await providers.llm.aclose()
        await providers.tts.aclose()
    server.close()
    await server.wait_closed()


def test_missing_keys_are_reported_per_org_and_number() -> None:
    configs = [
        ("org pizzeria", TenantConfig()),
        ("number +390551234567 (pizzeria)", TenantConfig(llm="openai", tts="elevenlabs")),
        ("org studio-rossi", TenantConfig(stt="deepgram", tts="cartesia")),
    ]
    problems = check_provider_keys(configs, settings())
    text = [str(p) for p in problems]
    assert text == [
        "number +390551234567 (pizzeria): llm 'openai': needs FRONTDESK_OPENAI_API_KEY, "
        "which is not set",
        "number +390551234567 (pizzeria): tts 'elevenlabs': needs "
        "FRONTDESK_ELEVENLABS_API_KEY, which is not set",
        "org studio-rossi: stt 'deepgram': needs FRONTDESK_DEEPGRAM_API_KEY, which is not set",
        "org studio-rossi: tts 'cartesia': needs FRONTDESK_CARTESIA_API_KEY, which is not set",
    ]
    assert all(p.fatal for p in problems)
    keyed = settings(
        openai_api_key="k", elevenlabs_api_key="k", deepgram_api_key="k", cartesia_api_key="k"
    )
    assert check_provider_keys(configs, keyed) == []


def test_local_openai_compatible_server_needs_no_key() -> None:
    cfg = settings(openai_base_url="http://127.0.0.1:11434/v1")
    assert check_provider_keys([("org x", TenantConfig(llm="openai"))], cfg) == []
    model = build_providers(TenantConfig(llm="openai"), cfg).llm
    assert isinstance(model, LLMFallback) and isinstance(model.members[0], openai.LLM)


def test_build_refuses_a_missing_key_clearly() -> None:
    with pytest.raises(ConfigError, match="FRONTDESK_CARTESIA_API_KEY"):
        build_providers(TenantConfig(tts="cartesia"), settings())


def test_non_english_offline_speech_is_a_warning() -> None:
    problems = check_provider_keys([("org it", TenantConfig(language="it"))], settings())
    assert [(p.kind, p.fatal) for p in problems] == [("stt", False), ("llm", False)]
    assert "English only" in str(problems[0])


def test_keys_never_appear_in_problem_text() -> None:
    cfg = settings(openai_api_key="sk-very-secret")
    problems = check_provider_keys([("org", TenantConfig(tts="cartesia", llm="openai"))], cfg)
    assert problems and all("sk-very-secret" not in str(p) for p in problems)
    assert "sk-very-secret" not in repr(cfg)
