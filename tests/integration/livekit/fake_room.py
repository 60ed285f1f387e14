"""A fake LiveKit room for job tests, built from livekit-rtc's real classes.

`FakeRoom` is an `rtc.Room` (the real EventEmitter, so `wait_for_participant` and our
handlers subscribe as they would) that never touches the native FFI: it reports itself
connected, holds `rtc.RemoteParticipant`s made from real protobuf `ParticipantInfo`, emits
`participant_connected` / `participant_disconnected` when the test says, and its local
participant records every `publish_track` in the shared event list instead of sending.
"""

from __future__ import annotations

import asyncio
from typing import Any

from livekit import rtc
from livekit.rtc._proto import handle_pb2, participant_pb2
from livekit.rtc._utils import BroadcastQueue

SIP = participant_pb2.ParticipantKind.PARTICIPANT_KIND_SIP


def remote(identity: str, kind: int, attributes: dict[str, str]) -> rtc.RemoteParticipant:
    info = participant_pb2.ParticipantInfo(
        sid=f"PA_{identity}",
        identity=identity,
        kind=kind,
        attributes=attributes,  # type: ignore[arg-type]
    )
    owned = participant_pb2.OwnedParticipant(handle=handle_pb2.FfiOwnedHandle(id=0), info=info)
    return rtc.RemoteParticipant(owned)


class RecordingLocalParticipant(rtc.LocalParticipant):
    def __init__(self, events: list[str]) -> None:
        info = participant_pb2.ParticipantInfo(sid="PA_agent", identity="frontdesk-agent")
        owned = participant_pb2.OwnedParticipant(handle=handle_pb2.FfiOwnedHandle(id=0), info=info)
        super().__init__(BroadcastQueue(), owned)
        self.events = events

    async def publish_track(self, track: Any, options: Any = None) -> Any:  # type: ignore[override]
        self.events.append("room:publish_track")
        raise AssertionError("a fake room carries no media")


class FakeRoom(rtc.Room):
    def __init__(self, name: str, events: list[str]) -> None:
        super().__init__(asyncio.get_running_loop())
        self._info.name = name
        self.events = events
        self._local_participant = RecordingLocalParticipant(events)

    def isconnected(self) -> bool:
        return True

    def join(self, participant: rtc.RemoteParticipant) -> None:
        """Connect, then become active (livekit-agents 1.8.9 waits for `participant_active`)."""
        self._remote_participants[participant.identity] = participant
        self.emit("participant_connected", participant)
        participant._info.state = participant_pb2.ParticipantState.PARTICIPANT_STATE_ACTIVE
        self.emit("participant_active", participant)

    def leave(self, identity: str) -> None:
        participant = self._remote_participants.pop(identity)
        self.emit("participant_disconnected", participant)
