"""The voice agent on real calls: baresip speaks, the offline set answers, whisper listens.

Each call goes the whole way: baresip (a real SIP phone) dials a demo number on a real
edge, admission on the embedded Postgres admits it, the agent runs in a worker process
with the offline providers (silero VAD, whisper, the knowledge-base responder, piper),
and what baresip received is transcribed here with whisper. Nothing is faked.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.call_node import CallNode, running_call_node
from tests.conftest import SIPP_DATA, edge_settings, require_tool, wait_for
from tests.support.audio import read_wav, rms_envelope
from tests.support.baresip import BaresipCall, place_call
from tests.support.sipp import free_udp_block, run_sipp
from tests.support.speech import caller_wav, transcribe

from frontdesk.cli.demo import seed_demo
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = "+390551234567"  # greeting override "Ready to take your order"
INFO = "+390551234568"  # greeting override "How can I help?"


AgentNode = CallNode


LONG_GREETING = (
    "Thank you for calling Pizzeria Da Mario, the oldest pizzeria in Florence. "
    "Tonight we have a special menu with fresh truffles, and every pizza comes "
    "out of our wood oven in three minutes."
)


@pytest.fixture
async def agent_node(pool: Pool, tmp_path: Path) -> AsyncIterator[AgentNode]:
    require_tool("baresip", "baresip")
    settings = edge_settings(agent_workers=2, data_dir=tmp_path / "data", media_timeout=30.0)
    await seed_demo(pool, settings)
    async with operator_tx(pool, actor="test") as conn:  # the third demo number: long greeting
        await update_number(
            conn, "1000", default_country="IT", override_changes={"greeting": LONG_GREETING}
        )
    async with running_call_node(pool, settings) as node:
        yield node


async def call(
    node: AgentNode,
    number: str,
    folder: Path,
    parts: list[tuple[float, str]],
    seconds: float,
    after_s: float = 0.0,
) -> BaresipCall:
    # calls placed at once are staggered: each baresip picks free ports and binds them
    # a moment later, and two picking together could pick the same ones
    await asyncio.sleep(after_s)
    wav = await asyncio.to_thread(caller_wav, folder / "caller.wav", parts, seconds)
    return await place_call(
        number, "127.0.0.1", node.settings.sip_port, wav, workdir=folder, timeout_s=seconds + 30
    )


def heard(result: BaresipCall) -> str:
    assert result.received_wav is not None, result.log_tail
    return " ".join(text for _, _, text in transcribe(result.received_wav)).lower()


def words(text: str) -> str:
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower())


async def session_row(pool: Pool, call_id: str) -> dict[str, Any]:
    async with operator_tx(pool) as conn:
        cursor = await conn.execute(
            "SELECT id, outcome, reason, transcript FROM sessions WHERE call_id_sip = %s",
            (call_id,),
        )
        row = await cursor.fetchone()
    assert row is not None, f"no session row for {call_id}"
    return {"id": row[0], "outcome": row[1], "reason": row[2], "transcript": row[3]}


async def test_number_greeting_then_knowledge_answer_and_an_order_becomes_a_ticket(
    agent_node: AgentNode, tmp_path: Path
) -> None:
    # two numbers of one org, called at once: each hears its own greeting override, then
    # an answer from the org's knowledge base; the order on the second becomes a ticket
    info, orders = await asyncio.gather(
        call(agent_node, INFO, tmp_path / "info", [(3.0, "Do you deliver?")], 12.0),
        call(
            agent_node,
            ORDERS,
            tmp_path / "orders",
            [(3.5, "When are you open?"), (10.0, "I want to order two pizzas for delivery.")],
            19.0,
            after_s=1.0,
        ),
    )
    info_heard, orders_heard = words(heard(info)), words(heard(orders))
    assert "how can i help" in info_heard, info_heard
    assert "take your order" not in info_heard
    assert re.search(r"within (5|five)\s*k\s*m", info_heard), info_heard  # "do you deliver?"
    assert info_heard.index("how can i help") < info_heard.index("within")
    assert "ready to take your order" in orders_heard, orders_heard
    assert re.search(r"(6|six)\s*p\.?\s*m", orders_heard), orders_heard  # the opening hours
    assert "noted your order" in orders_heard, orders_heard

    await agent_node.settle()
    assert orders.call_id is not None and info.call_id is not None
    session = await session_row(agent_node.pool, orders.call_id)
    async with operator_tx(agent_node.pool) as conn:
        cursor = await conn.execute(
            "SELECT kind, subject, body, session_id FROM tickets ORDER BY created_at"
        )
        tickets = await cursor.fetchall()
    assert len(tickets) == 1, tickets  # the info call asked a question: no ticket
    kind, subject, body, ticket_session = tickets[0]
    assert kind == "order" and ticket_session == session["id"]
    assert "pizza" in (subject + body).lower()
    # the transcript, both sides in order, is on the session row
    roles = [(item["role"], item["text"]) for item in session["transcript"]]
    assert roles[0] == ("agent", "Ready to take your order"), roles
    caller_lines = " ".join(text for role, text in roles if role == "caller").lower()
    assert "open" in caller_lines and "pizza" in caller_lines, roles
    assert all(isinstance(item["at"], float) for item in session["transcript"])
    info_session = await session_row(agent_node.pool, info.call_id)
    assert info_session["transcript"][0]["text"] == "How can I help?"


async def test_a_killed_worker_ends_its_call_and_spares_the_other(
    agent_node: AgentNode, tmp_path: Path
) -> None:
    host = agent_node.host
    victim_task = asyncio.create_task(
        call(agent_node, INFO, tmp_path / "victim", [(6.0, "Do you deliver?")], 20.0)
    )
    await wait_for(lambda: sum(len(w.calls) for w in host.workers) == 1, 10)
    survivor_task = asyncio.create_task(
        call(agent_node, ORDERS, tmp_path / "survivor", [(6.0, "Do you deliver?")], 14.0)
    )
    await wait_for(lambda: sum(len(w.calls) for w in host.workers) == 2, 10)
    victim_worker = next(w for w in host.workers if w.calls)
    other_worker = next(w for w in host.workers if w is not victim_worker)
    assert len(victim_worker.calls) == 1 and len(other_worker.calls) == 1  # one call each
    (victim_call,) = victim_worker.calls.values()
    victim_call_id = victim_call.call.call_id
    await asyncio.sleep(2.0)
    os.kill(victim_worker.pid, signal.SIGKILL)

    victim = await victim_task
    record = agent_node.edge.record(victim_call_id)
    assert record is not None and record.reason == "agent-crashed", record
    assert victim.elapsed_s < 18.0  # ended by our BYE, long before its audio ran out
    survivor = await survivor_task
    assert re.search(
        r"within (5|five)\s*k\s*m", words(heard(survivor))
    )  # its agent answered after the kill
    survivor_record = agent_node.edge.record(survivor.call_id or "")
    assert survivor_record is not None and survivor_record.reason == "remote-bye"
    async with operator_tx(agent_node.pool) as conn:
        cursor = await conn.execute("SELECT count(*) FROM active_calls")
        row = await cursor.fetchone()
    assert row == (0,)  # both slots freed, the crashed call's once
    assert host.crashes == 1
    await wait_for(lambda: all(w.alive for w in host.workers), 10)  # replaced


def _onsets(path: Path, threshold: float) -> tuple[list[bool], float]:
    """Per 10 ms window: is it loud? (and the window length)."""
    pcm = read_wav(path)
    hop = 0.010
    envelope = rms_envelope(pcm.samples, pcm.rate, window_s=0.020, hop_s=hop)
    return [bool(v > threshold) for v in envelope], hop


async def test_barge_in_stops_agent_audio_within_300_ms(
    agent_node: AgentNode, tmp_path: Path
) -> None:
    # the long greeting is playing when the caller starts talking: the agent must stop
    result = await call(
        agent_node, "1000", tmp_path / "barge", [(3.0, "Excuse me, do you deliver?")], 12.0
    )
    assert result.sent_wav is not None and result.received_wav is not None
    sent, hop = _onsets(result.sent_wav, 0.02)
    received, _ = _onsets(result.received_wav, 0.02)
    speech_on = next(i for i, loud in enumerate(sent) if loud) * hop
    assert 2.8 < speech_on < 3.3, speech_on  # where the caller's words start
    greeting_on = next(i for i, loud in enumerate(received) if loud) * hop
    print(f"greeting heard from {greeting_on:.2f} s, caller speaks from {speech_on:.2f} s")
    talking_before_onset = received[int(speech_on / hop) - 100 : int(speech_on / hop)]
    assert sum(talking_before_onset) > 40, "the greeting was not playing when the caller spoke"
    # the agent's audio stops: the first 300 ms stretch of silence after the onset
    start = int(speech_on / hop)
    quiet_run = 30
    stop = next(
        i for i in range(start, len(received) - quiet_run) if not any(received[i : i + quiet_run])
    )
    stopped_after = stop * hop - speech_on
    print(f"barge-in: agent audio stopped {stopped_after * 1000:.0f} ms after speech onset")
    assert stopped_after <= 0.300, stopped_after
    said = words(heard(result))
    assert "thank you for calling" in said  # the greeting was heard up to the interruption
    assert "truffle" not in said and "three minutes" not in said  # and not after it
    # then the question was answered (whisper, hearing our G.711, once wrote "5kn")
    assert re.search(r"within (5|five)\s*k\s*[mn]", said), said
    record = agent_node.edge.record(result.call_id or "")
    assert record is not None
    agent_lines = [line for line in record.transcript if line.role == "agent"]
    assert agent_lines[0].interrupted is True, record.transcript
    # the transcript keeps what the caller heard of the greeting, not what was left unsaid
    assert agent_lines[0].text.startswith("Thank you for calling"), agent_lines[0]
    assert "three minutes" not in agent_lines[0].text, agent_lines[0]


async def test_asking_for_a_person_transfers_the_call_with_refer(
    agent_node: AgentNode, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "ask.wav", [(3.0, "Can I speak to a person, please?")], 20.0
    )
    ulaw = tmp_path / "ask.ulaw"
    sox = await asyncio.create_subprocess_exec(
        "sox", str(wav), "-t", "raw", "-e", "mu-law", "-r", "8000", "-c", "1", str(ulaw)
    )
    assert await sox.wait() == 0
    result = await asyncio.to_thread(
        run_sipp,
        SIPP_DATA / "uac_transfer.xml",
        f"127.0.0.1:{agent_node.settings.sip_port}",
        service=ORDERS,
        media_port=free_udp_block("127.0.0.1", 4),
        keys={"stream": f"{ulaw},1,0"},
        timeout_s=40,
    )
    # the scenario passes only if REFER named extension 200, both NOTIFYs were answered
    # 200 and frontdesk then ended its leg with BYE
    assert result.successful_calls == 1, result
    await agent_node.edge.settled()
    records = [r for r in agent_node.edge.history if r.called == ORDERS]
    assert [r.reason for r in records] == ["transferred"], records
    agent_said = " ".join(line.text for line in records[0].transcript if line.role == "agent")
    assert "put you through" in agent_said.lower() or "transfer" in agent_said.lower()
