"""The node's default capacity follows the providers its numbers use."""

from __future__ import annotations

import pytest

from frontdesk.agent.capacity import (
    ProviderSet,
    default_node_capacity,
    node_capacity,
    session_cost,
)

OFFLINE = ProviderSet("offline", "offline-kb", "offline")
CLOUD = ProviderSet("deepgram", "openai", "cartesia")


def test_local_models_cost_far_more_than_remote_apis() -> None:
    assert session_cost(OFFLINE) == pytest.approx(3.0)  # a core's units: one caller
    assert session_cost(CLOUD) < session_cost(OFFLINE) / 25


def test_capacity_scales_with_cores_and_takes_the_costliest_set() -> None:
    # bench/agent_bench.py --at-once: two offline callers asking at once on 2 cores all
    # hear the reply start within 1.5 s, three do not
    assert default_node_capacity([OFFLINE], cores=2) == 2
    assert default_node_capacity([OFFLINE], cores=4) == 4
    cloud_only = default_node_capacity([CLOUD], cores=2)
    assert cloud_only > 50
    assert default_node_capacity([CLOUD, OFFLINE], cores=2) == 2  # any call may be offline
    local_tts = ProviderSet("deepgram", "openai", "offline")  # piper only
    assert 2 < default_node_capacity([local_tts], cores=2) < cloud_only


def test_no_numbers_means_the_offline_default_and_never_zero() -> None:
    assert default_node_capacity([], cores=2) == 2
    assert default_node_capacity([OFFLINE], cores=0) >= 1


def test_a_node_without_agents_is_not_held_to_the_agents_cost() -> None:
    with_agents = node_capacity(None, [])
    assert node_capacity(None, [], agent_enabled=False) > 20 * with_agents
    assert node_capacity(7, [], agent_enabled=False) == 7  # the setting always wins
