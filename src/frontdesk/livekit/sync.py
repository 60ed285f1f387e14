"""`frontdesk livekit sync`: the one inbound trunk and the one dispatch rule frontdesk needs.

Owns: what LiveKit should hold (`desired_trunk`, `desired_rule`, pure functions of the
settings and the active numbers) and bringing LiveKit there idempotently (`sync`): find
our object by name AND our marker in its metadata (so a trunk an operator made by hand,
even with the same name, is never touched), replace it whole if it differs, create it if
there is none, and do nothing when it already matches. A second run sends only the two
list calls. `dry_run` lists, plans and returns the requests without sending a write.

Facts from livekit-protocol 1.1.29 that shape the objects:
- trunk conflicts are keyed by numbers × allowed_numbers, not by allowed_addresses: two
  wildcard trunks (no numbers) conflict; LiveKit's message names both trunks, and it is
  shown as it is (`LiveKitError`).
- `SIPInboundTrunkInfo.media.media_timeout`, `ringing_timeout`, `max_call_duration` are
  Durations; a short ringing timeout bounds a call whose job never comes.
- in a dispatch rule `numbers` are CALLED numbers and `inbound_numbers` CALLING numbers;
  we set neither (the trunk selects), and `hide_phone_number` stays false, else LiveKit
  drops the `sip.trunkPhoneNumber` attribute the worker routes on.
- `ListRoomsRequest` has no prefix filter (names only): reconcile filters by prefix itself.

Must not: write to our database, or delete anything in LiveKit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.json_format import MessageToJson
from google.protobuf.message import Message
from livekit.api.sip_service import SipService
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration
from livekit.protocol.sip import (
    CreateSIPDispatchRuleRequest,
    CreateSIPInboundTrunkRequest,
    ListSIPDispatchRuleRequest,
    ListSIPInboundTrunkRequest,
    SIPDispatchRule,
    SIPDispatchRuleIndividual,
    SIPDispatchRuleInfo,
    SIPInboundTrunkInfo,
    SIPMediaConfig,
    UpdateSIPDispatchRuleRequest,
    UpdateSIPInboundTrunkRequest,
)

from frontdesk.config import Settings
from frontdesk.livekit.client import LIVEKIT_ERRORS, LiveKitError, livekit_error
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import list_numbers
from frontdesk.store.tx import operator_tx

MARKER_KEY = "managed-by"
MARKER_VALUE = "frontdesk"
MARKER = json.dumps({MARKER_KEY: MARKER_VALUE})
DRY_RUN_ID = "(id of the trunk above)"

Action = Literal["create", "update", "unchanged"]


@dataclass(frozen=True, slots=True)
class Step:
    """What sync did (or, in a dry run, would do) to one LiveKit object."""

    kind: Literal["trunk", "dispatch rule"]
    action: Action
    object_id: str
    request: Message | None  # the write sent (None when unchanged)

    def describe(self) -> str:
        head = f"{self.kind}: {self.action}" + (f" ({self.object_id})" if self.object_id else "")
        if self.request is None:
            return head
        body = MessageToJson(self.request, indent=2, preserving_proto_field_name=True)
        return f"{head}\n{body}"


def _duration(seconds: float) -> Duration:
    whole = int(seconds)
    return Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def is_ours(metadata: str) -> bool:
    try:
        parsed = json.loads(metadata) if metadata else None
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get(MARKER_KEY) == MARKER_VALUE


def desired_trunk(settings: Settings, numbers: Sequence[str]) -> SIPInboundTrunkInfo:
    """The inbound trunk: the PBX's addresses, our numbers (none when wildcard), timeouts."""
    if not settings.pbx_addresses:
        raise LiveKitError("FRONTDESK_PBX_ADDRESSES is empty: the trunk would admit nobody")
    if not settings.livekit_wildcard_trunk and not numbers:
        raise LiveKitError(
            "no active numbers in the database: add numbers first, or set "
            "FRONTDESK_LIVEKIT_WILDCARD_TRUNK=true to accept any called number"
        )
    return SIPInboundTrunkInfo(
        name=settings.livekit_trunk_name,
        metadata=MARKER,
        numbers=[] if settings.livekit_wildcard_trunk else sorted(set(numbers)),
        allowed_addresses=list(settings.pbx_addresses),
        ringing_timeout=_duration(settings.livekit_ringing_timeout),
        max_call_duration=_duration(settings.max_call_duration),
        media=SIPMediaConfig(media_timeout=_duration(settings.media_timeout)),
    )


def desired_rule(settings: Settings, trunk_id: str) -> SIPDispatchRuleInfo:
    """A room per call (individual rule), our agent dispatched by name into it."""
    return SIPDispatchRuleInfo(
        name=settings.livekit_trunk_name,
        metadata=MARKER,
        trunk_ids=[trunk_id],
        hide_phone_number=False,
        rule=SIPDispatchRule(
            dispatch_rule_individual=SIPDispatchRuleIndividual(
                room_prefix=settings.livekit_room_prefix
            )
        ),
        room_config=RoomConfiguration(
            departure_timeout=settings.livekit_departure_timeout,
            agents=[RoomAgentDispatch(agent_name=settings.livekit_agent_name)],
        ),
    )


