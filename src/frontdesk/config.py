"""The one Settings class: the only code in frontdesk that reads the environment.

Values come, highest priority first, from: keyword arguments (tests), the environment
(`FRONTDESK_*`), a TOML file (`FRONTDESK_CONFIG`, or the path given to `load_settings`),
then the defaults below. Everything else receives a `Settings` object; nothing else calls
`os.environ`.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from frontdesk.errors import ConfigError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_CONFIG_ENV = "FRONTDESK_CONFIG"
_toml_file: Path | None = None  # set only by load_settings, read by the TOML source


def _split_list(value: Any) -> Any:
    """Accept "a, b" as well as a list, so the environment can hold plain comma lists."""
    if isinstance(value, str):
        return [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Every setting frontdesk has. Field names map to `FRONTDESK_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="forbid", frozen=True)

    # Storage
    database_url: str | None = None
    data_dir: Path = Path("data")

    # SIP edge
    sip_host: str = "0.0.0.0"
    sip_port: int = Field(15060, ge=1, le=65535)
    pbx_addresses: Annotated[list[str], NoDecode] = Field(default_factory=list)
    public_ip: str | None = None
    rtp_ports: str = "10000-12000"
    # audio codecs we answer with, in order of preference; G.722 costs ~3x G.711's CPU
    # per call (docs/benchmarks.md): a node for hundreds of HD calls may put it last
    codecs: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["G722", "PCMU", "PCMA"])
    # processes that carry the calls' RTP, beside the SIP loop (frontdesk.edge.media_pool);
    # 0 = one per two CPU cores (at least one): the rest go to SIP and the agent workers
    media_workers: int = Field(0, ge=0, le=64)
    # media workers ask the kernel for realtime scheduling (SCHED_RR), as Asterisk's -p and
    # FreeSWITCH's -rp do: their 10 ms ticks then come on time on a busy machine. Without
    # the right (CAP_SYS_NICE) they run at normal priority and say so in the log
    media_realtime: bool = True

    # Node and calls
    node_id: str = Field(default_factory=lambda: socket.gethostname() or "node")
    # None: from the providers the numbers use (frontdesk.agent.capacity)
    node_max_calls: int | None = Field(None, ge=1)
    node_busy_answer: Literal["486", "503"] = "486"
    node_ttl: float = Field(15.0, gt=0)  # a node silent this long is dead: its calls are reaped
    media_timeout: float = Field(12.0, gt=0)
    hold_timeout: float = Field(1800.0, gt=0)
    max_call_duration: float = Field(3600.0, gt=0)
    retry_after: int = Field(30, ge=1)
    # longest wait for the database in the call path (admission, routing reloads): past it
    # the INVITE gets 503 + Retry-After and the node reports itself not ready
    db_deadline: float = Field(1.0, gt=0, le=30)

    # Web
    http_host: str = "127.0.0.1"
    http_port: int = Field(8000, ge=0, le=65535)

    # Numbers
    default_country: str = "IT"

    # Operations
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    use_uvloop: bool = True

    # Agent providers (keys for the cloud sets; tuning for the offline set)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None  # an OpenAI-compatible server: Groq, vLLM, Ollama
    deepgram_api_key: SecretStr | None = None
    elevenlabs_api_key: SecretStr | None = None
    cartesia_api_key: SecretStr | None = None
    agent_whisper_threads: int = Field(1, ge=1, le=64)  # per worker process; workers share cores
    agent_tts_threads: int = Field(1, ge=1, le=64)  # piper's onnxruntime intra-op threads
    agent_vad_min_silence: float = Field(0.45, gt=0, le=5)  # silence that ends a turn, seconds
    # a non-streaming STT (whisper, a batch API) transcribes the caller's words so far at
    # each pause this long, while the turn is still open, seconds
    agent_stt_pause: float = Field(0.2, ge=0.1, le=5)
    # how long a cloud STT/LLM request may go unanswered before the call falls back to the
    # offline provider (the LLM for the rest of the call), seconds
    agent_cloud_timeout: float = Field(4.0, gt=0, le=60)

    # Agent sessions: worker processes beside the edge, turn taking
    agent_enabled: bool = True  # False: answered calls get the built-in echo responder
    agent_workers: int = Field(0, ge=0, le=256)  # worker processes; 0 = one per CPU core
    # workers run at this niceness: when the cores are busy, the edge's RTP comes first
    agent_worker_nice: int = Field(10, ge=0, le=19)
    agent_provider_factory: str = Field(
        "frontdesk.agent.call_providers:providers_for_call", pattern=r"^[\w.]+:\w+$"
    )
    agent_endpointing_delay: float = Field(0.4, ge=0, le=5)  # after VAD end of speech, seconds
    # `turn_detection: model` (SmartTurn): this much silence asks the model (>= 0.25, the
    # framework's floor); complete → the turn ends then; incomplete → the turn ends after
    # `agent_turn_max_silence` unless the caller speaks again; seconds
    agent_turn_model_silence: float = Field(0.3, ge=0.25, le=5)
    agent_turn_max_silence: float = Field(2.5, gt=0, le=10)
    agent_turn_model_threshold: float = Field(0.5, gt=0, lt=1)  # P(complete) that ends a turn
    agent_interruption_min_duration: float = Field(0.15, ge=0, le=5)  # speech that barges in
    # after the caller's voice over the agent ends with no words (a cough) or only an
    # "mm-hmm", the paused agent resumes this much later, seconds
    agent_false_interruption_timeout: float = Field(0.5, gt=0, le=5)

    # Web app: sessions, cookies, login rate limit, live counts
    web_session_ttl: float = Field(43200.0, gt=0)  # seconds a login lasts (absolute)
    web_secure_cookies: bool | None = None  # None: Secure when the request came over https
    # failed logins per (email, client IP) in the window; per client IP alone: 4 times this
    web_login_max_failures: int = Field(5, ge=1)
    web_login_window: float = Field(300.0, gt=0)  # seconds
    web_invite_ttl: float = Field(7 * 86400.0, gt=0)  # seconds an invitation link works
    web_reset_ttl: float = Field(86400.0, gt=0)  # seconds a password reset link works
    web_live_interval: float = Field(0.25, gt=0, le=10)  # live-count poll period, seconds
    # reverse proxies (IPs/CIDRs) whose X-Forwarded-For names the client; none by default
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Call recording (opt-in per organization/number: TenantConfig.record_calls)
    recordings_dir: Path | None = None  # None: <data_dir>/recordings
    recording_retention_days: int = Field(90, ge=1, le=36_500)  # swept daily

    # Operations dashboard: the IANA zone its days and hours are in when a request names none
    operations_time_zone: str = Field("Europe/Rome", min_length=1, max_length=64)

    # LiveKit front (`frontdesk livekit sync|worker`, POST /livekit/webhook)
    livekit_url: str | None = None  # e.g. https://livekit.example.com (ws:// also accepted)
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    livekit_agent_name: str = Field("frontdesk", min_length=1, max_length=200)
    livekit_room_prefix: str = Field("call-", min_length=1, max_length=100)
    livekit_trunk_name: str = Field("frontdesk", min_length=1, max_length=200)
    livekit_wildcard_trunk: bool = False  # accept any called number (no `numbers` list)
    livekit_ringing_timeout: float = Field(15.0, gt=0, le=180)  # LiveKit rings this long at most
    livekit_departure_timeout: int = Field(5, ge=0, le=3600)  # room closes this long after
    livekit_reconcile_interval: float = Field(10.0, gt=0)  # compare rows with LiveKit's rooms
    livekit_reconcile_grace: float = Field(20.0, gt=0)  # a younger row is never judged

    # Notifications: the outbox's email (SMTP) and signed webhooks (frontdesk.notify)
    # smtp://user:pass@host:587 (STARTTLS when the server offers it) or smtps:// (implicit TLS)
    smtp_url: SecretStr | None = None
    mail_from: str = Field("frontdesk@localhost", min_length=3, max_length=320)
    outbox_max_backoff: float = Field(300.0, gt=0)  # longest wait between two attempts, seconds
    outbox_retry_window: float = Field(86400.0, gt=0)  # then the delivery is `failed`, seconds
    outbox_first_backoff: float = Field(2.0, gt=0)  # the wait after the first failure, seconds
    outbox_poll_interval: float = Field(1.0, gt=0, le=60)  # dispatcher's look for due rows
    outbox_batch: int = Field(200, ge=1, le=5000)  # rows one dispatcher transaction claims
    outbox_send_timeout: float = Field(10.0, gt=0, le=120)  # one webhook POST or SMTP exchange
    summary_enabled: bool = True  # post-call summary and `call.ended` after every answered call
    # webhooks go only to public addresses (no loopback, private, link-local such as the
    # cloud metadata service 169.254.169.254, …) except these networks (e.g. an on-site
    # receiver: 10.1.2.0/24); none by default
    webhook_allow_networks: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("pbx_addresses", "trusted_proxies", "webhook_allow_networks", mode="before")
    @classmethod
    def _address_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("pbx_addresses")
    @classmethod
    def _pbx_valid(cls, value: list[str]) -> list[str]:
        return _networks_valid(value, "PBX address")

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_valid(cls, value: list[str]) -> list[str]:
        return _networks_valid(value, "trusted proxy")

    @field_validator("webhook_allow_networks")
    @classmethod
    def _webhook_networks_valid(cls, value: list[str]) -> list[str]:
        return _networks_valid(value, "webhook network")

    @field_validator("codecs", mode="before")
    @classmethod
    def _codec_list(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("codecs")
    @classmethod
    def _codecs_valid(cls, value: list[str]) -> list[str]:
        names = [item.upper() for item in value]
        unknown = [item for item in names if item not in ("G722", "PCMU", "PCMA")]
        if unknown or not names or len(set(names)) != len(names):
            raise ValueError(
                f"codecs {value!r}: give some of G722, PCMU, PCMA, each once, best first"
            )
        return names

    @field_validator("public_ip")
    @classmethod
    def _public_ip_valid(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise ValueError(f"public IP {value!r} is not an IP address") from exc
        return value

    @field_validator("rtp_ports")
    @classmethod
    def _rtp_range_valid(cls, value: str) -> str:
        low, high = _parse_port_range(value)
        if not (1024 <= low < high <= 65535) or high - low < 1:
            raise ValueError(f"RTP port range {value!r} must be LOW-HIGH within 1024-65535")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_valid(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            text = value.get_secret_value()
            if not text.startswith(("smtp://", "smtps://")):
                raise ValueError("SMTP URL must be smtp://[user:pass@]host[:port] or smtps://…")
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _sip_outside_rtp(self) -> Settings:
        low, high = self.rtp_port_range
        if low <= self.sip_port <= high:
            raise ValueError(f"SIP port {self.sip_port} lies inside the RTP range {self.rtp_ports}")
        return self

    @property
    def rtp_port_range(self) -> tuple[int, int]:
        """The inclusive RTP port range as (low, high)."""
        return _parse_port_range(self.rtp_ports)

    @property
    def recordings_path(self) -> Path:
        """Where recordings are stored: RECORDINGS_DIR, else `recordings` in the data dir."""
        return self.recordings_dir or self.data_dir / "recordings"

    @property
    def pbx_networks(self) -> tuple[IpNetwork, ...]:
        """The PBX allowlist as parsed networks (single addresses become /32 or /128)."""
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.pbx_addresses)

    @property
    def trusted_proxy_networks(self) -> tuple[IpNetwork, ...]:
        """The reverse proxies whose X-Forwarded-For is believed, as parsed networks."""
        return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)

    @property
    def webhook_allowed_networks(self) -> tuple[IpNetwork, ...]:
        """Internal networks a webhook may still be sent to, as parsed networks."""
        return tuple(
            ipaddress.ip_network(item, strict=False) for item in self.webhook_allow_networks
        )

    @property
    def advertised_ip(self) -> str:
        """The address put in Contact and SDP `c=`: PUBLIC_IP, else the bound SIP host."""
        if self.public_ip:
            return self.public_ip
        if self.sip_host not in ("0.0.0.0", "::", ""):
            return self.sip_host
        return "127.0.0.1"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _toml_file or (Path(p) if (p := os.environ.get(_CONFIG_ENV)) else None)
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)


def _networks_valid(value: list[str], what: str) -> list[str]:
    for item in value:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f"{what} {item!r} is not an IP address or CIDR") from exc
    return value


def _parse_port_range(value: str) -> tuple[int, int]:
    try:
        low_text, high_text = value.split("-", 1)
        return int(low_text), int(high_text)
    except ValueError as exc:
        raise ValueError(f"port range {value!r} is not LOW-HIGH") from exc


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the Settings, turning validation failures into one readable ConfigError."""
    global _toml_file
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist")
    _toml_file = config_file
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
    finally:
        _toml_file = None
