"""The receptionist: one agent definition for every call, on both fronts.

Owns: what the language model is told (the number's merged system prompt, the business's
knowledge base and free text, the caller's customer record, the language to speak), the
greeting spoken first, and the three tools the model may call:
- `create_ticket(kind, summary, details)`: a tickets row linked to the call's session;
- `transfer_to_human()`: a blind transfer to the number's (or org's) transfer target;
  offered only when one is configured;
- `end_call()`: the goodbye already said plays out, then the call ends.
While the agent speaks, an "mm-hmm" or a cough from the caller is no interruption: its
`stt_node` drops such words (`backchannel.py`) and the paused speech resumes.
What the tools do to the world is behind `CallActions`, so the same definition runs in a
worker process beside the built-in edge (actions go over IPC to the edge) and inside the
LiveKit worker (actions go to the database and LiveKit directly).

Must not: touch the database, SIP or sockets itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Protocol

from livekit import rtc
from livekit.agents import Agent, ModelSettings, RunContext, ToolError, function_tool, llm, stt

from frontdesk.agent.backchannel import Transcribing, is_backchannel
from frontdesk.agent.spec import CallSpec
from frontdesk.calls.handle import TRANSFERRED

_KB_LIMIT = 30_000  # characters of knowledge text put in front of a model


class CallActions(Protocol):
    """What the agent's tools may do to the call and the business's records."""

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        """File a ticket; returns its id. Raises on failure."""
        ...

    async def transfer(self) -> int:
        """Blind-transfer the caller; returns the final status (200 = transferred)."""
        ...

    async def hang_up(self, reason: str) -> None:
        """End the call once what the agent said has played."""
        ...


def instructions_for(spec: CallSpec) -> str:
    """The system prompt: the number's prompt, then the facts the model may use."""
    config = spec.config
    parts = [config.system_prompt.strip()]
    parts.append(
        f"Speak {config.language}. You answer the phone for this business; keep answers "
        "short (one or two sentences), they are spoken aloud."
    )
    hours = config.business_hours
    if spec.hours is not None:
        parts.append(f"Opening hours:\n{spec.hours.schedule}\nRight now: {spec.hours.said}")
        if not spec.hours.open and spec.hours.when_closed == "message":
            parts.append(
                "The business is closed: take the caller's message. Call create_ticket with "
                "kind message and everything they said (name, number, what it is about)."
            )
    if hours is not None and hours.note:
        parts.append(f"About the opening hours: {hours.note}")
    if config.knowledge_base:
        faq = "\n".join(f"Q: {e.question}\nA: {e.answer}" for e in config.knowledge_base)
        parts.append(f"Answer from these facts (and nothing else):\n{faq}")
    if config.knowledge_text.strip():
        parts.append(f"More about the business:\n{config.knowledge_text.strip()[:_KB_LIMIT]}")
    if spec.customer is not None and (spec.customer.name or spec.customer.notes):
        parts.append(
            f"The caller is a known customer: {spec.customer.name or 'name unknown'}. "
            f"Notes: {spec.customer.notes or 'none'}"
        )
    parts.append(
        "When the caller places an order, makes a complaint, leaves a message or asks to be "
        "called back, call create_ticket with every detail they gave. "
        + (
            "When they ask for a person, call transfer_to_human. "
            if config.transfer_target
            else "Nobody can take the call in person now; offer to take a message. "
        )
        + "When they are done, say goodbye and call end_call."
    )
    return "\n\n".join(parts)


def _tools(actions: CallActions, can_transfer: bool) -> list[llm.Tool | llm.Toolset]:
    async def create_ticket(
        context: RunContext[None], kind: str, summary: str, details: str
    ) -> str:
        """File what the caller wants done as a ticket for the business's staff.

        Args:
            kind: one of order, complaint, message, callback, other
            summary: one line saying what it is about
            details: everything the caller said that staff need (items, names, times)
        """
        try:
            ticket_id = await actions.create_ticket(kind, summary, details)
        except Exception as exc:
            raise ToolError(f"the ticket could not be saved: {exc}") from exc
        return f"ticket {ticket_id} created ({kind})"

    async def transfer_to_human(context: RunContext[None]) -> str | None:
        """Transfer the caller to a person at the business."""
        await context.wait_for_playout()  # "let me put you through" is heard first
        status = await actions.transfer()
        if status == TRANSFERRED:
            return None  # our leg is over: nothing more to say
        raise ToolError(f"the transfer failed (status {status}): nobody could be reached")

    async def end_call(context: RunContext[None]) -> None:
        """End the call, after saying goodbye."""
        await context.wait_for_playout()
        await actions.hang_up("agent-end-call")

    tools: list[llm.Tool | llm.Toolset] = [function_tool(create_ticket), function_tool(end_call)]
    if can_transfer:
        tools.append(function_tool(transfer_to_human))
    return tools


class Receptionist(Agent):
    """The business's receptionist for one call: greets first, then converses."""

    def __init__(
        self, spec: CallSpec, actions: CallActions, transcribing: Transcribing | None = None
    ) -> None:
        super().__init__(
            instructions=instructions_for(spec),
            tools=_tools(actions, can_transfer=bool(spec.config.transfer_target)),
        )
        self.spec = spec
        self.transcribing = transcribing or Transcribing()
        self._actions = actions

    async def on_enter(self) -> None:
        hours = self.spec.hours
        closed_transfer = hours is not None and not hours.open and hours.when_closed == "transfer"
        # closed, and the business sends its calls elsewhere: at once, nothing said
        if closed_transfer and await self._actions.transfer() == TRANSFERRED:
            return
        if self.spec.recorded:  # the caller is told before anything else is said
            self.session.say(self.spec.config.recording_notice, allow_interruptions=False)
        self.session.say(self.spec.config.greeting, allow_interruptions=True)

    async def stt_node(
        self, audio: AsyncIterable[rtc.AudioFrame], model_settings: ModelSettings
    ) -> AsyncIterable[stt.SpeechEvent]:
        """The caller's words, minus a backchannel said while we speak (`backchannel.py`):
        the session then hears no words and resumes the speech it paused."""
        events = Agent.default.stt_node(self, audio, model_settings)
        async for event in events:
            if event.type is stt.SpeechEventType.START_OF_SPEECH:
                self.transcribing.started()
            if self._talked_over(event):
                self.transcribing.finished()  # nothing to act on: a held resume goes ahead
                continue
            yield event
            if event.type is stt.SpeechEventType.FINAL_TRANSCRIPT:
                self.transcribing.finished()  # the session has acted on the words

    def _talked_over(self, event: stt.SpeechEvent) -> bool:
        if event.type is not stt.SpeechEventType.FINAL_TRANSCRIPT or not event.alternatives:
            return False
        speech = self.session.current_speech
        agent_speaking = speech is not None and not speech.interrupted and not speech.done()
        return agent_speaking and is_backchannel(event.alternatives[0].text)
