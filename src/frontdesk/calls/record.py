"""`CallRecord`: what is kept of one call attempt (history, sessions rows, tests).

Owns: the record's fields only, every one typed (no bag of extras). A front fills it in;
the session recorder (`frontdesk.store.sessions`) stores it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from frontdesk.calls.decision import CallOwner


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One turn of the conversation: who spoke (`caller` or `agent`), what, when (epoch)."""

    role: str
    text: str
    at: float
    interrupted: bool | None = None  # the caller spoke over this agent line (agent lines)
    # the provider that served the line, as it names itself: `stt` on caller lines, `llm`
    # and `tts` on agent lines (`frontdesk-offline` = the knowledge-base responder, a cloud
    # LLM = its server's host); None for scripted lines and fronts that do not know
    stt: str | None = None
    llm: str | None = None
    tts: str | None = None

    @classmethod
    def from_json(cls, value: dict[str, object]) -> TranscriptLine:
        """A line as the agent worker sends it; `ValueError` when it is not one."""
        role, text, at = value.get("role"), value.get("text"), value.get("at")
        interrupted = value.get("interrupted")
        if not (isinstance(role, str) and isinstance(text, str)):
            raise ValueError("a transcript line needs a role and a text")
        if not isinstance(at, int | float) or isinstance(at, bool):
            raise ValueError("a transcript line needs a time")
        served = {k: v for k in ("stt", "llm", "tts") if isinstance(v := value.get(k), str)}
        return cls(
            role,
            text,
            float(at),
            interrupted if isinstance(interrupted, bool) else None,
            stt=served.get("stt"),
            llm=served.get("llm"),
            tts=served.get("tts"),
        )

    def as_json(self) -> dict[str, object]:
        line: dict[str, object] = {"role": self.role, "text": self.text, "at": self.at}
        if self.interrupted is not None:
            line["interrupted"] = self.interrupted
        for key, provider in (("stt", self.stt), ("llm", self.llm), ("tts", self.tts)):
            if provider is not None:
                line[key] = provider
        return line


@dataclass(slots=True)
class MediaStats:
    """What the edge measured of an answered call's media."""

    codec: str = ""
    ptime_ms: int = 0
    lost: int = 0
    rtp_rejected: int = 0  # packets from sources other than the call's peer
    rtp_latch_moves: int = 0  # times the RTP latch moved to a new PBX source
    silence_s: float = 0.0  # since the last RTP packet, when the call ended
    duration_s: float = 0.0  # answer to end, on the edge's clock


@dataclass(slots=True)
class CallRecord:
    """What is kept of a finished call (tests and `frontdesk calls` read it)."""

    call_id: str
    called: str
    caller: str
    outcome: str  # answered | rejected | cancelled | failed
    reason: str  # end reason, or the refusal reason (a `RefusalReason` value)
    status: int  # the final SIP status the caller heard
    started_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    greeting: str | None = None
    rx_packets: int = 0
    tx_packets: int = 0
    dtmf: str = ""
    transcript: list[TranscriptLine] = field(default_factory=list)
    owner: CallOwner | None = None  # whose call it was, once routing found the number
    session_id: uuid.UUID | None = None  # the sessions row admission opened, if any
    media: MediaStats | None = None  # answered calls at the built-in edge
    recording_path: str | None = None  # relative to the recordings directory, when recorded
