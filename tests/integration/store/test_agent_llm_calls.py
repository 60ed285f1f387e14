"""The language-model path on real calls: baresip speaks, an OpenAI-compatible server answers.

A number configured with `llm: openai` sends each turn, through the openai plugin in an
agent worker process, to `FakeOpenAIServer` (`FRONTDESK_OPENAI_BASE_URL`), which streams
chat-completion chunks in the API's wire format. Everything else is real: baresip or sipp
as the caller, the edge, admission and records on the embedded Postgres, silero, whisper
and piper in the worker. What baresip heard is transcribed here with whisper.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.call_node import running_call_node
from tests.conftest import SIPP_DATA, edge_settings, require_tool
from tests.fakes.openai_server import (
    CallTool,
    Fail,
    FakeOpenAIServer,
    Say,
    Step,
    last_user_text,
    tool_results,
)
from tests.support.baresip import BaresipCall, place_call
from tests.support.sipp import free_udp_block, run_sipp
from tests.support.speech import caller_wav, transcribe

from frontdesk.cli.demo import seed_demo
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = "+390551234567"  # the pizzeria's orders number, greeting "Ready to take your order"
PROMPT = "You are Giulia, who answers the phone at Pizzeria Da Mario. Be warm and brief."
SPECIAL = "Tonight's special is the truffle pizza from our wood oven."
CONFIRMED = "Your order is noted, it will arrive in forty minutes."
OFFLINE = "frontdesk-offline"  # the knowledge-base responder's provider name


class ScriptHolder:
    """The server's script, set by each test after the node is up."""

    def __init__(self) -> None:
        self.script: Any = lambda _body: Say("Hello.")

    def __call__(self, body: dict[str, Any]) -> Step:
        step: Step = self.script(body)
        return step


@dataclass
class LLMNode:
    settings: Settings
    edge: EdgeServer
    pool: Pool
    recorder: SessionRecorder
    server: FakeOpenAIServer
    script: ScriptHolder


@pytest.fixture
async def llm_node(pool: Pool, tmp_path: Path) -> AsyncIterator[LLMNode]:
    require_tool("baresip", "baresip")
    holder = ScriptHolder()
    async with FakeOpenAIServer(holder) as server:
        settings = edge_settings(
            agent_workers=1,
            data_dir=tmp_path / "data",
            media_timeout=30.0,
            openai_base_url=server.base_url,
            agent_cloud_timeout=3.0,
        )
        await seed_demo(pool, settings)
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn,
                ORDERS,
                default_country="IT",
                override_changes={
                    "llm": "openai",
                    "llm_model": "fake-model",
                    "system_prompt": PROMPT,
                },
            )
        async with running_call_node(pool, settings) as node:
            yield LLMNode(settings, node.edge, pool, node.recorder, server, holder)


def words(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower())


def heard(result: BaresipCall) -> str:
    assert result.received_wav is not None, result.log_tail
    return words(" ".join(text for _, _, text in transcribe(result.received_wav)))


