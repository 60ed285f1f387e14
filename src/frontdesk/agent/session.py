"""One agent session for one call, built the same way on both fronts.

Owns: the provider factory hook (`FRONTDESK_AGENT_PROVIDER_FACTORY`, `module:function`,
so tests and benchmarks run the same code with fake providers), how turns are taken on a
phone line (the end of a turn from the SmartTurn model on the caller's audio, or from a
fixed VAD silence, per the number's `turn_detection`; fast barge-in that a cough or an
"mm-hmm" does not end; no echo warm-up; the reply's LLM started on the final transcript,
before the turn is committed; a non-streaming STT cut at the caller's short pauses,
`caller_stt`; a reply's first clause sent to the TTS on its own, `caller_tts`), and
`new_session`, which the edge's worker processes and
the LiveKit job both call, and `served_by`, which both fronts use to put on each transcript
line the provider that served it.
Must not: start the session or choose its audio ends (each front attaches its own).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, Protocol

from livekit.agents import AgentSession, llm, stt, tts, vad
from livekit.agents.voice.agent_session import SessionConnectOptions
from livekit.agents.voice.events import UserInputTranscribedEvent

from frontdesk.agent.providers.clauses import FirstClauseTokenizer
from frontdesk.agent.providers.vad import load_vad
from frontdesk.agent.spec import CallSpec
from frontdesk.config import Settings
from frontdesk.tenancy.config import TenantConfig


class Providers(Protocol):
    @property
    def stt(self) -> stt.STT[Any]: ...
    @property
    def llm(self) -> llm.LLM[Any]: ...
    @property
    def tts(self) -> tts.TTS[Any]: ...
    @property
    def vad(self) -> vad.VAD: ...


ProviderFactory = Callable[[CallSpec, Settings], Providers]


def load_factory(path: str) -> ProviderFactory:
    """`module:function` → the function (settings name the factory; tests name fakes)."""
    module_name, _, attribute = path.partition(":")
    factory: ProviderFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


def turn_options(config: TenantConfig, settings: Settings) -> dict[str, Any]:
    """How the end of the caller's turn is found (`turn_detection` of the number)."""
    if config.turn_detection == "model":
        from frontdesk.agent.providers.turn_model import SmartTurnDetector

        return {
            "turn_detection": SmartTurnDetector(threshold=settings.agent_turn_model_threshold),
            # complete → end at the VAD's short silence; incomplete → wait for more words
            # up to the maximum silence (a new word cancels the wait)
            "endpointing": {
                "mode": "fixed",
                "min_delay": settings.agent_turn_model_silence,
                "max_delay": settings.agent_turn_max_silence,
            },
        }
    return {
        "turn_detection": "vad",
        "endpointing": {"mode": "fixed", "min_delay": settings.agent_endpointing_delay},
    }


def turn_vad(config: TenantConfig, settings: Settings, chosen: vad.VAD) -> vad.VAD:
    """The session's VAD: with the model, a short silence (it asks the model, and the
    whisper STT transcribes each piece of the utterance in the caller's pauses)."""
    if config.turn_detection == "model":
        return load_vad(settings.agent_turn_model_silence)
    return chosen


def session_options(config: TenantConfig, settings: Settings) -> dict[str, Any]:
    """How turns are taken on a phone line: model or VAD endpointing, fast barge-in."""
    return {
        "turn_handling": {
            **turn_options(config, settings),
            "interruption": {
                "enabled": True,
                "mode": "vad",
                # the caller's voice this long pauses the agent at once; the words decide
                # later: a backchannel or a cough (no words) resumes it where it paused
                "min_duration": settings.agent_interruption_min_duration,
                "resume_false_interruption": True,
                "false_interruption_timeout": settings.agent_false_interruption_timeout,
            },
            # the reply's LLM starts on the final transcript, before the turn is committed
            # (its result is used when the committed text is the same)
            "preemptive_generation": {"enabled": True},
        },
        "user_away_timeout": None,
        # a phone line is four-wire: the caller's audio carries no echo of ours, so
        # barge-in works from the first word (the default mutes it for 3 s)
        "aec_warmup_duration": None,
        "max_tool_steps": 3,
        # a cloud provider that fails hands over to its offline counterpart (the fallback
        # adapters of `providers/factory.py`); an error that still reaches the session means
        # the offline one failed too: end at once (apology and BYE) instead of leaving the
        # caller in silence for 3 turns
        "conn_options": SessionConnectOptions(max_unrecoverable_errors=1),
    }


