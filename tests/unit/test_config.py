"""Settings: environment, TOML file, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from frontdesk.config import load_settings
from frontdesk.errors import ConfigError


def test_defaults_match_the_design() -> None:
    settings = load_settings()
    assert settings.sip_port == 15060
    assert settings.rtp_port_range == (10000, 12000)
    assert settings.media_timeout == 12.0
    assert settings.hold_timeout == 1800.0
    assert settings.default_country == "IT"


def test_environment_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_PBX_ADDRESSES", "203.0.113.7, 2001:db8::/64")
    settings = load_settings()
    assert [str(n) for n in settings.pbx_networks] == ["203.0.113.7/32", "2001:db8::/64"]


def test_toml_file_and_env_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "frontdesk.toml"
    config.write_text('sip_port = 25060\npbx_addresses = ["198.51.100.1"]\nmedia_timeout = 5\n')
    monkeypatch.setenv("FRONTDESK_MEDIA_TIMEOUT", "7")
    settings = load_settings(config)
    assert settings.sip_port == 25060
    assert settings.pbx_addresses == ["198.51.100.1"]
    assert settings.media_timeout == 7.0  # the environment wins over the file


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pbx_addresses": "10.0.0.1, nope"}, "'nope' is not an IP address or CIDR"),
        ({"rtp_ports": "12000-10000"}, "must be LOW-HIGH"),
        ({"rtp_ports": "abc"}, "is not LOW-HIGH"),
        ({"sip_port": 10500}, "lies inside the RTP range"),
        ({"public_ip": "example.com"}, "is not an IP address"),
    ],
)
def test_invalid_values_name_the_problem(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(**overrides)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_trusted_proxies_none_by_default_and_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().trusted_proxy_networks == ()
    monkeypatch.setenv("FRONTDESK_TRUSTED_PROXIES", "10.0.0.0/8, 2001:db8::1")
    networks = [str(n) for n in load_settings().trusted_proxy_networks]
    assert networks == ["10.0.0.0/8", "2001:db8::1/128"]
    with pytest.raises(ConfigError, match=r"trusted proxy 'proxy\.example' is not an IP"):
        load_settings(trusted_proxies="proxy.example")