async def test_the_model_speaks_files_a_ticket_and_its_failure_leaves_the_offline_responder(
    llm_node: LLMNode, tmp_path: Path
) -> None:
    # turn 1: streamed text; turn 2: a create_ticket call, then text about its result;
    # afterwards the server fails (503) and the knowledge-base responder answers turn 3
    def script(body: dict[str, Any]) -> Step:
        if tool_results(body):
            return Say(CONFIRMED)
        said = last_user_text(body).lower()
        if "special" in said:
            return Say(SPECIAL)
        if "order" in said:
            return CallTool(
                "create_ticket",
                {"kind": "order", "summary": "Two pizzas for delivery", "details": "two pizzas"},
            )
        return Fail(503, "the model is down")  # from here on the server only fails

    llm_node.script.script = script
    wav = await asyncio.to_thread(
        caller_wav,
        tmp_path / "caller.wav",
        [
            # wide gaps: on a busy machine whisper alone may take seconds per turn
            (4.0, "What is the special tonight?"),
            (17.0, "I want to order two pizzas for delivery."),
            (30.0, "Do you deliver?"),
        ],
        42.0,
    )
    result = await place_call(
        ORDERS, "127.0.0.1", llm_node.settings.sip_port, wav, workdir=tmp_path, timeout_s=80
    )
    said = heard(result)
    print("caller heard:", said)
    record = llm_node.edge.record(result.call_id or "")
    print("record:", record and (record.reason, record.transcript))
    print("requests:", [m["messages"][-1] for m in llm_node.server.requests])
    assert "ready to take your order" in said, said
    # the server's streamed reply was spoken (on a busy machine whisper hears "truffle"
    # as "treble", or "pizza from our wood oven" as "people so from our wood", at times)
    assert "special is the" in said and ("truffle" in said or "wood" in said), said
    assert "forty minutes" in said or "40 minutes" in said, said
    assert re.search(r"within (5|five)\s*k\s*m", said), said  # the offline responder's
    assert said.index("special is the") < said.index("minutes") < said.index("within")

    # the system prompt reached the model as its instructions
    first = llm_node.server.requests[0]
    system = first["messages"][0]
    assert system["role"] == "system" and system["content"].startswith(PROMPT), system
    assert "within 5 km" in system["content"]  # with the knowledge base
    assert first["model"] == "fake-model"

    await llm_node.edge.settled()
    await llm_node.recorder.flush()
    assert result.call_id is not None
    record = llm_node.edge.record(result.call_id)
    assert record is not None and record.reason == "remote-bye", record  # no apology + BYE
    async with operator_tx(llm_node.pool) as conn:
        cursor = await conn.execute(
            "SELECT s.id, s.transcript, t.kind, t.subject, t.session_id"
            " FROM sessions s LEFT JOIN tickets t ON t.session_id = s.id"
            " WHERE s.call_id_sip = %s",
            (result.call_id,),
        )
        rows = await cursor.fetchall()
    assert len(rows) == 1, rows  # one session, one ticket
    session_id, transcript, kind, subject, ticket_session = rows[0]
    assert (kind, subject, ticket_session) == ("order", "Two pizzas for delivery", session_id)

    # the session row says who answered each turn
    agent = [item for item in transcript if item["role"] == "agent"]
    caller = [item for item in transcript if item["role"] == "caller"]
    model_host = f"127.0.0.1:{llm_node.server.port}"
    assert agent[0]["text"] == "Ready to take your order" and "llm" not in agent[0]
    by_text = {item["text"]: item.get("llm") for item in agent[1:]}
    assert by_text[SPECIAL] == model_host, agent
    assert by_text[CONFIRMED] == model_host, agent
    offline_lines = [text for text, llm in by_text.items() if llm == OFFLINE]
    assert any("within 5 km" in text for text in offline_lines), agent
    assert all(item.get("tts") == "piper" for item in agent[1:]), agent
    assert caller and all(item.get("stt") == "faster-whisper" for item in caller), caller


async def test_a_transfer_call_from_the_model_transfers_with_refer(
    llm_node: LLMNode, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")

    def script(body: dict[str, Any]) -> Step:
        return CallTool("transfer_to_human", {}, text="Let me put you through to Mario.")

    llm_node.script.script = script
    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "ask.wav", [(3.0, "Can I speak to Mario, please?")], 20.0
    )
    ulaw = tmp_path / "ask.ulaw"
    sox = await asyncio.create_subprocess_exec(
        "sox", str(wav), "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", str(ulaw)
    )
    assert await sox.wait() == 0
    result = await asyncio.to_thread(
        run_sipp,
        SIPP_DATA / "uac_transfer.xml",
        f"127.0.0.1:{llm_node.settings.sip_port}",
        service=ORDERS,
        media_port=free_udp_block("127.0.0.1", 4),
        keys={"stream": f"{ulaw},1,0"},
        timeout_s=40,
    )
    # sipp passes only if REFER named extension 200, both NOTIFYs got 200 and we sent BYE
    assert result.successful_calls == 1, result
    await llm_node.edge.settled()
    records = [r for r in llm_node.edge.history if r.called == ORDERS]
    assert [r.reason for r in records] == ["transferred"], records
    agent_said = [line for line in records[0].transcript if line.role == "agent"]
    assert any("put you through to Mario" in line.text for line in agent_said), agent_said
    assert len(llm_node.server.requests) == 1  # the transfer ended the conversation
