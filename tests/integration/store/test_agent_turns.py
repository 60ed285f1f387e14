"""Turn taking on a real call: a caller who pauses mid-sentence is not cut off.

baresip dials the demo pizzeria's order number on a real edge with the offline agent in a
worker process (default `turn_detection: model`, SmartTurn). The caller says "I would like
to order", pauses 1.3 s, and goes on "two margherita pizzas for delivery, please" (one
sentence spoken by piper with the pause inserted at the word boundary). The agent must
answer once, after the whole sentence, about the order. Nothing is faked.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from tests.integration.store.test_agent_calls import (  # noqa: F401 (the fixture)
    ORDERS,
    AgentNode,
    agent_node,
    call,
    heard,
    session_row,
    words,
)
from tests.support.speech import paused_speech_pcm

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BEFORE = "I would like to order"
AFTER = "two margherita pizzas for delivery, please."


async def test_a_pause_mid_sentence_gets_one_reply_after_the_whole_sentence(
    agent_node: AgentNode,  # noqa: F811
    tmp_path: Path,
) -> None:
    # piper in a thread: blocking the loop would make the edge (same loop) shed the call
    pcm, _pause_at = await asyncio.to_thread(paused_speech_pcm, BEFORE, AFTER, 1.3, rate=8000)
    result = await call(agent_node, ORDERS, tmp_path / "paused", [(3.5, pcm)], 20.0)
    said = words(heard(result))
    assert "ready to take your order" in said, said
    assert "noted your order" in said, said

    await agent_node.settle()
    assert result.call_id is not None
    transcript = (await session_row(agent_node.pool, result.call_id))["transcript"]
    roles = [(item["role"], item["text"]) for item in transcript]
    callers = [text.lower() for role, text in roles if role == "caller"]
    agents = [text for role, text in roles if role == "agent"]
    # one caller turn holding both halves, one reply to it (after the greeting)
    assert len(callers) == 1, roles
    assert "order" in callers[0] and "pizza" in callers[0], roles
    assert len(agents) == 2, roles
    assert "order" in agents[1].lower(), roles
    # the reply is spoken after the caller's last word, not in the pause
    caller_at = next(item["at"] for item in transcript if item["role"] == "caller")
    reply_at = [item["at"] for item in transcript if item["role"] == "agent"][1]
    assert reply_at >= caller_at
    duration = np.frombuffer(pcm, dtype="<i2").size / 8000
    assert duration > 4.0  # the sentence with its pause really was that long
