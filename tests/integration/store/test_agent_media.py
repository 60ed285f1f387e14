"""The voice agent on real calls in HD voice and with the keypad (issue 14, items 2 and 3).

A node like test_agent_calls.py's (a real edge, admission on the embedded Postgres, the
offline agent in worker processes), with key 0 of the Orders number set to `transfer`.
baresip calls in G.722 and whisper transcribes what it heard; sipp presses keys by RFC
4733 telephone-events and by SIP INFO.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.call_node import running_call_node
from tests.conftest import SIPP_DATA, edge_settings, require_tool
from tests.integration.store.test_agent_calls import (
    INFO,
    ORDERS,
    AgentNode,
    heard,
    session_row,
    words,
)
from tests.support.baresip import place_call
from tests.support.sipp import free_udp_block, run_sipp
from tests.support.speech import caller_wav

from frontdesk.cli.demo import seed_demo
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
async def keys_node(pool: Pool, tmp_path: Path) -> AsyncIterator[AgentNode]:
    require_tool("baresip", "baresip")
    require_tool("sipp", "sip-tester")
    settings = edge_settings(agent_workers=1, data_dir=tmp_path / "data", media_timeout=30.0)
    await seed_demo(pool, settings)  # the pizzeria transfers to extension 200
    async with operator_tx(pool, actor="test") as conn:
        await update_number(
            conn,
            ORDERS,
            default_country="IT",
            override_changes={"key_actions": {"0": "transfer"}},
        )
    async with running_call_node(pool, settings) as node:
        yield node


async def test_g722_call_hears_the_greeting_and_the_agent_hears_the_caller(
    keys_node: AgentNode, tmp_path: Path
) -> None:
    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "caller.wav", [(3.0, "Do you deliver?")], 12.0, 16000
    )
    call = await place_call(
        INFO,
        "127.0.0.1",
        keys_node.settings.sip_port,
        wav,
        workdir=tmp_path / "baresip",
        timeout_s=42.0,
        codecs="G722/16000/1",
        rate=16000,
    )
    assert call.established and call.call_id is not None, call.describe()
    record = keys_node.edge.record(call.call_id)
    assert record is not None and record.media is not None, record
    assert record.media.codec == "G722", record
    said = words(heard(call))  # baresip's own 16 kHz recording, through whisper
    assert "how can i help" in said, said
    await keys_node.settle()
    session = await session_row(keys_node.pool, call.call_id)
    caller_lines = " ".join(i["text"] for i in session["transcript"] if i["role"] == "caller")
    assert "deliver" in caller_lines.lower(), session["transcript"]


async def test_rfc4733_key_0_on_a_transfer_key_gets_our_refer(keys_node: AgentNode) -> None:
    result = await asyncio.to_thread(
        run_sipp,
        SIPP_DATA / "uac_dtmf_transfer.xml",
        f"127.0.0.1:{keys_node.settings.sip_port}",
        service=ORDERS,
        media_port=free_udp_block("127.0.0.1", 4),
        timeout_s=30,
    )
    # passes only if our REFER named extension 200 after the key, and we then sent BYE
    assert result.successful_calls == 1, (result.errors_tail, result.stdout_tail)
    await keys_node.edge.settled()
    records = [r for r in keys_node.edge.history if r.called == ORDERS]
    assert [(r.reason, r.dtmf) for r in records] == [("transferred", "0")], records


async def test_sip_info_key_reaches_the_agent_as_the_callers_input(
    keys_node: AgentNode,
) -> None:
    result = await asyncio.to_thread(
        run_sipp,
        SIPP_DATA / "uac_info_dtmf.xml",
        f"127.0.0.1:{keys_node.settings.sip_port}",
        service=INFO,  # no key actions: keys are input for the agent
        media_port=free_udp_block("127.0.0.1", 4),
        keys={"key": "3"},
        variables={"pause_ms": "2500"},
        call_length_ms=12000,
        timeout_s=30,
    )
    assert result.successful_calls == 1, (result.errors_tail, result.stdout_tail)
    await keys_node.edge.settled()
    (record,) = [r for r in keys_node.edge.history if r.called == INFO]
    assert record.dtmf == "3" and record.reason == "remote-bye"
    transcript = record.transcript
    pressed = [i for i in transcript if i.role == "caller" and "pressed 3" in i.text]
    assert pressed, transcript  # the LLM got it as the caller's turn...
    after = [i for i in transcript if i.role == "agent" and i.at > pressed[0].at]
    assert after, transcript  # ...and answered it
    print(f"\nkeypad turn: {transcript}")
