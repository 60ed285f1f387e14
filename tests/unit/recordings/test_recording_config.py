"""The recording settings: per org, overridable per number; where files go by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.config import load_settings
from frontdesk.tenancy.config import (
    DEFAULT_RECORDING_NOTICE,
    ConfigOverrideError,
    TenantConfig,
    merge,
)


def test_recording_is_off_by_default_and_a_number_can_turn_it_on() -> None:
    org = TenantConfig()
    assert org.record_calls is False and org.recording_notice == DEFAULT_RECORDING_NOTICE
    number = merge(org, {"record_calls": True, "recording_notice": "Chiamata registrata."})
    assert number.record_calls is True and number.recording_notice == "Chiamata registrata."
    recorded_org = TenantConfig(record_calls=True)
    assert merge(recorded_org, {"record_calls": False}).record_calls is False


def test_bad_recording_values_are_refused_naming_the_key() -> None:
    with pytest.raises(ConfigOverrideError) as exc:
        merge(TenantConfig(), {"record_calls": "sometimes"})
    assert exc.value.key == "record_calls"
    with pytest.raises(ConfigOverrideError) as exc:
        merge(TenantConfig(), {"recording_notice": ""})
    assert exc.value.key == "recording_notice"


def test_recordings_live_in_the_data_dir_unless_configured(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    assert settings.recordings_path == tmp_path / "recordings"
    assert settings.recording_retention_days == 90
    other = load_settings(None, data_dir=tmp_path, recordings_dir=tmp_path / "r")
    assert other.recordings_path == tmp_path / "r"
    with pytest.raises(Exception, match="recording_retention_days"):
        load_settings(None, recording_retention_days=0)
