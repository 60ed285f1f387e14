"""`KnowledgeBaseLLM`: the offline "LLM", a deterministic knowledge-base responder.

Owns: the framework side of the offline responder: a `livekit.agents.llm.LLM` whose stream
reads the chat context an `AgentSession` hands it and answers with text and real function
calls (`create_ticket`, `transfer_to_human`, `end_call`) in its `ChatChunk`s, so the
session executes the agent's tools exactly as it would for a cloud model. The decisions
themselves (matching by meaning, intents) live in `knowledge.py`; the sentence-embedding
model in `embedder.py`, loaded once per process. The org's entries are embedded when the
responder is built (at session start, cached per text for the process), so a turn costs
one embedding of what the caller said (~15 ms on one core) and a few dot products.

It is not a language model and says so: model "knowledge-base", provider
"frontdesk-offline". Its decisions read only the chat context, so the same conversation always
gets the same replies; `taken` keeps what it took (tickets, transfer, goodbye) for the
post-call summary. The flow:
- tool outputs newer than the caller's last words: confirm the ticket, repeating what was
  taken ("I've noted your order: two pizzas for delivery. Is there anything else?"), or
  apologise for a failed transfer;
- the previous reply asked for a ticket's details: this utterance is the details, file it;
- goodbye → a goodbye line and `end_call()`; a human asked for → `transfer_to_human()`;
- a question that matches the knowledge base → its answer; an order / complaint / message /
  callback / booking → `create_ticket(kind, summary, details)` (or first a question for
  the details when the caller only announced it);
- anything else → the best knowledge-base answer, or an honest "I don't know" with an offer
  to take a message (and to transfer, when the transfer tool exists).
It calls only the tools present in the `tools` list it is given, and replies in English
(entries are answered in whatever language they are written).

Must not: log what the caller said (transcripts are personal data), reach the network, or
keep state between calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Never

from livekit.agents import llm, utils
from livekit.agents.llm import ChatChunk, ChoiceDelta, FunctionToolCall
from livekit.agents.llm.tool_context import Tool, ToolChoice, get_fnc_tool_names
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions
from livekit.agents.types import NotGivenOr as _NotGivenOr

from frontdesk.agent.backchannel import is_backchannel
from frontdesk.agent.providers.embedder import TextEmbedder, load_embedder
from frontdesk.agent.providers.knowledge import (
    MIN_TICKET_WORDS,
    IntentExamples,
    KnowledgeBase,
    TicketKind,
    content_words,
    is_question,
    summary_line,
    taken_words,
    understand,
)
from frontdesk.tenancy.config import TenantConfig
from frontdesk.tenancy.hours import LEAVE_A_MESSAGE

__all__ = [
    "KnowledgeBaseLLM",
    "KnowledgeBaseStream",
    "Reply",
    "Taken",
    "ToolCallSpec",
    "intent_examples",
]

CREATE_TICKET = "create_ticket"
TRANSFER = "transfer_to_human"
END_CALL = "end_call"
ANYTHING_ELSE = "Is there anything else I can help you with?"

# The questions we ask when a ticket was announced without its content. The next user turn
# is the content: recognised by finding one of these exact lines as our previous reply.
DETAIL_PROMPTS: dict[TicketKind, str] = {
    "order": "Of course. What would you like to order?",
    "complaint": "I'm sorry to hear that. Please tell me what happened.",
    "message": "Sure. What message would you like to leave?",
    "callback": "Sure. What is it about, and when is the best time to call you back?",
    "other": "Of course. For when, and for how many people?",
}
_LABELS: dict[TicketKind, str] = {
    "order": "order",
    "complaint": "complaint",
    "message": "message",
    "callback": "callback request",
    "other": "request",
}
_FAILURE_WORDS = ("fail", "unable", "could not", "couldn't", "error", "busy", "no answer",
                  "not available", "unavailable", "declined", "rejected")  # fmt: skip


@dataclass(frozen=True)
class ToolCallSpec:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Taken:
    """One thing the responder took during the call: a ticket it asked the agent to file,
    or a transfer / goodbye. For the post-call summary; `details` is the caller's words."""

    intent: str  # "order", "complaint", "message", "callback", "other", "transfer", "goodbye"
    summary: str = ""
    details: str = ""


