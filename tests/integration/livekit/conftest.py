"""Fixtures of the LiveKit front's tests: the store's real Postgres, and a fake LiveKit API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.integration.livekit.fake_livekit import API_KEY, API_SECRET, FakeLiveKit
from tests.integration.store.conftest import db, pg, pool, seed

from frontdesk.config import Settings, load_settings
from frontdesk.livekit.client import LiveKitCredentials

__all__ = ["db", "pg", "pool", "seed"]


@pytest.fixture
async def fake_livekit() -> AsyncIterator[FakeLiveKit]:
    fake = FakeLiveKit()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def livekit_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "livekit_url": url,
        "livekit_api_key": API_KEY,
        "livekit_api_secret": API_SECRET,
        "pbx_addresses": ["203.0.113.7", "198.51.100.0/28"],
        "node_id": "node-1",
        "use_uvloop": False,
    }
    values.update(overrides)
    return load_settings(None, **values)


@pytest.fixture
def credentials(fake_livekit: FakeLiveKit) -> LiveKitCredentials:
    return LiveKitCredentials(fake_livekit.url, API_KEY, API_SECRET)
