"""The worker's default provider factory: a call's `CallSpec` → its STT, LLM, TTS and VAD.

Owns: the step from the call (merged config, matched customer) to
`frontdesk.agent.providers.factory.build_providers`, and `preload`, which a worker runs
once at start so the first caller does not wait for model loading (nor for importing the
openai plugin, when an OpenAI-compatible server is configured). Settings name this
factory (`FRONTDESK_AGENT_PROVIDER_FACTORY`); tests and benchmarks name fakes instead.
Must not: build providers per call that could be shared (the model loaders cache).
"""

from __future__ import annotations

import numpy as np

from frontdesk.agent.providers.embedder import load_embedder
from frontdesk.agent.providers.factory import Providers, build_providers
from frontdesk.agent.providers.fixed_vectors import seed_fixed_vectors
from frontdesk.agent.providers.kb_llm import intent_examples
from frontdesk.agent.providers.offline_stt import load_whisper
from frontdesk.agent.providers.offline_tts import load_piper
from frontdesk.agent.providers.turn_model import load_smart_turn
from frontdesk.agent.providers.vad import load_vad
from frontdesk.agent.spec import CallSpec
from frontdesk.calls.audio import SAMPLE_RATE
from frontdesk.config import Settings


def providers_for_call(spec: CallSpec, settings: Settings) -> Providers:
    customer = spec.customer
    return build_providers(
        spec.config,
        settings,
        customer_name=customer.name if customer else None,
        customer_notes=customer.notes if customer else None,
    )


def preload(settings: Settings) -> None:
    """Load the offline models now (each loader caches per process)."""
    load_vad(settings.agent_vad_min_silence)
    load_vad(settings.agent_turn_model_silence)
    load_vad(settings.agent_stt_pause)
    load_smart_turn()
    whisper = load_whisper(settings.agent_whisper_threads)
    # one inference now: the first real one pays ~0.5 s of lazy set-up otherwise
    segments, _ = whisper.transcribe(np.zeros(SAMPLE_RATE // 2, dtype=np.float32), language="en")
    list(segments)
    load_piper(settings.agent_tts_threads)
    if settings.openai_api_key is not None or settings.openai_base_url is not None:
        # the openai SDK takes ~1 s to import (many seconds on a busy machine): pay it
        # now, not in the first caller's silence before the greeting
        import livekit.plugins.openai  # noqa: F401
    # the offline responder's model, and the shipped vectors of its fixed texts (intent
    # examples, baseline texts): a call's session start then embeds only its org's entries
    embedder = load_embedder()
    seed_fixed_vectors(embedder)
    intent_examples(embedder)