_INTENT_EXAMPLES: dict[int, tuple[TextEmbedder, IntentExamples]] = {}


# Threads of a worker process for the embedding model, which lives as long as the process:
# one builds knowledge bases (at a call's start, beside the greeting), the other embeds
# what callers say. Same priority as the rest of the worker: a lower one starved the builds
# on a loaded machine (load 24 on 2 cores) and left callers without answers.
_BUILDING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-building")
_EMBEDDING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kb-embedding")


def _prepare(
    faq: tuple[tuple[str, str], ...], text: str, embedder: TextEmbedder
) -> tuple[KnowledgeBase, IntentExamples]:
    return KnowledgeBase(faq, text, embedder=embedder), intent_examples(embedder)


def intent_examples(embedder: TextEmbedder) -> IntentExamples:
    """The intent examples of the process, embedded once per embedder."""
    known = _INTENT_EXAMPLES.get(id(embedder))
    if known is None or known[0] is not embedder:
        known = (embedder, IntentExamples(embedder))
        _INTENT_EXAMPLES[id(embedder)] = known
    return known[1]


@dataclass(frozen=True)
class Reply:
    """What one turn produces: words to say, then (optionally) one tool call."""

    text: str = ""
    tool: ToolCallSpec | None = None


class KnowledgeBaseLLM(llm.LLM[Never]):
    """The offline responder for one call: the merged TenantConfig and the caller's record."""

    def __init__(
        self,
        config: TenantConfig,
        *,
        customer_name: str | None = None,
        customer_notes: str | None = None,
        embedder: TextEmbedder | None = None,
    ) -> None:
        super().__init__()
        self._config = config
        self._customer_name = customer_name.strip() if customer_name else None
        # Notes are for the staff reading tickets; the responder only carries them along.
        self._customer_notes = customer_notes
        embedder = embedder if embedder is not None else load_embedder()
        # Embedded now, when the call's session is built (cached per text for the process),
        # on the embedding thread so that the worker's event loop (other calls' audio, this
        # call's greeting) does not wait: a turn then embeds only what the caller said.
        faq = tuple((entry.question, entry.answer) for entry in config.knowledge_base)
        self._prepared = _BUILDING.submit(_prepare, faq, config.knowledge_text, embedder)
        self._taken: list[Taken] = []

    @property
    def model(self) -> str:
        return "knowledge-base"

    @property
    def provider(self) -> str:
        return "frontdesk-offline"

    @property
    def knowledge_base(self) -> KnowledgeBase:
        return self._prepared.result()[0]

    def warm_turn(self, said: str) -> None:
        """Embed what the caller said (blocking: run it off the event loop); `respond` then
        finds the vector in the embedder's cache."""
        self.knowledge_base.embed_query(said)

    @property
    def taken(self) -> tuple[Taken, ...]:
        """What this call's responder has taken so far (tickets, transfer, goodbye)."""
        return tuple(self._taken)

    def _record(self, reply: Reply) -> None:
        if reply.tool is None:
            return
        args = reply.tool.arguments
        if reply.tool.name == CREATE_TICKET:
            kind = str(args.get("kind", "other"))
            self._taken.append(
                Taken(kind, str(args.get("summary", "")), str(args.get("details", "")))
            )
        elif reply.tool.name == TRANSFER:
            self._taken.append(Taken("transfer"))
        elif reply.tool.name == END_CALL:
            self._taken.append(Taken("goodbye"))

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: _NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: _NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: _NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> KnowledgeBaseStream:
        return KnowledgeBaseStream(
            self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options
        )

    # --- the decision for one turn (pure: chat context and tool names in, Reply out) ---

    def respond(self, chat_ctx: llm.ChatContext, tool_names: frozenset[str]) -> Reply:
        items = chat_ctx.items
        last_user = _last_index(items, lambda it: _is_message(it, "user"))
        outputs = [it for it in items[last_user + 1 :] if isinstance(it, llm.FunctionCallOutput)]
        if outputs:
            return self._after_tool(items, outputs[-1])
        if last_user < 0:
            return Reply(self._config.greeting)
        said = _text(items[last_user])
        previous = _last_index(items[:last_user], lambda it: _is_message(it, "assistant"))
        if previous >= 0:
            asked = _text(items[previous])
            if self._asked_for_message(asked) and not self._is_goodbye(said):
                # the closed greeting asked for a message: what the caller says is it
                return self._ticket("message", "message", said, said, tool_names)
            for kind, prompt in DETAIL_PROMPTS.items():
                if asked.strip() == prompt:
                    request = _previous_user_text(items, previous)
                    details = f"{request} {said}".strip() if request else said
                    return self._ticket(kind, _LABELS[kind], said, details, tool_names)
        return self._answer(said, tool_names)

    def _is_goodbye(self, said: str) -> bool:
        kb, intents = self._prepared.result()
        return understand(said, kb.embed_query(said), intents).intent == "goodbye"

    def _answer(self, said: str, tool_names: frozenset[str]) -> Reply:
        if not said.strip():
            return Reply("Sorry, I didn't catch that. Could you say it again?")
        kb, intents = self._prepared.result()
        vector = kb.embed_query(said)
        intent = understand(said, vector, intents)
        if intent.intent == "goodbye":
            name = f", {self._customer_name}" if self._customer_name else ""
            text = f"Thank you for calling{name}. Goodbye!"
            return Reply(text, ToolCallSpec(END_CALL, {}) if END_CALL in tool_names else None)
        if intent.intent == "transfer":
            if TRANSFER in tool_names:
                return Reply("Let me put you through to a colleague.", ToolCallSpec(TRANSFER, {}))
            return Reply(self._cannot_transfer(tool_names))
        match = kb.best(said, vector)
        if intent.intent == "ticket" and intent.kind is not None:
            if match is not None and is_question(said):
                return Reply(self._with_followup(match.answer))
            if content_words(said) < MIN_TICKET_WORDS and CREATE_TICKET in tool_names:
                return Reply(DETAIL_PROMPTS[intent.kind])
            return self._ticket(intent.kind, intent.label, said, said, tool_names)
        if match is not None:
            return Reply(self._with_followup(match.answer))
        if is_backchannel(said):  # "Okay." after an answer: no question to decline
            return Reply(ANYTHING_ELSE)
        return Reply(self._dont_know(tool_names))

    def _ticket(
        self,
        kind: TicketKind,
        label: str,
        said: str,
        details: str,
        tool_names: frozenset[str],
    ) -> Reply:
        if CREATE_TICKET not in tool_names:
            return Reply("I'm sorry, I can't take requests on this line right now.")
        arguments = {"kind": kind, "summary": summary_line(label, said), "details": details}
        return Reply("", ToolCallSpec(CREATE_TICKET, arguments))

    def _after_tool(self, items: list[llm.ChatItem], output: llm.FunctionCallOutput) -> Reply:
        call = next(
            (
                it
                for it in items
                if isinstance(it, llm.FunctionCall) and it.call_id == output.call_id
            ),
            None,
        )
        name = output.name or (call.name if call else "")
        failed = output.is_error or any(w in output.output.lower() for w in _FAILURE_WORDS)
        if name == CREATE_TICKET:
            if failed:
                return Reply(
                    "I'm sorry, I couldn't save that just now. Could you call again later?"
                )
            kind = _ticket_kind(call)
            label = _LABELS.get(kind, "request") if kind else "request"
            name_part = f", {self._customer_name}" if self._customer_name else ""
            what = taken_words(_ticket_details(call))
            noted = f"{label}: {what}" if what else label
            return Reply(f"Thank you{name_part}, I've noted your {noted}. Is there anything else?")
        if name == TRANSFER:
            if failed:
                return Reply(
                    "I'm sorry, nobody is available to take your call right now. "
                    "I can take a message instead."
                )
            return Reply()
        return Reply()  # end_call and unknown tools: nothing more to say

    def _asked_for_message(self, asked: str) -> bool:
        """Whether `asked` is the closed greeting that asks for a message, whole or cut
        short by the caller talking over it (what was said of it is its beginning)."""
        greeting = self._config.greeting.strip()
        return (
            greeting.endswith(LEAVE_A_MESSAGE)
            and bool(asked.strip())
            and greeting.startswith(asked.strip())
        )

    def _with_followup(self, answer: str) -> str:
        return f"{answer} {ANYTHING_ELSE}"

    def _dont_know(self, tool_names: frozenset[str]) -> str:
        offers = []
        if CREATE_TICKET in tool_names:
            offers.append("take a message")
        if TRANSFER in tool_names:
            offers.append("put you through to a colleague")
        if not offers:
            return "I'm sorry, I don't know the answer to that."
        return f"I'm sorry, I don't know the answer to that. I can {' or '.join(offers)}."

    def _cannot_transfer(self, tool_names: frozenset[str]) -> str:
        if CREATE_TICKET in tool_names:
            return "I'm sorry, I can't transfer calls right now, but I can take a message."
        return "I'm sorry, I can't transfer calls right now."


