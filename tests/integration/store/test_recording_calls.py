"""A recorded call, the whole way: baresip calls a recording number, the agent answers.

The edge records the call (`RecordingWriter`, as `frontdesk run` wires it) while the agent
runs with the offline providers in a worker process. What baresip received starts with the
recording notice, then the greeting (whisper hears both, in that order); the stored file's
left channel follows what baresip sent and its right channel what baresip received
(energy envelopes cross-correlated with baresip's own dumps), and not the other way round.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from tests.call_node import running_call_node
from tests.conftest import edge_settings, require_tool
from tests.integration.store.test_agent_calls import INFO, AgentNode, call, heard, words
from tests.support.audio import Correlation, best_lag, read_wav, rms_envelope

from frontdesk.cli.demo import seed_demo
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOP_S = 0.02


@pytest.fixture
async def recording_node(pool: Pool, tmp_path: Path) -> AsyncIterator[AgentNode]:
    require_tool("baresip", "baresip")
    settings = edge_settings(agent_workers=1, data_dir=tmp_path / "data", media_timeout=30.0)
    await seed_demo(pool, settings)
    async with operator_tx(pool, actor="test") as conn:
        await update_number(
            conn, INFO, default_country="IT", override_changes={"record_calls": True}
        )
    async with running_call_node(pool, settings, recordings=True) as node:
        yield node


def envelope(samples: np.ndarray, rate: int) -> np.ndarray:
    return rms_envelope(samples.astype(np.float64), rate, window_s=HOP_S)


def match(reference: np.ndarray, signal: np.ndarray) -> Correlation:
    return best_lag(reference, signal, min_lag=-50, max_lag=50, min_overlap=0.7)


async def test_a_recorded_call_starts_with_the_notice_and_is_stored_caller_left_agent_right(
    recording_node: AgentNode, tmp_path: Path
) -> None:
    result = await call(recording_node, INFO, tmp_path / "call", [(5.0, "Do you deliver?")], 14.0)
    said = words(heard(result))
    assert "this call is recorded" in said, said
    assert "how can i help" in said, said
    assert said.index("this call is recorded") < said.index("how can i help"), said

    await recording_node.settle()
    record = next(r for r in recording_node.edge.history if r.call_id == result.call_id)
    assert record.recording_path is not None
    async with operator_tx(recording_node.pool) as conn:
        cursor = await conn.execute(
            "SELECT recording_path FROM sessions WHERE id = %s", (record.session_id,)
        )
        row = await cursor.fetchone()
    assert row is not None and row[0] == record.recording_path
    path = recording_node.settings.recordings_path / record.recording_path
    for _ in range(50):  # the media worker's writer closes the file just after the call ends
        if path.exists() and soundfile.info(path).duration > 5:
            break
        await asyncio.sleep(0.1)
    audio, rate = soundfile.read(path, dtype="float64")
    assert audio.shape[1] == 2 and rate == 16000
    assert result.sent_wav is not None and result.received_wav is not None
    sent, received = read_wav(result.sent_wav), read_wav(result.received_wav)
    caller_env, agent_env = envelope(audio[:, 0], rate), envelope(audio[:, 1], rate)
    sent_env, received_env = (
        envelope(sent.samples, sent.rate),
        envelope(received.samples, received.rate),
    )
    caller_vs_sent, agent_vs_received = match(sent_env, caller_env), match(received_env, agent_env)
    caller_vs_received, agent_vs_sent = match(received_env, caller_env), match(sent_env, agent_env)
    print(
        f"\nleft~sent {caller_vs_sent}, right~received {agent_vs_received};"
        f" left~received {caller_vs_received}, right~sent {agent_vs_sent}"
    )
    assert caller_vs_sent.coefficient >= 0.7, caller_vs_sent
    assert agent_vs_received.coefficient >= 0.7, agent_vs_received
    assert caller_vs_received.coefficient < 0.4, caller_vs_received
    assert agent_vs_sent.coefficient < 0.4, agent_vs_sent
