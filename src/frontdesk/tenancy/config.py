"""`TenantConfig`: what the agent of an organization is, and a number's overrides on it.

Owns: the typed model of an organization's agent configuration (the `agent_instances`
row), validation of a number's `config_override` when it is written (unknown keys and
bad values are refused with a message naming the key, never found at call time), and
the merge: the org's config with the override on top (keys present in the override win,
absent keys inherit). Must not: read the database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
)

from frontdesk.errors import FrontdeskError
from frontdesk.tenancy.hours import BusinessHours, HoursStatus, hours_from_stored


class ConfigOverrideError(FrontdeskError):
    """A config override names a key TenantConfig does not have, or a bad value for one."""

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class KnowledgeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1, max_length=1000)
    answer: str = Field(min_length=1, max_length=4000)


#: what a key on the caller's keypad may do instead of going to the agent as input:
#: `transfer` (a blind transfer to `transfer_target`), `hangup` (end the call)
KeyAction = Literal["transfer", "hangup"]
PHONE_KEYS = "0123456789*#ABCD"
#: English, like the offline voices: an Italian business sets its own text (and an Italian
#: voice), e.g. "Questa chiamata viene registrata."
DEFAULT_RECORDING_NOTICE = "This call is recorded."


class TenantConfig(BaseModel):
    """An organization's agent; every field may be overridden per number."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    greeting: str = Field("Hello, how can I help you?", min_length=1, max_length=1000)
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    system_prompt: str = Field(
        "You are a friendly, concise receptionist.", min_length=1, max_length=20_000
    )
    voice: str = Field("default", min_length=1, max_length=200)
    stt: Literal["offline", "deepgram", "openai"] = "offline"
    llm: Literal["offline-kb", "openai"] = "offline-kb"
    llm_model: str | None = Field(None, max_length=200)
    tts: Literal["offline", "openai", "elevenlabs", "cartesia"] = "offline"
    knowledge_base: tuple[KnowledgeEntry, ...] = ()
    knowledge_text: str = Field("", max_length=200_000)
    # how the end of the caller's turn is found: `model` (SmartTurn on the audio at each
    # short pause, up to a maximum silence) or `vad` (a fixed silence)
    turn_detection: Literal["model", "vad"] = "model"
    transfer_target: str | None = Field(None, max_length=200)  # a PBX extension or number
    # the weekly schedule and what callers get when closed (frontdesk.tenancy.hours);
    # old free text ("Mon-Fri 9-18") is read into a schedule, or kept as its note
    business_hours: BusinessHours | None = None
    # keys with an action (e.g. {"0": "transfer"}); other keys reach the agent as input
    key_actions: dict[str, KeyAction] = Field(default_factory=dict)
    # call recording: a stereo file per call, announced by the notice before the greeting
    record_calls: bool = False
    recording_notice: str = Field(DEFAULT_RECORDING_NOTICE, min_length=1, max_length=1000)

    @field_validator("business_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        return hours_from_stored(value)

    @field_validator("key_actions", mode="before")
    @classmethod
    def _phone_keys(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # pydantic says what is wrong with it
        checked: dict[Any, Any] = {}
        for key, action in value.items():
            if not isinstance(key, str) or len(key) != 1 or key.upper() not in PHONE_KEYS:
                raise ValueError(f"{key!r} is not a phone key (0-9, *, #, A-D)")
            checked[key.upper()] = action
        return checked

    # where the business hears of tickets and calls (frontdesk.notify): addresses, and a
    # webhook signed with webhook_secret. The secret is write-only: `repr` masks it and
    # `public_view` drops it; only the JSON form (storage, the agent worker) carries it.
    notify_email: tuple[str, ...] = Field((), max_length=20)
    webhook_url: str | None = Field(None, max_length=2000)
    webhook_secret: SecretStr | None = Field(None, min_length=16, max_length=200)

    @field_validator("notify_email", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):  # "a@b.example, c@d.example" from a form or the CLI
            value = [item for item in re.split(r"[,;\s]+", value) if item]
        if isinstance(value, list | tuple):
            for item in value:
                if not isinstance(item, str) or not _EMAIL.fullmatch(item):
                    raise ValueError(f"{item!r} is not an email address")
            return tuple(dict.fromkeys(item.strip() for item in value))
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the webhook URL must be http(s)://host/…")
        if any(c in value for c in "\r\n\t "):
            raise ValueError("the webhook URL must not contain spaces")
        return value

    @field_serializer("webhook_secret", when_used="json")
    def _secret_json(self, value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()


OVERRIDABLE = frozenset(TenantConfig.model_fields)
#: keys that are stored and used but never shown back (pages, API, CLI, logs)
WRITE_ONLY = frozenset({"webhook_secret"})
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def public_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """A config (or override) fit to show: write-only keys become `"(set)"` when present."""
    return {
        key: ("(set)" if key in WRITE_ONLY and value is not None else value)
        for key, value in config.items()
    }


def validate_override(override: Mapping[str, Any]) -> dict[str, Any]:
    """Check an override before it is stored; return it in canonical (JSON) form."""
    for key in override:
        if key not in OVERRIDABLE:
            known = ", ".join(sorted(OVERRIDABLE))
            raise ConfigOverrideError(f"unknown config key {key!r} (known: {known})", key)
    try:
        checked = TenantConfig.model_validate(dict(override))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "?"
        raise ConfigOverrideError(f"bad value for {key!r}: {first['msg']}", key) from exc
    return checked.model_dump(mode="json", include=set(override))


def merge(org: TenantConfig, override: Mapping[str, Any]) -> TenantConfig:
    """The org's config with the number's override on top: the one home of the merge."""
    if not override:
        return org
    return TenantConfig.model_validate({**org.model_dump(), **validate_override(override)})


def merge_keys(org: TenantConfig, override: Mapping[str, Any], keys: Iterable[str]) -> TenantConfig:
    """`merge` of only `keys` of the override: what a node checks of every number at start.

    Merging every number's whole config up front held the event loop for most of a
    routing load at 10,000 numbers; a start-up check needs a few keys.
    """
    return merge(org, {key: override[key] for key in keys if key in override})


def merged_value(org: TenantConfig, override: Mapping[str, Any], key: str) -> Any:
    """One key of the merged config (the override's value when it has the key)."""
    return override[key] if key in override else getattr(org, key)


def config_for_status(config: TenantConfig, status: HoursStatus | None) -> TenantConfig:
    """The config a call is answered with: while closed, `when_closed` applies.

    Closed: the closed greeting replaces the greeting; `transfer` sends the call to the
    closed-hours target (the agent transfers at once); `message` and `greeting` keep the
    agent, which takes a message (`message`) or answers questions (`greeting`).
    """
    hours = config.business_hours
    if hours is None or status is None or status.open:
        return config
    update: dict[str, Any] = {"greeting": hours.closed_greeting}
    if hours.when_closed == "transfer":
        update["transfer_target"] = hours.closed_transfer_target
    return config.model_copy(update=update)
