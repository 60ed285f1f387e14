"""`CallTools`, the agent's tools for every front, over a `CallHandle` and nothing else."""

from __future__ import annotations

import asyncio

import pytest

from frontdesk.agent.spec import CallSpec
from frontdesk.agent.tools import TRANSFER_TIMED_OUT, CallTools
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.handle import TRANSFERRED, CallHandle
from frontdesk.calls.record import TranscriptLine
from frontdesk.tenancy.config import TenantConfig


class ScriptedCall(CallHandle):
    """A call whose transfer answers `status` after `delay_s` (a front, minus the wire)."""

    def __init__(self, status: int = TRANSFERRED, delay_s: float = 0.0) -> None:
        self._facts = InviteFacts("call-1", "+390551234567", "+393331112222", ("pbx", 5060))
        self._status, self._delay_s = status, delay_s
        self.targets: list[str] = []
        self.hangups: list[str] = []
        self.lines: list[TranscriptLine] = []

    @property
    def call_id(self) -> str:
        return self._facts.call_id

    @property
    def facts(self) -> InviteFacts:
        return self._facts

    @property
    def admitted(self) -> Admitted:
        return Admitted()

    async def transfer(self, target: str) -> int:
        self.targets.append(target)
        await asyncio.sleep(self._delay_s)
        return self._status

    def hangup(self, reason: str) -> None:
        self.hangups.append(reason)

    def add_transcript(self, line: TranscriptLine) -> None:
        self.lines.append(line)


def spec(transfer_target: str = "200") -> CallSpec:
    config = TenantConfig().model_copy(update={"transfer_target": transfer_target})
    return CallSpec(call_id="call-1", called="+390551234567", config=config)


async def test_transfer_goes_to_the_numbers_target_through_the_handle() -> None:
    call = ScriptedCall()
    assert await CallTools(call, spec("201"), None).transfer() == TRANSFERRED
    assert call.targets == ["201"]


async def test_a_transfer_without_an_answer_gives_up_with_408() -> None:
    call = ScriptedCall(delay_s=5.0)
    tools = CallTools(call, spec(), None, transfer_timeout_s=0.05)
    assert await tools.transfer() == TRANSFER_TIMED_OUT


async def test_no_transfer_target_is_an_error_the_agent_hears() -> None:
    with pytest.raises(RuntimeError, match="no transfer target"):
        await CallTools(ScriptedCall(), spec(""), None).transfer()


async def test_ending_the_call_asks_the_handle() -> None:
    call = ScriptedCall()
    await CallTools(call, spec(), None).hang_up("agent-end-call")
    assert call.hangups == ["agent-end-call"]


async def test_a_ticket_needs_an_organization_and_a_database() -> None:
    with pytest.raises(RuntimeError, match="tickets need"):
        await CallTools(ScriptedCall(), spec(), None).create_ticket("order", "pizza", "two")


def test_a_transcript_line_round_trips_and_refuses_garbage() -> None:
    line = TranscriptLine("agent", "Hello", 12.5, interrupted=True)
    assert TranscriptLine.from_json(line.as_json()) == line
    assert "interrupted" not in TranscriptLine("caller", "Hi", 1.0).as_json()
    with pytest.raises(ValueError, match="role"):
        TranscriptLine.from_json({"text": "no role", "at": 1.0})
    with pytest.raises(ValueError, match="time"):
        TranscriptLine.from_json({"role": "agent", "text": "x", "at": "soon"})
