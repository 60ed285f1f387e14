"""The caller's keypad: what a pressed key does, and how keys become the caller's input.

Owns, as pure code (no clock reads, no tasks):
- `key_action(actions, key)`: the action configured for a key on the dialled number
  (`TenantConfig.key_actions`, e.g. `{"0": "transfer"}`), or None;
- `KeyBuffer`: keys without an action are gathered into one input for the agent, so a
  caller typing an order number is one turn, not six: a `#` ends the input at once, a
  pause of `gap_s` ends it too, and so does reaching `max_keys`;
- `caller_input(keys)`: how the agent's language model is told ("The caller pressed 3 on
  the keypad."), written as what the caller said.

Where keys come from (RFC 4733 telephone-events on RTP, SIP INFO) is the edge's business;
what an action does (REFER, BYE) is the agent host's. Must not: touch SIP, RTP or time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from frontdesk.tenancy.config import KeyAction

__all__ = ["KeyBuffer", "caller_input", "key_action"]

END_KEY = "#"


def key_action(actions: Mapping[str, KeyAction], key: str) -> KeyAction | None:
    """The action configured for `key` ('0'-'9', '*', '#', 'A'-'D'), or None."""
    return actions.get(key.upper())


def caller_input(keys: str) -> str:
    """The agent's text for keys pressed together ("The caller pressed 1, 2 and # ...")."""
    if len(keys) == 1:
        return f"The caller pressed {keys} on the keypad."
    return f"The caller pressed {', '.join(keys[:-1])} and {keys[-1]} on the keypad."


@dataclass(slots=True)
class KeyBuffer:
    """Keys gathered into one input; time is passed in (`now`, monotonic seconds)."""

    gap_s: float = 1.5
    max_keys: int = 20
    keys: str = ""
    deadline: float | None = field(default=None)

    def press(self, key: str, now: float) -> str | None:
        """Add a key; the finished input when this key ends it, else None."""
        self.keys += key
        if key == END_KEY or len(self.keys) >= self.max_keys:
            return self._flush()
        self.deadline = now + self.gap_s
        return None

    def due(self, now: float) -> str | None:
        """The gathered input if the caller paused long enough, else None."""
        if self.deadline is not None and now >= self.deadline:
            return self._flush()
        return None

    def _flush(self) -> str | None:
        keys, self.keys, self.deadline = self.keys, "", None
        return keys or None
