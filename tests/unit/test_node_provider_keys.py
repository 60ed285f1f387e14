"""`frontdesk run` refuses to start when a number's providers lack their keys, naming it."""

from __future__ import annotations

import pytest

from frontdesk.calls.routing import NumberEntry
from frontdesk.cli.node import _check_provider_keys
from frontdesk.config import load_settings
from frontdesk.errors import ConfigError
from frontdesk.tenancy.config import TenantConfig

OFFLINE = TenantConfig()
CLOUD_LLM = TenantConfig(llm="openai")


def entry(number: str, org: str, config: TenantConfig, override: dict[str, object]) -> NumberEntry:
    return NumberEntry(f"id{number}", number, f"org-{org}", org, True, True, config, override, 1)


def test_a_number_overriding_to_a_keyless_provider_is_named() -> None:
    settings = load_settings(None, use_uvloop=False)
    entries = [
        entry("+390551000001", "pizzeria", OFFLINE, {}),
        entry("+390551000002", "pizzeria", OFFLINE, {"tts": "cartesia"}),
    ]
    with pytest.raises(ConfigError) as refused:
        _check_provider_keys(settings, entries)
    message = str(refused.value)
    assert "pizzeria +390551000002" in message and "FRONTDESK_CARTESIA_API_KEY" in message
    assert "+390551000001" not in message  # the offline number needs nothing


def test_every_number_of_an_org_is_counted_once_and_keys_silence_it() -> None:
    entries = [entry(f"+39055100000{i}", "studio", CLOUD_LLM, {}) for i in range(5)]
    with pytest.raises(ConfigError, match=r"studio .*\(\+2 more\).*FRONTDESK_OPENAI_API_KEY"):
        _check_provider_keys(load_settings(None, use_uvloop=False), entries)
    with_key = load_settings(None, use_uvloop=False, openai_api_key="sk-test")
    _check_provider_keys(with_key, entries)  # no error


def test_an_inactive_number_is_not_checked() -> None:
    inactive = NumberEntry("id1", "+390551000009", "org-x", "x", False, True, OFFLINE,
                           {"stt": "deepgram"}, 1)  # fmt: skip
    _check_provider_keys(load_settings(None, use_uvloop=False), [inactive])
