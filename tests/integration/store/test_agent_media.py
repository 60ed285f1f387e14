"""The voice agent on real calls in HD voice and with the keypad (issue 14, items 2 and 3).

The same node as test_agent_calls.py (real edge, admission on the embedded Postgres, the
offline agent in worker processes); whisper transcribes what the phone heard.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.integration.store.test_agent_calls import (  # noqa: F401 (agent_node: fixture)
    INFO,
    AgentNode,
    agent_node,
    heard,
    session_row,
    words,
)

from frontdesk.testing.baresip import place_call
from frontdesk.testing.speech import caller_wav

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_g722_call_hears_the_greeting_and_the_agent_hears_the_caller(
    agent_node: AgentNode,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "caller.wav", [(3.0, "Do you deliver?")], 12.0, 16000
    )
    call = await place_call(
        INFO,
        "127.0.0.1",
        agent_node.settings.sip_port,
        wav,
        workdir=tmp_path / "baresip",
        timeout_s=42.0,
        codecs="G722/16000/1",
        rate=16000,
    )
    assert call.established and call.call_id is not None, call.describe()
    record = agent_node.edge.record(call.call_id)
    assert record is not None and record.extra["codec"] == "G722", record
    said = words(heard(call))  # baresip's recording at 16 kHz, through whisper
    assert "how can i help" in said, said
    await agent_node.recorder.flush()
    session = await session_row(agent_node.pool, call.call_id)
    caller_lines = " ".join(i["text"] for i in session["transcript"] if i["role"] == "caller")
    assert "deliver" in caller_lines.lower(), session["transcript"]
