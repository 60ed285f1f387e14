"""A local stand-in for LiveKit's server API: Twirp over HTTP on 127.0.0.1, a free port.

Each request is checked like LiveKit does (a bearer JWT signed with the API secret,
verified by livekit-api's own TokenVerifier) and decoded with livekit-protocol's own
message classes; answers are those classes serialised, errors are Twirp error JSON
(`{"code": …, "msg": …}`) with LiveKit's wording. Every request is logged in order, in
`calls` and in the shared `events` list (which the fake room also writes), so a test can
say what happened first.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from livekit import api
from livekit.protocol import models, room, sip

API_KEY = "devkey"
API_SECRET = "secret-for-tests-only-0123456789abcdef"


def _twirp_error(status: int, code: str, msg: str) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status)


def _conflict_keys(trunk: sip.SIPInboundTrunkInfo) -> set[tuple[str, str]]:
    numbers = list(trunk.numbers) or [""]
    allowed = list(trunk.allowed_numbers) or [""]
    return {(n, a) for n in numbers for a in allowed}


@dataclass
class FakeLiveKit:
    events: list[str] = field(default_factory=list)
    calls: list[tuple[str, Message]] = field(default_factory=list)
    trunks: dict[str, sip.SIPInboundTrunkInfo] = field(default_factory=dict)
    rules: dict[str, sip.SIPDispatchRuleInfo] = field(default_factory=dict)
    rooms: dict[str, models.Room] = field(default_factory=dict)
    participants: dict[str, list[models.ParticipantInfo]] = field(default_factory=dict)
    fail_next: tuple[int, str, str] | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    url: str = ""
    _runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ life
    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/twirp/livekit.{service}/{method}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def add_room(self, name: str, participants: list[models.ParticipantInfo]) -> None:
        self.rooms[name] = models.Room(
            sid=f"RM_{name}", name=name, num_participants=len(participants)
        )
        self.participants[name] = participants

    # ------------------------------------------------------------------ dispatch
    async def _handle(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        try:
            api.TokenVerifier(API_KEY, API_SECRET).verify(token)
        except Exception:
            return _twirp_error(401, "unauthenticated", "invalid token")
        service, method = request.match_info["service"], request.match_info["method"]
        handler: tuple[type[Message], Callable[[Any], Message | web.Response]] | None = {
            "SIP/ListSIPInboundTrunk": (sip.ListSIPInboundTrunkRequest, self._list_trunks),
            "SIP/CreateSIPInboundTrunk": (sip.CreateSIPInboundTrunkRequest, self._create_trunk),
            "SIP/UpdateSIPInboundTrunk": (sip.UpdateSIPInboundTrunkRequest, self._update_trunk),
            "SIP/ListSIPDispatchRule": (sip.ListSIPDispatchRuleRequest, self._list_rules),
            "SIP/CreateSIPDispatchRule": (sip.CreateSIPDispatchRuleRequest, self._create_rule),
            "SIP/UpdateSIPDispatchRule": (sip.UpdateSIPDispatchRuleRequest, self._update_rule),
            "RoomService/ListRooms": (room.ListRoomsRequest, self._list_rooms),
            "RoomService/DeleteRoom": (room.DeleteRoomRequest, self._delete_room),
            "RoomService/UpdateRoomMetadata": (room.UpdateRoomMetadataRequest, self._tag_room),
            "RoomService/ListParticipants": (room.ListParticipantsRequest, self._participants),
        }.get(f"{service}/{method}")
        if handler is None:
            return _twirp_error(404, "bad_route", f"no handler for {service}/{method}")
        message_class, function = handler
        message = message_class.FromString(await request.read())
        self.calls.append((method, message))
        self.events.append(f"api:{method}")
        if self.fail_next is not None:
            status, code, msg = self.fail_next
            self.fail_next = None
            return _twirp_error(status, code, msg)
        answer = function(message)
        if isinstance(answer, web.Response):
            return answer
        return web.Response(body=answer.SerializeToString(), content_type="application/protobuf")

    # ------------------------------------------------------------------ SIP
    def _list_trunks(self, _: sip.ListSIPInboundTrunkRequest) -> Message:
        return sip.ListSIPInboundTrunkResponse(items=list(self.trunks.values()))

    def _conflict(self, trunk: sip.SIPInboundTrunkInfo, trunk_id: str) -> web.Response | None:
        for other_id, other in self.trunks.items():
            if other_id != trunk_id and _conflict_keys(trunk) & _conflict_keys(other):
                numbers = '", "'.join(trunk.numbers)
                return _twirp_error(
                    400,
                    "invalid_argument",
                    f'Conflicting inbound SIP Trunks: "{trunk_id or "<new>"}" and "{other_id}",'
                    f' using the same number(s) ["{numbers}"] without AllowedNumbers set',
                )
        return None

    def _create_trunk(self, request: sip.CreateSIPInboundTrunkRequest) -> Message | web.Response:
        if (conflict := self._conflict(request.trunk, "")) is not None:
            return conflict
        trunk = sip.SIPInboundTrunkInfo()
        trunk.CopyFrom(request.trunk)
        trunk.sip_trunk_id = f"ST_{next(self._ids)}"
        trunk.created_at.GetCurrentTime()
        self.trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def _update_trunk(self, request: sip.UpdateSIPInboundTrunkRequest) -> Message | web.Response:
        if request.sip_trunk_id not in self.trunks:
            return _twirp_error(404, "not_found", "requested sip trunk does not exist")
        if (conflict := self._conflict(request.replace, request.sip_trunk_id)) is not None:
            return conflict
        trunk = sip.SIPInboundTrunkInfo()
        trunk.CopyFrom(request.replace)
        trunk.sip_trunk_id = request.sip_trunk_id
        trunk.created_at.CopyFrom(self.trunks[request.sip_trunk_id].created_at)
        trunk.updated_at.GetCurrentTime()
        self.trunks[trunk.sip_trunk_id] = trunk
        return trunk

    def _list_rules(self, _: sip.ListSIPDispatchRuleRequest) -> Message:
        return sip.ListSIPDispatchRuleResponse(items=list(self.rules.values()))

    def _create_rule(self, request: sip.CreateSIPDispatchRuleRequest) -> Message:
        rule = sip.SIPDispatchRuleInfo()
        rule.CopyFrom(request.dispatch_rule)
        rule.sip_dispatch_rule_id = f"SDR_{next(self._ids)}"
        rule.created_at.GetCurrentTime()
        self.rules[rule.sip_dispatch_rule_id] = rule
        return rule

    def _update_rule(self, request: sip.UpdateSIPDispatchRuleRequest) -> Message | web.Response:
        if request.sip_dispatch_rule_id not in self.rules:
            return _twirp_error(404, "not_found", "requested sip dispatch rule does not exist")
        rule = sip.SIPDispatchRuleInfo()
        rule.CopyFrom(request.replace)
        rule.sip_dispatch_rule_id = request.sip_dispatch_rule_id
        rule.created_at.CopyFrom(self.rules[request.sip_dispatch_rule_id].created_at)
        self.rules[rule.sip_dispatch_rule_id] = rule
        return rule

    # ------------------------------------------------------------------ rooms
    def _list_rooms(self, request: room.ListRoomsRequest) -> Message:
        names = set(request.names)
        rooms = [r for r in self.rooms.values() if not names or r.name in names]
        return room.ListRoomsResponse(rooms=rooms)

    def _delete_room(self, request: room.DeleteRoomRequest) -> Message | web.Response:
        if self.rooms.pop(request.room, None) is None:
            return _twirp_error(404, "not_found", "requested room does not exist")
        self.participants.pop(request.room, None)
        return room.DeleteRoomResponse()

    def _tag_room(self, request: room.UpdateRoomMetadataRequest) -> Message | web.Response:
        found = self.rooms.get(request.room)
        if found is None:
            return _twirp_error(404, "not_found", "requested room does not exist")
        found.metadata = request.metadata
        return found

    def _participants(self, request: room.ListParticipantsRequest) -> Message:
        return room.ListParticipantsResponse(participants=self.participants.get(request.room, []))
