"""How many agent sessions this node takes when `FRONTDESK_NODE_MAX_CALLS` is not set.

Owns: the cost model. A session whose speech runs on this node's CPU (offline whisper STT,
piper TTS) costs fully; one whose STT, LLM and TTS are remote APIs costs little (audio
forwarding, VAD, the session loop). The node takes as many sessions as its cores can
carry of the most expensive provider set its numbers use, since any call may be for any
number. Measured here (2 cores, offline set): whisper tiny.en transcribes a 2 s
utterance in ~0.5 s on one thread and piper speaks a sentence in ~0.25 s, so a core keeps
up with about three callers who talk as callers do (a turn every few seconds).

Must not: read settings or the database; callers pass the provider names in use.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from frontdesk.calls.routing import NumberEntry
from frontdesk.tenancy.config import merged_value

#: cost units a core can carry (one unit = one caller served by the offline set)
UNITS_PER_CORE = 3.0
_STT_COST = {"offline": 0.63}  # anything else is a remote API
_TTS_COST = {"offline": 0.3}
_REMOTE_COST = 0.02
_SESSION_BASE = 0.05  # VAD, the session loop, audio in and out


@dataclass(frozen=True, slots=True)
class ProviderSet:
    stt: str
    llm: str
    tts: str


def session_cost(providers: ProviderSet) -> float:
    return (
        _SESSION_BASE
        + _STT_COST.get(providers.stt, _REMOTE_COST)
        + _TTS_COST.get(providers.tts, _REMOTE_COST)
        + _REMOTE_COST  # the LLM: remote, or the offline knowledge-base responder
    )


def default_node_capacity(provider_sets: Iterable[ProviderSet], cores: int) -> int:
    """Sessions a node with `cores` takes for the costliest set in use (offline if none)."""
    worst = max(
        (session_cost(p) for p in provider_sets),
        default=session_cost(ProviderSet("offline", "offline-kb", "offline")),
    )
    return max(1, math.floor(max(1, cores) * UNITS_PER_CORE / worst))


def provider_sets(entries: Iterable[NumberEntry]) -> set[ProviderSet]:
    """The provider sets the active numbers use (a number's override wins)."""
    found: set[ProviderSet] = set()
    for entry in entries:
        if not (entry.number_active and entry.org_active):
            continue
        org, override = entry.org_config, entry.override
        found.add(
            ProviderSet(
                str(merged_value(org, override, "stt")),
                str(merged_value(org, override, "llm")),
                str(merged_value(org, override, "tts")),
            )
        )
    return found


def node_capacity(configured: int | None, entries: Iterable[NumberEntry]) -> int:
    """`FRONTDESK_NODE_MAX_CALLS` when set, else the default for this machine's cores."""
    if configured is not None:
        return configured
    return default_node_capacity(provider_sets(entries), os.cpu_count() or 1)
