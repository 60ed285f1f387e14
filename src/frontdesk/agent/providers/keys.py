"""Which provider keys a config needs, checked at start-up without importing the framework.

Owns: the list of settings each cloud provider needs (`needed_keys`) and the start-up check
over every org and number (`check_provider_keys`), which `frontdesk run` calls in the edge
process: this module imports neither livekit-agents nor any plugin, so the check costs the
edge no framework import. Must not: build providers (`factory.py` does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from frontdesk.config import Settings
from frontdesk.tenancy.config import TenantConfig

Kind = Literal["stt", "llm", "tts"]


@dataclass(frozen=True)
class ProviderProblem:
    """One thing that keeps (fatal) or degrades (not fatal) an org/number's agent."""

    where: str  # the org/number that uses the provider, as the caller of the check named it
    kind: Kind
    provider: str
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.provider!r}: {self.message}"


def needed_keys(config: TenantConfig, settings: Settings) -> list[tuple[Kind, str, str]]:
    """(kind, provider, setting name) for every key this config needs and lacks."""
    missing: list[tuple[Kind, str, str]] = []
    openai_ok = settings.openai_api_key is not None or settings.openai_base_url is not None
    if config.llm == "openai" and not openai_ok:
        missing.append(("llm", "openai", "FRONTDESK_OPENAI_API_KEY"))
    if config.stt == "openai" and not openai_ok:
        missing.append(("stt", "openai", "FRONTDESK_OPENAI_API_KEY"))
    if config.stt == "deepgram" and settings.deepgram_api_key is None:
        missing.append(("stt", "deepgram", "FRONTDESK_DEEPGRAM_API_KEY"))
    if config.tts == "openai" and not openai_ok:
        missing.append(("tts", "openai", "FRONTDESK_OPENAI_API_KEY"))
    if config.tts == "elevenlabs" and settings.elevenlabs_api_key is None:
        missing.append(("tts", "elevenlabs", "FRONTDESK_ELEVENLABS_API_KEY"))
    if config.tts == "cartesia" and settings.cartesia_api_key is None:
        missing.append(("tts", "cartesia", "FRONTDESK_CARTESIA_API_KEY"))
    return missing


def check_provider_keys(
    configs: Iterable[tuple[str, TenantConfig]], settings: Settings
) -> list[ProviderProblem]:
    """Problems of every (name, merged config) pair: missing keys (fatal), and offline
    speech that cannot follow the configured language (not fatal: it still answers)."""
    problems: list[ProviderProblem] = []
    for where, config in configs:
        for kind, provider, setting in needed_keys(config, settings):
            problems.append(
                ProviderProblem(where, kind, provider, f"needs {setting}, which is not set")
            )
        english = config.language.lower().split("-")[0] == "en"
        if config.stt == "offline" and not english:
            problems.append(
                ProviderProblem(
                    where,
                    "stt",
                    "offline",
                    f"whisper tiny.en understands English only, language is {config.language!r}",
                    fatal=False,
                )
            )
        if config.llm == "offline-kb" and not english:
            problems.append(
                ProviderProblem(
                    where,
                    "llm",
                    "offline-kb",
                    "the knowledge-base responder's own phrases are English",
                    fatal=False,
                )
            )
    return problems
