"""The node's default capacity follows the providers its numbers use."""

from __future__ import annotations

import pytest

from frontdesk.agent.capacity import ProviderSet, default_node_capacity, session_cost

OFFLINE = ProviderSet("offline", "offline-kb", "offline")
CLOUD = ProviderSet("deepgram", "openai", "cartesia")


def test_local_models_cost_far_more_than_remote_apis() -> None:
    assert session_cost(OFFLINE) == pytest.approx(1.0)
    assert session_cost(CLOUD) < session_cost(OFFLINE) / 8


def test_capacity_scales_with_cores_and_takes_the_costliest_set() -> None:
    assert default_node_capacity([OFFLINE], cores=2) == 6
    assert default_node_capacity([OFFLINE], cores=4) == 12
    cloud_only = default_node_capacity([CLOUD], cores=2)
    assert cloud_only > 50
    assert default_node_capacity([CLOUD, OFFLINE], cores=2) == 6  # any call may be offline
    mixed = ProviderSet("offline", "openai", "cartesia")  # local STT only
    assert 6 < default_node_capacity([mixed], cores=2) < cloud_only


def test_no_numbers_means_the_offline_default_and_never_zero() -> None:
    assert default_node_capacity([], cores=2) == 6
    assert default_node_capacity([OFFLINE], cores=0) >= 1