def _comparable(message: Message, *server_fields: str) -> bytes:
    copy = type(message)()
    copy.CopyFrom(message)
    for name in server_fields:
        copy.ClearField(name)
    return copy.SerializeToString(deterministic=True)


def _only_ours(items: Sequence[Message], name: str, kind: str) -> Message | None:
    ours = [
        item
        for item in items
        if getattr(item, "name", "") == name and is_ours(getattr(item, "metadata", ""))
    ]
    if len(ours) > 1:
        ids = ", ".join(
            getattr(item, "sip_trunk_id", "") or getattr(item, "sip_dispatch_rule_id", "")
            for item in ours
        )
        raise LiveKitError(f"LiveKit holds {len(ours)} {kind}s named {name!r} marked as ours "
                           f"({ids}): delete all but one, then run sync again")  # fmt: skip
    return ours[0] if ours else None


async def _sync_trunk(sip: SipService, want: SIPInboundTrunkInfo, dry_run: bool) -> Step:
    try:
        listed = await sip.list_inbound_trunk(ListSIPInboundTrunkRequest())
    except LIVEKIT_ERRORS as exc:
        raise livekit_error("list inbound trunks", exc) from exc
    found = _only_ours(list(listed.items), want.name, "inbound trunk")
    if found is None:
        request: Message = CreateSIPInboundTrunkRequest(trunk=want)
        if dry_run:
            return Step("trunk", "create", "", request)
        try:
            created = await sip.create_inbound_trunk(CreateSIPInboundTrunkRequest(trunk=want))
        except LIVEKIT_ERRORS as exc:
            raise livekit_error("create the inbound trunk", exc) from exc
        return Step("trunk", "create", created.sip_trunk_id, request)
    assert isinstance(found, SIPInboundTrunkInfo)
    trunk_id = found.sip_trunk_id
    server = ("sip_trunk_id", "created_at", "updated_at")
    if _comparable(found, *server) == _comparable(want, *server):
        return Step("trunk", "unchanged", trunk_id, None)
    replace = SIPInboundTrunkInfo()
    replace.CopyFrom(want)
    replace.sip_trunk_id = trunk_id
    request = UpdateSIPInboundTrunkRequest(sip_trunk_id=trunk_id, replace=replace)
    if not dry_run:
        try:
            await sip.update_inbound_trunk(trunk_id, replace)
        except LIVEKIT_ERRORS as exc:
            raise livekit_error(f"update inbound trunk {trunk_id}", exc) from exc
    return Step("trunk", "update", trunk_id, request)


async def _sync_rule(sip: SipService, want: SIPDispatchRuleInfo, dry_run: bool) -> Step:
    try:
        listed = await sip.list_dispatch_rule(ListSIPDispatchRuleRequest())
    except LIVEKIT_ERRORS as exc:
        raise livekit_error("list dispatch rules", exc) from exc
    found = _only_ours(list(listed.items), want.name, "dispatch rule")
    if found is None:
        request: Message = CreateSIPDispatchRuleRequest(dispatch_rule=want)
        if dry_run:
            return Step("dispatch rule", "create", "", request)
        try:
            created = await sip.create_dispatch_rule(
                CreateSIPDispatchRuleRequest(dispatch_rule=want)
            )
        except LIVEKIT_ERRORS as exc:
            raise livekit_error("create the dispatch rule", exc) from exc
        return Step("dispatch rule", "create", created.sip_dispatch_rule_id, request)
    assert isinstance(found, SIPDispatchRuleInfo)
    rule_id = found.sip_dispatch_rule_id
    server = ("sip_dispatch_rule_id", "created_at", "updated_at")
    if _comparable(found, *server) == _comparable(want, *server):
        return Step("dispatch rule", "unchanged", rule_id, None)
    replace = SIPDispatchRuleInfo()
    replace.CopyFrom(want)
    replace.sip_dispatch_rule_id = rule_id
    request = UpdateSIPDispatchRuleRequest(sip_dispatch_rule_id=rule_id, replace=replace)
    if not dry_run:
        try:
            await sip.update_dispatch_rule(rule_id, replace)
        except LIVEKIT_ERRORS as exc:
            raise livekit_error(f"update dispatch rule {rule_id}", exc) from exc
    return Step("dispatch rule", "update", rule_id, request)


async def sync(
    sip: SipService, settings: Settings, numbers: Sequence[str], *, dry_run: bool = False
) -> list[Step]:
    """Bring LiveKit's trunk and rule to what `settings` and `numbers` say; return the steps."""
    trunk = await _sync_trunk(sip, desired_trunk(settings, numbers), dry_run)
    trunk_id = trunk.object_id or DRY_RUN_ID
    rule = await _sync_rule(sip, desired_rule(settings, trunk_id), dry_run)
    return [trunk, rule]


async def active_numbers(pool: Pool) -> list[str]:
    """Every active number on the trunk (stored normalised: E.164 or a short extension)."""
    async with operator_tx(pool) as conn:
        rows = await list_numbers(conn)
    return sorted(row.phone_number for row in rows if row.active)