def caller_stt(chosen: stt.STT[Any], settings: Settings) -> stt.STT[Any]:
    """The STT as the session uses it. A non-streaming one (whisper, a batch API) is cut at
    the caller's short pauses (`agent_stt_pause`, 0.2 s) rather than at the turn's end:
    each piece is transcribed while the caller goes on or the turn-end wait runs, so the
    turn's text is there (and the reply's LLM started preemptively on it) before the wait
    is over. Left to the session, the adapter would cut at the turn VAD's longer silence,
    and the reply's LLM would wait for the whole STT after the turn had ended."""
    if chosen.capabilities.streaming:
        return chosen
    return _OwningSTTAdapter(stt=chosen, vad=load_vad(settings.agent_stt_pause))


def caller_tts(chosen: tts.TTS[Any]) -> tts.TTS[Any]:
    """The TTS as the session uses it. One that speaks whole pieces of text (piper, OpenAI's
    speech) gets the reply cut so that its first clause goes as soon as it is written
    (`providers.clauses`), not after the language model's whole first sentence."""
    if chosen.capabilities.streaming:
        return chosen
    return _OwningTTSAdapter(chosen, FirstClauseTokenizer())


class _OwningSTTAdapter(stt.StreamAdapter):
    """The framework's adapter, closing what it wraps: the call's worker closes the
    session's providers at the end (a cloud client's sockets), and sees only this."""

    async def aclose(self) -> None:
        await super().aclose()
        await self.wrapped_stt.aclose()


class _OwningTTSAdapter(tts.StreamAdapter):
    """As `_OwningSTTAdapter`, for the TTS."""

    def __init__(self, wrapped: tts.TTS[Any], tokenizer: FirstClauseTokenizer) -> None:
        super().__init__(tts=wrapped, sentence_tokenizer=tokenizer)
        self._owned = wrapped

    async def aclose(self) -> None:
        await super().aclose()
        await self._owned.aclose()


def new_session(spec: CallSpec, settings: Settings, factory: ProviderFactory) -> AgentSession[None]:
    providers = factory(spec, settings)
    options = session_options(spec.config, settings)
    session: AgentSession[None] = AgentSession(
        stt=caller_stt(providers.stt, settings),
        llm=providers.llm,
        tts=caller_tts(providers.tts),
        vad=turn_vad(spec.config, settings, providers.vad),
        **options,
    )
    detector = options["turn_handling"]["turn_detection"]
    if not isinstance(detector, str):
        # the model also reads the words before each pause (see providers/turn_model.py)
        def on_transcribed(event: UserInputTranscribedEvent) -> None:
            detector.on_transcript(event.transcript, is_final=event.is_final)

        session.on("user_input_transcribed", on_transcribed)
    return session


def served_by(item: llm.ChatMessage) -> dict[str, str]:
    """Which provider served this transcript line: `stt` for the caller's words, `llm` and
    `tts` for the agent's (the framework stamps the instance that answered, also behind a
    fallback adapter), as the provider names itself: `frontdesk-offline` is the
    knowledge-base responder, `faster-whisper` and `piper`/`espeak-ng` the offline speech,
    a cloud LLM its server's host (`api.openai.com`, `api.groq.com`, a local server's
    host:port). The agent's scripted lines (the greeting) carry no `llm`."""
    metrics = item.metrics
    stamped = {
        "stt": metrics.get("stt_metadata"),
        "llm": metrics.get("llm_metadata"),
        "tts": metrics.get("tts_metadata"),
    }
    return {
        kind: str(metadata["model_provider"])
        for kind, metadata in stamped.items()
        if metadata and metadata.get("model_provider")
    }
