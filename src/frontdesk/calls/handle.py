"""`CallHandle`: one live call as the agent and its tools see it, whichever front carries it.

Owns: the protocol between a front and the agent side. A front (the built-in edge's
`EdgeCall`, the LiveKit front's `LiveKitCall`; the browser's test call would be a third)
implements it; the agent host (`frontdesk.agent.host`) and the agent's tools
(`frontdesk.agent.tools`, one implementation for every front) use nothing else of a call:

    facts, admitted           who called whom, and what routing/admission decided
    transfer(target) -> int   a blind transfer's final status (TRANSFERRED = 200)
    hangup(reason)            end the call (BYE at the edge, room deleted on LiveKit)
    add_transcript(line)      the transcript sink, stored with the call's record

`RecordedCall` is a front's optional `recorded` flag: the call is being recorded, so the
agent says the recording notice first (a front without it records nothing).

`MediaCallHandle` adds `audio`: PCM in and out and DTMF in (`CallAudio`), for a front
whose audio passes through this process (the edge). On the LiveKit front the audio and
DTMF reach the agent session through the room itself (LiveKit Agents' room I/O), so its
handle has no `audio`.

Must not: know any front, socket or SIP message.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from frontdesk.calls.audio import CallAudio
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.record import TranscriptLine

TRANSFERRED = 200  # the final status of a transfer that succeeded


class CallHandle(Protocol):
    @property
    def call_id(self) -> str: ...

    @property
    def facts(self) -> InviteFacts: ...

    @property
    def admitted(self) -> Admitted: ...

    async def transfer(self, target: str) -> int:
        """Blind-transfer the caller to `target`; the final status (TRANSFERRED = 200)."""
        ...

    def hangup(self, reason: str) -> None:
        """End the call now (the caller hears nothing more)."""
        ...

    def add_transcript(self, line: TranscriptLine) -> None: ...


class MediaCallHandle(CallHandle, Protocol):
    """A call whose audio and DTMF pass through this process."""

    @property
    def audio(self) -> CallAudio: ...


@runtime_checkable
class RecordedCall(Protocol):
    """A front that can record its calls says whether this one is (the notice is due)."""

    @property
    def recorded(self) -> bool: ...
