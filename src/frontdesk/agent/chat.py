"""The text chat with a number's receptionist: quick checks of its knowledge base.

Owns: one reply of the same `Receptionist` (instructions, tools) and the same LLM a call to
the number would get, in a text-only LiveKit `AgentSession` (no audio, no STT, no TTS):
the page sends the conversation so far and the new message, and gets the reply. Nothing is
stored and nothing happens: the chat's tools file no ticket, transfer nobody and hang up
nothing; they say so.

Must not: touch calls, admission or the database; keep state between requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from livekit.agents import AgentSession
from livekit.agents.voice.run_result import ChatMessageEvent, RunResult

from frontdesk.agent.providers.factory import chat_llm
from frontdesk.agent.receptionist import Receptionist
from frontdesk.agent.spec import CallSpec
from frontdesk.config import Settings
from frontdesk.tenancy.config import TenantConfig

NOT_IN_CHAT = 0  # the status of a transfer asked for in the chat: nobody is called


@dataclass(frozen=True, slots=True)
class ChatTurn:
    role: Literal["user", "assistant"]
    text: str


class _ChatActions:
    """The receptionist's tools in a text chat: they do nothing, and say so."""

    async def create_ticket(self, kind: str, summary: str, details: str) -> str:
        return "chat-test (no ticket is filed from the test chat)"

    async def transfer(self) -> int:
        return NOT_IN_CHAT

    async def hang_up(self, reason: str) -> None:
        return None


class _ChatReceptionist(Receptionist):
    async def on_enter(self) -> None:  # the page shows the greeting itself: no speech
        return None


async def chat_reply(
    config: TenantConfig,
    settings: Settings,
    called: str,
    history: Sequence[ChatTurn],
    text: str,
) -> str:
    """What the number's receptionist answers to `text` after `history`."""
    spec = CallSpec(call_id="chat", called=called, caller="chat", config=config)
    agent = _ChatReceptionist(spec, _ChatActions())
    async with AgentSession(llm=chat_llm(config, settings)) as session:
        await session.start(agent)
        if history:
            context = agent.chat_ctx.copy()
            for turn in history:
                context.add_message(role=turn.role, content=turn.text)
            await agent.update_chat_ctx(context)
        result: RunResult[None] = await session.run(user_input=text)
    return " ".join(
        event.item.text_content or ""
        for event in result.events
        if isinstance(event, ChatMessageEvent) and event.item.role == "assistant"
    ).strip()
