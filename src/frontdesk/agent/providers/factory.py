"""Which STT, LLM, TTS and VAD a call's agent session uses, from its merged TenantConfig.

Owns: the one mapping from `TenantConfig.stt` / `.llm` / `.tts` (and `voice`, `llm_model`,
`language`) to provider objects, offline or cloud, and the start-up check that every
org and number's providers have their keys (`check_provider_keys`, in `keys.py` so the
edge process can run it without importing the framework), so a missing key is a clear
error naming who uses it before any call, never a crash mid-call.

- offline (default; no keys, no network): `WhisperSTT` (tiny.en), `KnowledgeBaseLLM`,
  `OfflineTTS` (piper joe; espeak-ng for other languages). Models load once per process.
- cloud, through the framework's plugins: the OpenAI LLM plugin for any OpenAI-compatible
  server (`FRONTDESK_OPENAI_BASE_URL` for Groq, vLLM, Ollama; model = `llm_model`), OpenAI
  or Deepgram STT, OpenAI / ElevenLabs / Cartesia TTS. With a base URL set and no OpenAI
  key, a placeholder key is sent (local servers ignore it; Groq needs the real one).
- VAD: always Silero (ONNX, local): it also drives turn-taking and barge-in for cloud STT.
Building a cloud plugin opens no connection; the first request does.

Fallback (what a caller would want when a cloud provider fails): every cloud provider is
the first of a livekit-agents `FallbackAdapter` (`fallback.py`: ours also closes what it
holds) whose second is the offline one, so a timeout (`FRONTDESK_AGENT_CLOUD_TIMEOUT`) or
an error moves the turn to the offline provider instead of ending the call with an apology:
- LLM: `llm.FallbackAdapter([openai, KnowledgeBaseLLM], sticky=True)`: once the model
  fails, the knowledge-base responder answers the rest of the call (sticky: a model that
  comes back does not take over mid-conversation); a reply that breaks off mid-stream is
  answered again by the responder (`retry_on_chunk_sent`).
- STT: `stt.FallbackAdapter([cloud, whisper])`, English only (whisper tiny.en would turn
  other languages into wrong English words, worse than the cloud's failure).
- TTS: `tts.FallbackAdapter([cloud, piper/espeak-ng])`.
Which provider served each turn is in the chat items' metrics; the worker stores it on the
transcript entries.

Must not: read the environment (keys arrive in `Settings`), log keys, or build test fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from livekit.agents import llm, stt, tts, vad

from frontdesk.agent.providers.fallback import LLMFallback, STTFallback, TTSFallback
from frontdesk.agent.providers.kb_llm import KnowledgeBaseLLM
from frontdesk.agent.providers.keys import ProviderProblem, check_provider_keys, needed_keys
from frontdesk.agent.providers.vad import load_vad
from frontdesk.config import Settings
from frontdesk.errors import ConfigError
from frontdesk.tenancy.config import TenantConfig

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_OPENAI_LLM_MODEL",
    "ProviderProblem",
    "Providers",
    "build_providers",
    "build_tts",
    "check_provider_keys",
]

DEFAULT_OPENAI_LLM_MODEL = "gpt-4.1-mini"
DEFAULT_OPENAI_STT_MODEL = "gpt-4o-mini-transcribe"
_PLACEHOLDER_KEY = "not-needed"  # for OpenAI-compatible local servers that want no key


@dataclass(frozen=True)
class Providers:
    """What an `AgentSession(stt=..., llm=..., tts=..., vad=...)` takes."""

    stt: stt.STT[Any]
    llm: llm.LLM[Any]
    tts: tts.TTS[Any]
    vad: vad.VAD


def build_providers(
    config: TenantConfig,
    settings: Settings,
    *,
    customer_name: str | None = None,
    customer_notes: str | None = None,
    http_session: aiohttp.ClientSession | None = None,
) -> Providers:
    """The providers of one call. Raises ConfigError when a needed key is missing (which
    `check_provider_keys` reports at start-up). `http_session` is handed to the Deepgram,
    ElevenLabs and Cartesia plugins, which otherwise want a LiveKit job context for one."""
    missing = needed_keys(config, settings)
    if missing:
        kind, provider, setting = missing[0]
        raise ConfigError(f"{kind} provider {provider!r} needs {setting}, which is not set")
    voice_activity = load_vad(settings.agent_vad_min_silence)
    return Providers(
        stt=_with_offline_stt(config, settings, _build_stt(config, settings, http_session)),
        llm=_with_offline_llm(config, settings, customer_name, customer_notes),
        tts=_with_offline_tts(config, settings, _build_tts(config, settings, http_session)),
        vad=voice_activity,
    )


def _offline_stt(settings: Settings) -> stt.STT[Any]:
    from frontdesk.agent.providers.offline_stt import WhisperSTT

    return WhisperSTT(cpu_threads=settings.agent_whisper_threads)


def _offline_tts(config: TenantConfig, settings: Settings) -> tts.TTS[Any]:
    from frontdesk.agent.providers.offline_tts import OfflineTTS

    return OfflineTTS(language=config.language, threads=settings.agent_tts_threads)


def chat_llm(config: TenantConfig, settings: Settings) -> llm.LLM[Any]:
    """The LLM a call to a number with `config` gets (the cloud model in front of the
    knowledge-base responder), for the text chat of the number's page."""
    return _with_offline_llm(config, settings, None, None)


