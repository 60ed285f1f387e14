"""The caller's keypad (calls/keypad.py) and the key actions of TenantConfig."""

from __future__ import annotations

import pytest

from frontdesk.calls.keypad import KeyBuffer, caller_input, key_action
from frontdesk.tenancy.config import ConfigOverrideError, TenantConfig, merge, validate_override


def test_key_actions_are_looked_up_per_key() -> None:
    config = TenantConfig(key_actions={"0": "transfer", "*": "hangup"})
    assert key_action(config.key_actions, "0") == "transfer"
    assert key_action(config.key_actions, "*") == "hangup"
    assert key_action(config.key_actions, "5") is None
    assert key_action(TenantConfig().key_actions, "0") is None  # default: none


def test_one_key_alone_is_sent_after_the_pause() -> None:
    keys = KeyBuffer(gap_s=1.5)
    assert keys.press("3", 10.0) is None
    assert keys.deadline == 11.5
    assert keys.due(11.4) is None
    assert keys.due(11.5) == "3"
    assert keys.due(20.0) is None and keys.deadline is None


def test_keys_typed_together_are_one_input_and_hash_ends_it() -> None:
    keys = KeyBuffer(gap_s=1.5)
    assert keys.press("1", 0.0) is None
    assert keys.press("2", 1.0) is None  # each key restarts the pause
    assert keys.due(2.0) is None
    assert keys.press("#", 2.2) == "12#"
    assert keys.deadline is None


def test_a_long_input_is_cut_at_max_keys() -> None:
    keys = KeyBuffer(max_keys=4)
    assert [keys.press(k, 0.0) for k in "12345"] == [None, None, None, "1234", None]
    assert keys.due(99.0) == "5"


def test_what_the_agent_is_told() -> None:
    assert caller_input("3") == "The caller pressed 3 on the keypad."
    assert caller_input("12#") == "The caller pressed 1, 2 and # on the keypad."


def test_key_actions_override_is_validated_and_normalised() -> None:
    assert validate_override({"key_actions": {"0": "transfer", "a": "hangup"}}) == {
        "key_actions": {"0": "transfer", "A": "hangup"}
    }
    org = TenantConfig(key_actions={"0": "transfer"})
    assert merge(org, {"key_actions": {}}).key_actions == {}  # a number can switch them off
    assert merge(org, {}).key_actions == {"0": "transfer"}


@pytest.mark.parametrize(
    ("key_actions", "message"),
    [
        ({"00": "transfer"}, "'00' is not a phone key"),
        ({"x": "transfer"}, "'x' is not a phone key"),
        ({"0": "dance"}, "'transfer' or 'hangup'"),
        (["0"], "valid dictionary"),
    ],
)
def test_bad_key_actions_are_refused_with_the_key_named(key_actions: object, message: str) -> None:
    with pytest.raises(ConfigOverrideError) as info:
        validate_override({"key_actions": key_actions})
    assert info.value.key == "key_actions"
    assert message in str(info.value)
