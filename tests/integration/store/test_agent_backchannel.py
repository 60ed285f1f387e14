"""Talking over the agent on real calls: "mm-hmm" and a cough are no interruption,
"wait, stop" is, and stops the agent's audio within 300 ms.

baresip calls the demo extension 1000, whose greeting is long (~11 s), and speaks over
it (piper's voice; the cough is a burst of shaped noise mixed into the caller's audio).
The offline set runs in a worker process, the edge and records on the embedded Postgres.
What baresip received is measured (when the agent's audio stopped) and transcribed.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from tests.call_node import running_call_node
from tests.conftest import edge_settings, require_tool
from tests.support.audio import read_wav, rms_envelope
from tests.support.baresip import BaresipCall, place_call
from tests.support.speech import caller_wav, transcribe, write_wav

from frontdesk.cli.demo import seed_demo
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.engine import Pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXTENSION = "1000"
LONG_GREETING = (
    "Thank you for calling Pizzeria Da Mario, the oldest pizzeria in Florence. "
    "Tonight we have a special menu with fresh truffles, and every pizza comes "
    "out of our wood oven in three minutes."
)
RATE = 8000
HOP = 0.010


@dataclass
class Node:
    settings: Settings
    edge: EdgeServer


@pytest.fixture
async def node(pool: Pool, tmp_path: Path) -> AsyncIterator[Node]:
    require_tool("baresip", "baresip")
    settings = edge_settings(agent_workers=1, data_dir=tmp_path / "data", media_timeout=30.0)
    await seed_demo(pool, settings)
    async with operator_tx(pool, actor="test") as conn:
        await update_number(
            conn, EXTENSION, default_country="IT", override_changes={"greeting": LONG_GREETING}
        )
    async with running_call_node(pool, settings) as node:
        yield Node(node.settings, node.edge)


def cough(seconds: float = 0.35, seed: int = 7) -> np.ndarray:
    """A cough-like burst: broadband noise, sharp onset, fast decay, loud as speech."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    noise = np.convolve(rng.standard_normal(n), np.ones(4) / 4, mode="same")  # less hiss
    envelope = np.minimum(np.arange(n) / (0.015 * RATE), 1.0) * np.exp(-np.arange(n) / (0.1 * RATE))
    return np.asarray(noise / np.abs(noise).max() * envelope * 12000, dtype=np.int16)


def with_cough(path: Path, at_s: float) -> Path:
    pcm = read_wav(path)
    audio = np.round(pcm.samples * 32768).astype(np.int32)
    burst = cough()
    start = round(at_s * RATE)
    audio[start : start + len(burst)] += burst
    return write_wav(path, np.clip(audio, -32768, 32767).astype("<i2").tobytes(), RATE)


def loud(path: Path) -> list[bool]:
    pcm = read_wav(path)
    envelope = rms_envelope(pcm.samples, pcm.rate, window_s=0.020, hop_s=HOP)
    return [bool(v > 0.02) for v in envelope]


def words(result: BaresipCall) -> str:
    assert result.received_wav is not None, result.log_tail
    text = " ".join(t for _, _, t in transcribe(result.received_wav))
    return re.sub(r"[^a-z0-9 ]+", " ", text.lower())


async def dial(node: Node, wav: Path, folder: Path) -> BaresipCall:
    return await place_call(
        EXTENSION, "127.0.0.1", node.settings.sip_port, wav, workdir=folder, timeout_s=60
    )


async def test_mm_hmm_and_a_cough_over_the_greeting_do_not_stop_it(
    node: Node, tmp_path: Path
) -> None:
    # the greeting starts 2.5-6 s into the call on a busy machine and lasts ~10 s.
    # (piper's "Mm-hmm." is heard by whisper tiny as "and my mom": real words, so it
    # would interrupt; "Uh-huh" and "Yeah" are heard as what they are). A "Yeah" at 11 s
    # once met the greeting's end and, the agent silent, was rightly the caller's turn:
    # both sounds come well inside the greeting
    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "caller.wav", [(6.5, "Uh-huh."), (9.5, "Yeah.")], 26.0
    )
    with_cough(wav, 8.0)
    result = await dial(node, wav, tmp_path)
    said = words(result)
    record = node.edge.record(result.call_id or "")
    assert record is not None
    print("caller heard:", said, "\ntranscript:", record.transcript)
    assert "thank you for calling" in said, said
    assert "three minutes" in said, said  # the greeting played to its end
    assert "don t know" not in said  # and nothing answered the "mm-hmm"
    agent = [line for line in record.transcript if line.role == "agent"]
    assert agent and agent[0].interrupted is False, record.transcript
    assert [line for line in record.transcript if line.role == "caller"] == [], record.transcript


async def test_wait_stop_stops_the_agent_within_300_ms(node: Node, tmp_path: Path) -> None:
    wav = await asyncio.to_thread(caller_wav, tmp_path / "caller.wav", [(7.0, "Wait, stop.")], 18.0)
    result = await dial(node, wav, tmp_path)
    assert result.sent_wav is not None and result.received_wav is not None
    sent, received = loud(result.sent_wav), loud(result.received_wav)
    onset = next(i for i, on in enumerate(sent) if on)
    assert 6.8 < onset * HOP < 7.3, onset * HOP
    # the greeting was playing (a pause between its sentences may fall just before onset)
    assert sum(received[onset - 150 : onset]) > 20, "the greeting was not playing"
    quiet_run = 30  # 300 ms of silence: the agent stopped
    stop = next(
        i for i in range(onset, len(received) - quiet_run) if not any(received[i : i + quiet_run])
    )
    stopped_after = (stop - onset) * HOP
    print(f"'wait, stop': agent audio stopped {stopped_after * 1000:.0f} ms after speech onset")
    assert stopped_after <= 0.300, stopped_after
    said = words(result)
    record = node.edge.record(result.call_id or "")
    print("caller heard:", said, "transcript:", record and record.transcript)
    # it did not resume (the words after the interruption point were never played)
    assert "wood oven" not in said and "three minutes" not in said, said
    record = node.edge.record(result.call_id or "")
    assert record is not None
    agent = [line for line in record.transcript if line.role == "agent"]
    assert agent[0].interrupted is True, record.transcript
