"""The offline knowledge-base "LLM", driven through a real text-only AgentSession.

It runs with its real embedding model (multilingual-e5-small, loaded once per process):
callers are understood in their own words, in Italian too, and through whisper's
mishearings; questions the knowledge base cannot answer get an honest "I don't know".

Each path (FAQ answer, "I don't know", ticket, two-turn ticket, transfer, goodbye, tool
absent, failed transfer) runs the framework's own loop: the KB LLM emits function calls in
its chunks, the session executes the tiny agent's tools, feeds the outputs back, and calls
the LLM again. The tools record their calls, so the tests prove the framework ran them.
"""

from __future__ import annotations

import json
from typing import Any

from livekit.agents import Agent, AgentSession, function_tool, llm
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    RunEvent,
)

from frontdesk.agent.providers.embedder import load_embedder
from frontdesk.agent.providers.kb_llm import (
    DETAIL_PROMPTS,
    KnowledgeBaseLLM,
    Taken,
    intent_examples,
)
from frontdesk.agent.providers.knowledge import (
    KnowledgeBase,
    classify,
    taken_words,
    tokens,
    understand,
)
from frontdesk.tenancy.config import KnowledgeEntry, TenantConfig

PIZZERIA = TenantConfig(
    greeting="Pizzeria Da Mario, good evening!",
    knowledge_base=(
        KnowledgeEntry(question="When are you open?", answer="Every day from 6 pm to 11 pm."),
        KnowledgeEntry(question="Do you deliver?", answer="Yes, within 5 km, for 2 euros."),
    ),
    knowledge_text=(
        "We are in Via Roma 12.\n\nParking is free in the courtyard behind the restaurant. "
        "We accept cards and cash."
    ),
    transfer_target="200",
)


class ReceptionAgent(Agent):
    """The three tools of the real receptionist, recording what the framework calls."""

    def __init__(self, *, transfer_result: str = "transferred") -> None:
        super().__init__(instructions="You are a receptionist.")
        self.tickets: list[dict[str, str]] = []
        self.transfers = 0
        self.ended = 0
        self._transfer_result = transfer_result

    @function_tool
    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        """File a ticket (order, complaint, message, callback, other) for the staff."""
        self.tickets.append({"kind": kind, "summary": summary, "details": details})
        return f"ticket {len(self.tickets)} created"

    @function_tool
    async def transfer_to_human(self) -> str:
        """Transfer the caller to a human colleague."""
        self.transfers += 1
        return self._transfer_result

    @function_tool
    async def end_call(self) -> None:
        """Say goodbye and hang up."""
        self.ended += 1


class NoTransferAgent(Agent):
    def __init__(self) -> None:
        super().__init__(instructions="You are a receptionist.")
        self.tickets: list[dict[str, str]] = []

    @function_tool
    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        """File a ticket."""
        self.tickets.append({"kind": kind, "summary": summary, "details": details})
        return "ticket created"


def said(events: list[RunEvent]) -> str:
    return " ".join(
        ev.item.text_content or ""
        for ev in events
        if isinstance(ev, ChatMessageEvent) and ev.item.role == "assistant"
    )


def calls(events: list[RunEvent]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (ev.item.name, json.loads(ev.item.arguments))
        for ev in events
        if isinstance(ev, FunctionCallEvent)
    ]


async def run_turns(
    agent: Agent, *utterances: str, config: TenantConfig = PIZZERIA, **kb: Any
) -> list[list[RunEvent]]:
    results: list[list[RunEvent]] = []
    async with AgentSession(llm=KnowledgeBaseLLM(config, **kb)) as session:
        await session.start(agent)
        for utterance in utterances:
            result = await session.run(user_input=utterance)
            results.append(list(result.events))
    return results


async def test_faq_question_gets_its_answer() -> None:
    agent = ReceptionAgent()
    [events] = await run_turns(agent, "What are your opening hours?")
    assert "Every day from 6 pm to 11 pm." in said(events)
    assert calls(events) == []


async def test_knowledge_text_sentence_answers() -> None:
    [events] = await run_turns(ReceptionAgent(), "Is there any parking?")
    assert "Parking is free in the courtyard" in said(events)