def _with_offline_stt(
    config: TenantConfig, settings: Settings, chosen: stt.STT[Any]
) -> stt.STT[Any]:
    english = config.language.lower().split("-")[0] == "en"
    if config.stt == "offline" or not english:
        return chosen
    # whisper is not a streaming STT: the adapter cuts the caller's audio at short pauses
    # (see `agent.session.caller_stt`)
    return STTFallback(
        [chosen, _offline_stt(settings)],
        vad=load_vad(settings.agent_stt_pause),
        attempt_timeout=settings.agent_cloud_timeout,
        max_retry_per_stt=0,
    )


def _with_offline_llm(
    config: TenantConfig,
    settings: Settings,
    customer_name: str | None,
    customer_notes: str | None,
) -> llm.LLM[Any]:
    offline = KnowledgeBaseLLM(config, customer_name=customer_name, customer_notes=customer_notes)
    if config.llm == "offline-kb":
        return offline
    return LLMFallback(
        [_build_cloud_llm(config, settings), offline],
        attempt_timeout=settings.agent_cloud_timeout,
        max_retry_per_llm=0,
        retry_on_chunk_sent=True,  # a reply cut off mid-stream is answered by the responder
        sticky=True,  # once the model failed, the responder keeps the rest of the call
    )


def _with_offline_tts(
    config: TenantConfig, settings: Settings, chosen: tts.TTS[Any]
) -> tts.TTS[Any]:
    if config.tts == "offline":
        return chosen
    return TTSFallback([chosen, _offline_tts(config, settings)], max_retry_per_tts=0)


def _openai_args(settings: Settings) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if settings.openai_base_url:
        args["base_url"] = settings.openai_base_url
    key = settings.openai_api_key
    args["api_key"] = key.get_secret_value() if key is not None else _PLACEHOLDER_KEY
    return args


def _secret(value: Any) -> str:
    assert value is not None  # needed_keys refused a missing key before we get here
    return str(value.get_secret_value())


def _build_stt(
    config: TenantConfig, settings: Settings, http_session: aiohttp.ClientSession | None
) -> stt.STT[Any]:
    if config.stt == "offline":
        return _offline_stt(settings)
    language = config.language.split("-")[0]
    if config.stt == "openai":
        from frontdesk.agent.providers.openai_stt import OpenAISTT

        return OpenAISTT(
            model=DEFAULT_OPENAI_STT_MODEL,
            language=language,
            use_realtime=False,  # the session's Silero VAD cuts turns; one request per turn
            **_openai_args(settings),
        )
    from livekit.plugins import deepgram

    return deepgram.STT(
        language=config.language,
        api_key=_secret(settings.deepgram_api_key),
        http_session=http_session,
    )


def _build_cloud_llm(config: TenantConfig, settings: Settings) -> llm.LLM[Any]:
    from livekit.plugins import openai

    return openai.LLM(model=config.llm_model or DEFAULT_OPENAI_LLM_MODEL, **_openai_args(settings))


def build_tts(
    config: TenantConfig, settings: Settings, http_session: aiohttp.ClientSession | None
) -> tts.TTS[Any]:
    """The configured voice alone, with no fallback (the settings page's voice sample:
    a sample of the cloud voice must not silently be the offline one)."""
    return _build_tts(config, settings, http_session)


def _build_tts(
    config: TenantConfig, settings: Settings, http_session: aiohttp.ClientSession | None
) -> tts.TTS[Any]:
    voice = None if config.voice == "default" else config.voice
    if config.tts == "offline":
        return _offline_tts(config, settings)
    if config.tts == "openai":
        from livekit.plugins import openai

        extra: dict[str, Any] = {"voice": voice} if voice else {}
        return openai.TTS(**extra, **_openai_args(settings))
    if config.tts == "elevenlabs":
        from livekit.plugins import elevenlabs

        extra = {"voice_id": voice} if voice else {}
        return elevenlabs.TTS(
            api_key=_secret(settings.elevenlabs_api_key),
            language=config.language.split("-")[0],
            http_session=http_session,
            **extra,
        )
    from livekit.plugins import cartesia

    extra = {"voice": voice} if voice else {}
    return cartesia.TTS(
        api_key=_secret(settings.cartesia_api_key),
        language=config.language.split("-")[0],
        http_session=http_session,
        **extra,
    )
