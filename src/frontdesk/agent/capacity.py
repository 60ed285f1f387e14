"""How many agent sessions this node takes when `FRONTDESK_NODE_MAX_CALLS` is not set.

Owns: the cost model. A session whose speech runs on this node's CPU (offline whisper STT,
piper TTS) costs fully; one whose STT, LLM and TTS are remote APIs costs little (audio
forwarding, VAD, the session loop). The node takes as many sessions as its cores can
carry of the most expensive provider set its numbers use, since any call may be for any
number.

What sets the offline cost is the worst moment, not the average load: every caller asking
at once, each expecting the reply to start within 1.5 s of the end of the question.
Measured (`python -m bench.agent_bench --at-once`, 2 cores, one worker per core, 2026-12-03):
one caller 1,048 ms median, two at once 1,287 ms (6 of 6 replies within 1.5 s), three at
once 1,964 ms (3 of 9), six at once 3.1-5.7 s (0 of 18); with six workers instead of two,
two at once already miss (the models then fight for the cores). Each worker transcribes
and speaks one call at a time, so a core carries ONE offline caller asking at once: the
offline set costs a whole core's units (an average-load model said three per core, and
let six callers wait up to 5.7 s). A session whose STT, LLM and TTS are remote APIs costs
little (audio forwarding, VAD, the session loop), and a node without agents (the echo
responder) only its session base.

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
# whisper ~2/3 and piper ~1/3 of the offline set's work; together a core's units
_STT_COST = {"offline": 1.95}  # anything else is a remote API
_TTS_COST = {"offline": 0.98}
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


def node_capacity(
    configured: int | None, entries: Iterable[NumberEntry], *, agent_enabled: bool = True
) -> int:
    """`FRONTDESK_NODE_MAX_CALLS` when set, else the default for this machine's cores
    (without agents, calls get the echo responder: each costs its session base only)."""
    if configured is not None:
        return configured
    cores = os.cpu_count() or 1
    if not agent_enabled:
        return max(1, math.floor(cores * UNITS_PER_CORE / _SESSION_BASE))
    return default_node_capacity(provider_sets(entries), cores)