async def test_unknown_question_is_honest_and_offers_message_and_transfer() -> None:
    [events] = await run_turns(ReceptionAgent(), "What is the weather like on Mars?")
    text = said(events)
    assert "don't know" in text
    assert "take a message" in text and "put you through" in text
    assert calls(events) == []


async def test_order_files_ticket_through_the_framework_and_confirms() -> None:
    agent = ReceptionAgent()
    utterance = "I want to order two pizzas for delivery"
    [events] = await run_turns(agent, utterance)
    assert [name for name, _ in calls(events)] == ["create_ticket"]
    assert agent.tickets == [
        {"kind": "order", "summary": f"Order: {utterance}", "details": utterance}
    ]
    outputs = [ev for ev in events if isinstance(ev, FunctionCallOutputEvent)]
    assert outputs and outputs[0].item.output == "ticket 1 created"
    assert "I've noted your order: two pizzas for delivery. Is there anything else?" in said(events)


async def test_complaint_is_a_complaint_ticket() -> None:
    agent = ReceptionAgent(transfer_result="ok")
    await run_turns(agent, "The pizza arrived cold and the driver was rude")
    assert [t["kind"] for t in agent.tickets] == ["complaint"]


async def test_announced_message_asks_for_it_then_files_both_turns() -> None:
    agent = ReceptionAgent()
    first, second = await run_turns(
        agent, "I'd like to leave a message", "The oven repair man comes on Tuesday at ten"
    )
    assert said(first) == DETAIL_PROMPTS["message"]
    assert agent.tickets and agent.tickets[0]["kind"] == "message"
    assert "oven repair man comes on Tuesday" in agent.tickets[0]["details"]
    assert "leave a message" in agent.tickets[0]["details"]
    assert "noted your message" in said(second)


async def test_customer_name_is_used_in_the_confirmation() -> None:
    [events] = await run_turns(
        ReceptionAgent(), "Please call me back tomorrow about the catering", customer_name="Anna"
    )
    assert (
        "Thank you, Anna, I've noted your callback request: tomorrow about the catering."
        in said(events)
    )


async def test_human_request_transfers() -> None:
    agent = ReceptionAgent()
    [events] = await run_turns(agent, "Can I speak to a real person please?")
    assert [name for name, _ in calls(events)] == ["transfer_to_human"]
    assert agent.transfers == 1
    assert "put you through" in said(events)


async def test_failed_transfer_is_told_to_the_caller() -> None:
    agent = ReceptionAgent(transfer_result="transfer failed: busy")
    [events] = await run_turns(agent, "operator")
    assert agent.transfers == 1
    assert "nobody is available" in said(events)


async def test_goodbye_ends_the_call() -> None:
    agent = ReceptionAgent()
    [events] = await run_turns(agent, "No thanks, that's all. Bye!")
    assert [name for name, _ in calls(events)] == ["end_call"]
    assert agent.ended == 1
    assert "Goodbye" in said(events)


async def test_only_tools_it_is_given_are_called() -> None:
    agent = NoTransferAgent()
    [transfer, bye] = await run_turns(agent, "I want to talk to a human", "goodbye")
    assert calls(transfer) == [] and calls(bye) == []
    assert "can't transfer" in said(transfer) and "take a message" in said(transfer)
    assert "Goodbye" in said(bye)


def test_reply_is_deterministic_and_greets_without_user_turn() -> None:
    kb = KnowledgeBaseLLM(PIZZERIA)
    ctx = llm.ChatContext()
    ctx.add_message(role="system", content="You are a receptionist.")
    assert kb.respond(ctx, frozenset()).text == "Pizzeria Da Mario, good evening!"
    ctx.add_message(role="user", content="Do you deliver to my street?")
    first = kb.respond(ctx, frozenset({"create_ticket"}))
    assert first == kb.respond(ctx, frozenset({"create_ticket"}))
    assert first.text.startswith("Yes, within 5 km")
    assert kb.model == "knowledge-base" and kb.provider == "frontdesk-offline"


def test_matching_threshold_refuses_weak_overlap() -> None:
    kb = KnowledgeBase([("When are you open?", "From 6 pm.")], embedder=load_embedder())
    assert kb.best("What time do you open tonight?") is not None
    assert kb.best("Tell me about your open source policy and licensing terms") is None
    assert kb.best("") is None
    assert tokens("Pizzas delivered!") == {"pizza", "deliver"}