class KnowledgeBaseStream(llm.LLMStream):
    """One reply: at most one text chunk, then at most one function call chunk."""

    def __init__(
        self,
        kb_llm: KnowledgeBaseLLM,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[Tool],
        conn_options: APIConnectOptions,
    ) -> None:
        super().__init__(kb_llm, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._kb_llm = kb_llm

    async def _run(self) -> None:
        names = frozenset(get_fnc_tool_names(self._tools))
        items = self._chat_ctx.items
        last_user = _last_index(items, lambda it: _is_message(it, "user"))
        if last_user >= 0 and _text(items[last_user]).strip():
            # the embedding (~15 ms of CPU) runs on the embedding thread, not on the loop
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(_EMBEDDING, self._kb_llm.warm_turn, _text(items[last_user]))
        reply = self._kb_llm.respond(self._chat_ctx, names)
        self._kb_llm._record(reply)
        request_id = utils.shortuuid("kb_")
        if reply.text:
            self._event_ch.send_nowait(
                ChatChunk(id=request_id, delta=ChoiceDelta(role="assistant", content=reply.text))
            )
        if reply.tool is not None:
            call = FunctionToolCall(
                name=reply.tool.name,
                arguments=json.dumps(reply.tool.arguments),
                call_id=utils.shortuuid("call_"),
            )
            self._event_ch.send_nowait(
                ChatChunk(id=request_id, delta=ChoiceDelta(role="assistant", tool_calls=[call]))
            )


def _is_message(item: llm.ChatItem, role: str) -> bool:
    return isinstance(item, llm.ChatMessage) and item.role == role


def _text(item: llm.ChatItem) -> str:
    return (item.text_content or "") if isinstance(item, llm.ChatMessage) else ""


def _last_index(items: list[llm.ChatItem], predicate: Callable[[llm.ChatItem], bool]) -> int:
    for index in range(len(items) - 1, -1, -1):
        if predicate(items[index]):
            return index
    return -1


def _previous_user_text(items: list[llm.ChatItem], before: int) -> str:
    index = _last_index(items[:before], lambda it: _is_message(it, "user"))
    return _text(items[index]) if index >= 0 else ""


def _ticket_details(call: llm.FunctionCall | None) -> str:
    if call is None:
        return ""
    try:
        details = json.loads(call.arguments).get("details", "")
    except (ValueError, AttributeError):
        return ""
    return details if isinstance(details, str) else ""


def _ticket_kind(call: llm.FunctionCall | None) -> TicketKind | None:
    if call is None:
        return None
    try:
        kind = json.loads(call.arguments).get("kind")
    except (ValueError, AttributeError):
        return None
    return kind if kind in _LABELS else None
