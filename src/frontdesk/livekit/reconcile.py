"""Reconciliation: free the slots of LiveKit calls that LiveKit no longer carries.

Owns: comparing this worker's `active_calls` rows (node = the worker) with the rooms
LiveKit lists, and closing what no longer exists, within one interval (+ the grace):

    row's room not listed                        → close the row, reason `livekit-room-gone`
    room listed with fewer than 2 participants   → delete the room (an answered call whose
      (the caller or our agent is gone: a crashed   job died is ended, not left in silence),
       job process runs no shutdown callbacks)      then close the row, reason `job-lost`
    room healthy (caller and agent present)      → nothing

A row is matched to its room by the session id the job tagged the room's metadata with,
else (tagging failed or is late) by the SIP participant's `sip.callIDFull`, read with one
ListParticipants per untagged room. Rows younger than `grace` are not judged: their job
may not have tagged its room yet. `ListRoomsRequest` has no prefix filter in
livekit-protocol 1.1.29, so the prefix is applied here.

Must not: touch rows of other nodes (the built-in edge's, or another worker's: each
worker reconciles its own; a dead worker's rows are reaped by node heartbeats).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from livekit import api
from livekit.protocol.models import ParticipantInfo

from frontdesk.livekit.calls import ATTR_CALL_ID, ATTR_CALL_ID_FULL, SESSION_METADATA_KEY
from frontdesk.livekit.client import LIVEKIT_ERRORS, livekit_error
from frontdesk.store.engine import Pool
from frontdesk.store.slots import close_session, rows_to_reconcile

log = logging.getLogger(__name__)

_LIST_CONCURRENCY = 8


@dataclass(frozen=True, slots=True)
class LiveRoom:
    name: str
    participants: int
    session_id: uuid.UUID | None
    call_ids: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    rows: int
    rooms: int
    freed: tuple[uuid.UUID, ...]  # closed because their room is gone
    ended: tuple[uuid.UUID, ...]  # their room was deleted, then closed


def session_of(metadata: str) -> uuid.UUID | None:
    try:
        value = json.loads(metadata).get(SESSION_METADATA_KEY) if metadata else None
        return uuid.UUID(value) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None


def _call_ids(participants: Sequence[ParticipantInfo]) -> frozenset[str]:
    ids: set[str] = set()
    for p in participants:
        if p.kind == ParticipantInfo.Kind.SIP:
            ids.update(v for k in (ATTR_CALL_ID_FULL, ATTR_CALL_ID) if (v := p.attributes.get(k)))
    return frozenset(ids)


class Reconciler:
    def __init__(
        self, pool: Pool, lkapi: api.LiveKitAPI, *, node_ids: Sequence[str], prefix: str,
        grace: float,
    ) -> None:  # fmt: skip
        self._pool = pool
        self._api = lkapi
        self._node_ids = list(node_ids)
        self._prefix = prefix
        self._grace = grace
        self.freed = 0
        self.ended = 0

    async def live_rooms(self) -> list[LiveRoom]:
        try:
            listed = await self._api.room.list_rooms(api.ListRoomsRequest())
        except LIVEKIT_ERRORS as exc:
            raise livekit_error("list rooms", exc) from exc
        ours = [room for room in listed.rooms if room.name.startswith(self._prefix)]
        gate = asyncio.Semaphore(_LIST_CONCURRENCY)

        async def describe(room: api.Room) -> LiveRoom:
            session = session_of(room.metadata)
            if session is not None:
                return LiveRoom(room.name, room.num_participants, session)
            async with gate:
                try:
                    people = await self._api.room.list_participants(
                        api.ListParticipantsRequest(room=room.name)
                    )
                except LIVEKIT_ERRORS as exc:
                    raise livekit_error(f"list the participants of {room.name}", exc) from exc
            return LiveRoom(
                room.name, room.num_participants, None, _call_ids(list(people.participants))
            )

        return list(await asyncio.gather(*(describe(room) for room in ours)))

    async def run_once(self) -> ReconcileReport:
        rows = await rows_to_reconcile(self._pool, list(self._node_ids), self._grace)
        if not rows:
            return ReconcileReport(0, 0, (), ())
        rooms = await self.live_rooms()
        by_session = {room.session_id: room for room in rooms if room.session_id is not None}
        by_call = {call_id: room for room in rooms for call_id in room.call_ids}
        freed: list[uuid.UUID] = []
        ended: list[uuid.UUID] = []
        for session_id, call_id in rows:
            room = by_session.get(session_id) or by_call.get(call_id)
            if room is None:
                if await close_session(
                    self._pool, session_id, "livekit-room-gone", answered="failed",
                    unanswered="failed",
                ):  # fmt: skip
                    freed.append(session_id)
            elif room.participants < 2:
                try:
                    await self._api.room.delete_room(api.DeleteRoomRequest(room=room.name))
                except api.TwirpError as exc:
                    if exc.code != api.TwirpErrorCode.NOT_FOUND:
                        log.warning("deleting room %s failed: %s", room.name, exc.message)
                        continue  # judged again next round
                if await close_session(
                    self._pool, session_id, "job-lost", answered="failed", unanswered="failed"
                ):
                    ended.append(session_id)
        self.freed += len(freed)
        self.ended += len(ended)
        if freed or ended:
            log.warning(
                "reconciliation: %d call(s) whose room is gone freed, %d stale room(s) ended",
                len(freed),
                len(ended),
            )
        return ReconcileReport(len(rows), len(rooms), tuple(freed), tuple(ended))

    async def run(self, interval: float) -> None:
        """Until cancelled: reconcile every `interval` seconds; failures are logged, retried."""
        while True:
            try:
                await self.run_once()
            except Exception as exc:  # LiveKit or the database away: next round
                log.warning("reconciliation failed: %s", exc)
            await asyncio.sleep(interval)