def test_questions_about_ordering_are_not_orders() -> None:
    assert classify("Can I order online?").intent == "none"
    assert classify("I'd like two margheritas and a coke").kind == "order"
    assert classify("I would like to know when you are open").intent == "none"
    assert classify("Hello, I would like to book a table for two.").kind == "other"


# --- understanding in the caller's own words ---------------------------------------------


async def test_paraphrase_without_the_entrys_words_gets_its_answer() -> None:
    [events] = await run_turns(ReceptionAgent(), "Are you guys open on Sundays?")
    assert "Every day from 6 pm to 11 pm." in said(events)


async def test_italian_caller_gets_the_english_entrys_answer() -> None:
    [events] = await run_turns(ReceptionAgent(), "A che ora aprite stasera?")
    assert "Every day from 6 pm to 11 pm." in said(events)


async def test_whisper_mishearing_still_finds_the_answer() -> None:
    # whisper tiny's kind of error over G.711 ("hours" heard as "ours")
    [events] = await run_turns(ReceptionAgent(), "What are your opening ours?")
    assert "Every day from 6 pm to 11 pm." in said(events)


async def test_question_the_knowledge_base_cannot_answer_is_declined() -> None:
    agent = ReceptionAgent()
    [events] = await run_turns(agent, "Is the tiramisu homemade?")
    assert "don't know" in said(events) and "take a message" in said(events)
    assert calls(events) == [] and agent.tickets == []


async def test_order_in_other_words_is_an_order_and_the_confirmation_repeats_it() -> None:
    agent = ReceptionAgent()
    kb = KnowledgeBaseLLM(PIZZERIA)
    async with AgentSession(llm=kb) as session:
        await session.start(agent)
        result = await session.run(user_input="Can I get a pizza brought to my place?")
        events = list(result.events)
    assert [t["kind"] for t in agent.tickets] == ["order"]
    assert "I've noted your order: a pizza brought to my place." in said(events)
    assert kb.taken == (
        Taken(
            "order",
            "Order: Can I get a pizza brought to my place?",
            "Can I get a pizza brought to my place?",
        ),
    )


async def test_two_turn_order_confirms_what_was_ordered() -> None:
    agent = ReceptionAgent()
    first, second = await run_turns(agent, "I would like to order", "two margheritas and a coke")
    assert said(first) == DETAIL_PROMPTS["order"]
    assert "I've noted your order: two margheritas and a coke." in said(second)


def test_intents_by_meaning() -> None:
    embedder = load_embedder()
    examples = intent_examples(embedder)

    def intent(text: str) -> str:
        found = understand(text, embedder.embed([text], query=True)[0], examples)
        return found.kind or found.intent

    assert intent("Can I get a pizza brought to my place?") == "order"
    assert intent("Vorrei prenotare un tavolo per due") == "other"  # a booking
    assert intent("Mi potete richiamare domani?") == "callback"
    assert intent("You charged me twice on my card, that's not acceptable") == "complaint"
    assert intent("Grazie, arrivederci") == "goodbye"
    assert intent("Can I speak to a real person?") == "transfer"
    assert intent("Do you deliver?") == "none"
    assert intent("What time do you close?") == "none"
    # acknowledgements are near "OK, have a nice day" by meaning, and are no goodbye
    for ack in ("Okay.", "Yeah", "Right.", "Hmm.", "Oh, yeah.", "Sure.", "Up."):
        assert intent(ack) == "none", ack


async def test_okay_after_an_answer_neither_hangs_up_nor_declines() -> None:
    agent = ReceptionAgent()
    [events] = await run_turns(agent, "Okay.")
    assert calls(events) == [] and agent.ended == 0
    assert said(events) == "Is there anything else I can help you with?"


def test_confirmation_words_drop_the_request_phrasing() -> None:
    assert taken_words("I want to order two pizzas for delivery") == "two pizzas for delivery"
    assert taken_words("Hello, I'd like two margheritas and a coke, please") == (
        "two margheritas and a coke"
    )
    assert taken_words("I would like to order") == ""
