"""The agent when the business is closed: the message prompt, "are you open?", transfer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from livekit.agents import llm

from frontdesk.agent.providers.kb_llm import KnowledgeBaseLLM
from frontdesk.agent.receptionist import instructions_for
from frontdesk.agent.spec import CallSpec, answer_with_hours
from frontdesk.tenancy.config import TenantConfig
from frontdesk.tenancy.hours import BusinessHours

TOOLS = frozenset({"create_ticket", "end_call"})
WEEKDAYS = BusinessHours.model_validate(
    {"weekly": {d: [{"opens": "09:00", "closes": "18:00"}] for d in ("mon", "tue", "wed")}}
)
EVENING = datetime(2026, 12, 7, 20, 0, tzinfo=ZoneInfo("Europe/Rome"))  # a Monday
MORNING = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Europe/Rome"))


def closed(when_closed: str = "message", **more: object) -> tuple[TenantConfig, CallSpec]:
    hours = WEEKDAYS.model_copy(update={"when_closed": when_closed, **more})
    config, facts = answer_with_hours(TenantConfig(business_hours=hours), EVENING)
    return config, CallSpec(call_id="c1", called="+390551234567", config=config, hours=facts)


def after_greeting(greeting_said: str, caller: str) -> llm.ChatContext:
    ctx = llm.ChatContext()
    ctx.add_message(role="assistant", content=greeting_said)
    ctx.add_message(role="user", content=caller)
    return ctx


def test_the_callers_words_after_the_closed_greeting_are_a_message_ticket() -> None:
    config, _ = closed()
    kb = KnowledgeBaseLLM(config)
    reply = kb.respond(after_greeting(config.greeting, "Tell Anna the boiler is fixed."), TOOLS)
    assert reply.tool is not None and reply.tool.name == "create_ticket"
    assert reply.tool.arguments["kind"] == "message"
    assert "boiler" in reply.tool.arguments["details"]
    # talked over: the greeting was cut short, and what they said is still the message
    cut = config.greeting[:40]
    reply = kb.respond(after_greeting(cut, "Tell Anna the boiler is fixed."), TOOLS)
    assert reply.tool is not None and reply.tool.arguments["kind"] == "message"
    # goodbye is not a message
    bye = kb.respond(after_greeting(config.greeting, "No thanks, goodbye."), TOOLS)
    assert bye.tool is not None and bye.tool.name == "end_call"


def test_greeting_only_does_not_take_the_next_words_as_a_message() -> None:
    config, _ = closed("greeting")
    assert "leave your message" not in config.greeting.lower()
    kb = KnowledgeBaseLLM(config)
    reply = kb.respond(after_greeting(config.greeting, "Are you open now?"), TOOLS)
    assert reply.tool is None
    assert "We open again tomorrow at 9 a.m." in reply.text


def test_are_you_open_while_open() -> None:
    config, facts = answer_with_hours(TenantConfig(business_hours=WEEKDAYS), MORNING)
    assert facts is not None and facts.open
    kb = KnowledgeBaseLLM(config)
    reply = kb.respond(after_greeting(config.greeting, "When do you close today?"), TOOLS)
    assert "We're open now, until 6 p.m." in reply.text


def test_instructions_say_open_or_closed_and_the_week() -> None:
    _, spec = closed()
    text = instructions_for(spec)
    assert "Right now: We're closed now." in text and "Monday: 09:00-18:00" in text
    assert "Sunday: closed" in text and "kind message" in text
    noted = TenantConfig(business_hours="by appointment only")
    note_spec = CallSpec(call_id="c2", called="1000", config=noted)
    assert "About the opening hours: by appointment only" in instructions_for(note_spec)


def test_closed_transfer_goes_to_the_closed_target() -> None:
    config, spec = closed("transfer", closed_transfer_target="301")
    assert config.transfer_target == "301"
    assert spec.hours is not None and spec.hours.when_closed == "transfer"
