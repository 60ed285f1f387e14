"""Pure parts of the LiveKit front: desired objects, facts from attributes, markers, wiring."""

from __future__ import annotations

import uuid

import pytest
from livekit.agents import AgentServer
from livekit.rtc._proto import handle_pb2, participant_pb2

from frontdesk.config import load_settings
from frontdesk.errors import ConfigError
from frontdesk.livekit.client import LiveKitCredentials, LiveKitError
from frontdesk.livekit.job import invite_facts_of
from frontdesk.livekit.reconcile import session_of
from frontdesk.livekit.sync import desired_rule, desired_trunk, is_ours
from frontdesk.livekit.worker import build_server, load_starter


def _settings(**overrides: object):  # type: ignore[no-untyped-def]
    values = {"livekit_url": "http://127.0.0.1:7880", "livekit_api_key": "k",
              "livekit_api_secret": "s" * 40, "pbx_addresses": ["203.0.113.7"]}  # fmt: skip
    values.update(overrides)
    return load_settings(None, **values)


def test_trunk_without_numbers_is_refused_unless_wildcard() -> None:
    with pytest.raises(LiveKitError, match="no active numbers"):
        desired_trunk(_settings(), [])
    assert (
        list(desired_trunk(_settings(livekit_wildcard_trunk=True), ["+390551234567"]).numbers) == []
    )


def test_trunk_needs_the_pbx() -> None:
    with pytest.raises(LiveKitError, match="PBX_ADDRESSES"):
        desired_trunk(_settings(pbx_addresses=[]), ["1000"])


def test_fractional_timeouts_keep_their_nanos() -> None:
    trunk = desired_trunk(_settings(livekit_ringing_timeout=2.5), ["1000"])
    assert (trunk.ringing_timeout.seconds, trunk.ringing_timeout.nanos) == (2, 500_000_000)


def test_rule_dispatches_our_agent_by_name() -> None:
    rule = desired_rule(_settings(livekit_agent_name="desk", livekit_room_prefix="fd-"), "ST_1")
    assert rule.room_config.agents[0].agent_name == "desk"
    assert rule.rule.dispatch_rule_individual.room_prefix == "fd-"


@pytest.mark.parametrize(
    ("metadata", "ours"),
    [('{"managed-by": "frontdesk"}', True), ('{"managed-by": "x"}', False), ("", False),
     ("not json", False), ("[1]", False)],
)  # fmt: skip
def test_marker(metadata: str, ours: bool) -> None:
    assert is_ours(metadata) is ours


def test_session_of_room_metadata() -> None:
    sid = uuid.uuid4()
    assert session_of(f'{{"frontdesk_session": "{sid}"}}') == sid
    assert session_of('{"frontdesk_session": "nope"}') is None
    assert session_of("") is None and session_of("[]") is None


def _participant(attributes: dict[str, str]):  # type: ignore[no-untyped-def]
    from livekit import rtc

    info = participant_pb2.ParticipantInfo(identity="sip_1", attributes=attributes)
    return rtc.RemoteParticipant(
        participant_pb2.OwnedParticipant(handle=handle_pb2.FfiOwnedHandle(id=0), info=info)
    )


def test_facts_prefer_the_full_call_id() -> None:
    facts = invite_facts_of(
        _participant({"sip.trunkPhoneNumber": "0551234567", "sip.phoneNumber": "+3933",
                      "sip.callIDFull": "abc@pbx", "sip.callID": "SCL_1"}), "room"
    )  # fmt: skip
    assert (facts.call_id, facts.called, facts.caller) == ("abc@pbx", "0551234567", "+3933")
    assert invite_facts_of(_participant({"sip.callID": "SCL_1"}), "room").call_id == "SCL_1"
    assert invite_facts_of(_participant({}), "room-9").call_id == "room-9"


def test_credentials_are_required_and_never_printed() -> None:
    with pytest.raises(ConfigError, match="FRONTDESK_LIVEKIT_URL"):
        LiveKitCredentials.from_settings(load_settings(None))
    creds = LiveKitCredentials.from_settings(_settings())
    assert "s" * 40 not in repr(creds)


def test_missing_agent_starter_is_a_clear_startup_error() -> None:
    with pytest.raises(ConfigError, match="not available"):
        load_starter("frontdesk.no_such_module:start")
    with pytest.raises(ConfigError, match="not callable"):
        load_starter("frontdesk.livekit.job:ATTR_CALLED")


def test_server_uses_explicit_dispatch_by_agent_name() -> None:
    server = build_server(_settings(livekit_agent_name="desk"))
    assert isinstance(server, AgentServer)
    assert server._agent_name == "desk"
