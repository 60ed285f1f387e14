"""`frontdesk livekit sync` against a fake LiveKit API that speaks real Twirp + protobuf."""

from __future__ import annotations

import pytest
from google.protobuf.duration_pb2 import Duration
from livekit.protocol import sip
from tests.integration.livekit.conftest import livekit_settings
from tests.integration.livekit.fake_livekit import FakeLiveKit
from tests.integration.store.support import Seed

from frontdesk.livekit.client import LiveKitCredentials, LiveKitError, open_api
from frontdesk.livekit.sync import MARKER, active_numbers, sync
from frontdesk.store.engine import Pool

NUMBERS = ["+390557654321", "+390551234567", "1000"]


async def _sync(fake: FakeLiveKit, creds: LiveKitCredentials, **settings: object) -> list[str]:
    config = livekit_settings(fake.url, **settings)
    async with open_api(creds) as lkapi:
        steps = await sync(lkapi.sip, config, NUMBERS, dry_run=bool(settings.get("_dry")))
    return [f"{step.kind}:{step.action}" for step in steps]


async def test_first_run_creates_exactly_the_intended_trunk_and_rule(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    assert await _sync(fake_livekit, credentials) == ["trunk:create", "dispatch rule:create"]
    assert fake_livekit.methods() == [
        "ListSIPInboundTrunk", "CreateSIPInboundTrunk", "ListSIPDispatchRule",
        "CreateSIPDispatchRule",
    ]  # fmt: skip
    create = fake_livekit.calls[1][1]
    assert isinstance(create, sip.CreateSIPInboundTrunkRequest)
    expected_trunk = sip.SIPInboundTrunkInfo(
        name="frontdesk",
        metadata=MARKER,
        numbers=sorted(NUMBERS),
        allowed_addresses=["203.0.113.7", "198.51.100.0/28"],
        ringing_timeout=Duration(seconds=15),
        max_call_duration=Duration(seconds=3600),
        media=sip.SIPMediaConfig(media_timeout=Duration(seconds=12)),
    )
    assert create.trunk == expected_trunk  # every field, and nothing else
    (trunk_id,) = fake_livekit.trunks
    rule_request = fake_livekit.calls[3][1]
    assert isinstance(rule_request, sip.CreateSIPDispatchRuleRequest)
    rule = rule_request.dispatch_rule
    assert rule.name == "frontdesk" and rule.metadata == MARKER
    assert list(rule.trunk_ids) == [trunk_id]
    assert rule.rule.WhichOneof("rule") == "dispatch_rule_individual"
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-"
    assert not rule.hide_phone_number and not rule.numbers and not rule.inbound_numbers
    assert rule.room_config.departure_timeout == 5
    assert [a.agent_name for a in rule.room_config.agents] == ["frontdesk"]
    assert not rule_request.rule.ListFields()  # the deprecated top-level fields stay empty


async def test_second_run_sends_only_list_calls(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    await _sync(fake_livekit, credentials)
    fake_livekit.calls.clear()
    assert await _sync(fake_livekit, credentials) == ["trunk:unchanged", "dispatch rule:unchanged"]
    assert fake_livekit.methods() == ["ListSIPInboundTrunk", "ListSIPDispatchRule"]


async def test_a_changed_setting_replaces_in_place(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    await _sync(fake_livekit, credentials)
    (trunk_id,) = fake_livekit.trunks
    fake_livekit.calls.clear()
    steps = await _sync(fake_livekit, credentials, media_timeout=20.0, livekit_agent_name="fd2")
    assert steps == ["trunk:update", "dispatch rule:update"]
    assert list(fake_livekit.trunks) == [trunk_id]  # replaced, not duplicated
    update = fake_livekit.calls[1][1]
    assert isinstance(update, sip.UpdateSIPInboundTrunkRequest)
    assert update.sip_trunk_id == trunk_id
    assert update.replace.media.media_timeout.seconds == 20
    (rule,) = fake_livekit.rules.values()
    assert rule.room_config.agents[0].agent_name == "fd2"


async def test_a_hand_made_trunk_of_the_same_name_is_left_alone(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    fake_livekit.trunks["ST_hand"] = sip.SIPInboundTrunkInfo(
        sip_trunk_id="ST_hand", name="frontdesk", numbers=["+15550000000"]
    )
    assert (await _sync(fake_livekit, credentials))[0] == "trunk:create"
    assert fake_livekit.trunks["ST_hand"].numbers == ["+15550000000"]


async def test_dry_run_writes_nothing(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    config = livekit_settings(fake_livekit.url)
    async with open_api(credentials) as lkapi:
        steps = await sync(lkapi.sip, config, NUMBERS, dry_run=True)
    assert [s.action for s in steps] == ["create", "create"]
    assert fake_livekit.methods() == ["ListSIPInboundTrunk", "ListSIPDispatchRule"]
    assert not fake_livekit.trunks and not fake_livekit.rules
    text = steps[0].describe()
    assert "203.0.113.7" in text and '"ringing_timeout": "15s"' in text


async def test_wildcard_conflict_is_reported_with_livekits_message(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    fake_livekit.trunks["ST_other"] = sip.SIPInboundTrunkInfo(sip_trunk_id="ST_other", name="x")
    with pytest.raises(LiveKitError) as caught:
        await _sync(fake_livekit, credentials, livekit_wildcard_trunk=True)
    message = str(caught.value)
    assert message.startswith("LiveKit refused to create the inbound trunk: ")
    assert 'Conflicting inbound SIP Trunks: "<new>" and "ST_other"' in message
    assert caught.value.code == "invalid_argument"
    assert not fake_livekit.rules  # no rule for a trunk that does not exist


async def test_wildcard_trunk_has_no_numbers(
    fake_livekit: FakeLiveKit, credentials: LiveKitCredentials
) -> None:
    await _sync(fake_livekit, credentials, livekit_wildcard_trunk=True)
    (trunk,) = fake_livekit.trunks.values()
    assert list(trunk.numbers) == []


async def test_bad_credentials_are_reported(fake_livekit: FakeLiveKit) -> None:
    wrong = LiveKitCredentials(fake_livekit.url, "devkey", "not-the-secret-at-all-0123456789")
    with pytest.raises(LiveKitError, match=r"refused to list inbound trunks: invalid token"):
        await _sync(fake_livekit, wrong)


async def test_unreachable_livekit_is_reported() -> None:
    creds = LiveKitCredentials("http://127.0.0.1:9", "devkey", "x" * 40)
    with pytest.raises(LiveKitError, match="could not be reached to list inbound trunks"):
        async with open_api(creds) as lkapi:
            await sync(lkapi.sip, livekit_settings(creds.url), NUMBERS)


async def test_active_numbers_come_from_the_database(pool: Pool, seed: Seed) -> None:
    async with pool.connection() as conn:
        await conn.execute(b"UPDATE sip_numbers SET active = false WHERE id = %s", (seed.b.number,))
    assert await active_numbers(pool) == [seed.a.phone]
