"""The framework's fallback adapters, made to own what they hold for one call.

Owns: `LLMFallback`, `STTFallback`, `TTSFallback`: livekit-agents' `FallbackAdapter`s
(one call's cloud provider first, the offline one second; see `factory.py`) whose
`aclose` also closes every provider behind them and, for the LLM, cancels the background
recovery probe. The framework's adapters close only themselves (the LLM one not even its
probe), which would leave one HTTP client, and its sockets, behind per call.

Must not: change how the adapters choose a provider (that is the framework's code).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from livekit.agents import llm, stt, tts


async def _close_all(providers: list[Any]) -> None:
    for provider in providers:
        with contextlib.suppress(Exception):
            await provider.aclose()


class LLMFallback(llm.FallbackAdapter):
    """`llm.FallbackAdapter` that closes its LLMs and its recovery probes."""

    @property
    def members(self) -> tuple[llm.LLM[Any], ...]:
        return tuple(self._llm_instances)

    async def aclose(self) -> None:
        probes = [s.recovering_task for s in self._status if s.recovering_task is not None]
        for probe in probes:
            probe.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        await super().aclose()
        await _close_all(list(self._llm_instances))


class STTFallback(stt.FallbackAdapter):
    """`stt.FallbackAdapter` that closes its STTs (the adapter wraps a non-streaming STT
    in a `StreamAdapter`, which closes only itself: we keep the STTs as given)."""

    def __init__(self, members: list[stt.STT[Any]], **options: Any) -> None:
        super().__init__(members, **options)
        self._members = tuple(members)

    @property
    def members(self) -> tuple[stt.STT[Any], ...]:
        return self._members

    async def aclose(self) -> None:
        await super().aclose()
        await _close_all(list(self._members))


class TTSFallback(tts.FallbackAdapter):
    """`tts.FallbackAdapter` that closes its TTSs."""

    @property
    def members(self) -> tuple[tts.TTS[Any], ...]:
        return tuple(self._tts_instances)

    async def aclose(self) -> None:
        await super().aclose()
        await _close_all(list(self._tts_instances))
