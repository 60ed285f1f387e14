"""kill -9 of a `frontdesk run` node in the middle of a recorded call: the file decodes.

A real node process (tests/integration/store/cluster.py) answers a sipp call to a number
with `record_calls` on; sipp sends a 1 kHz tone (PCMA) for 10 s. About 4 s in, the node
gets SIGKILL: no close, no end of stream. What it left in its recordings directory is
read with libsndfile like any other Ogg Opus file: it decodes, holds the seconds up to
the crash (minus at most the flush interval), and its left channel is the caller's tone.
The node then starts again, ends its dead call's row (`node-restart`), and the call's
page finds the recording although that row never got to name it.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile
from tests.conftest import SIPP_DATA, require_tool
from tests.integration.store.cluster import Cluster, seed
from tests.integration.store.support import run_async
from tests.support.sipp import SippResult, run_sipp, write_rtp_pcap

from frontdesk.media import g711
from frontdesk.store.engine import open_pool
from frontdesk.store.history import SessionDetail, session_detail
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx
from frontdesk.web.operations import call_recording

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NUMBER = "+390551230077"


async def _record(conninfo: str) -> None:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn, NUMBER, default_country="IT", override_changes={"record_calls": True}
            )
    finally:
        await pool.close()


async def _detail(conninfo: str, session_id: uuid.UUID) -> SessionDetail:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool) as conn:
            detail = await session_detail(conn, None, session_id)
    finally:
        await pool.close()
    assert detail is not None
    return detail


def test_kill_9_mid_call_leaves_a_recording_that_decodes(db: str, tmp_path: Path) -> None:
    require_tool("sipp", "sip-tester")
    seed(db, {"studio": None}, {NUMBER: ("studio", 1)})
    run_async(_record(db))
    t = np.arange(10 * 8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2").tobytes()
    pcap = tmp_path / "tone.pcap"
    packets = write_rtp_pcap(pcap, g711.encode("PCMA", tone), payload_type=8, ptime_ms=20)
    with Cluster(db, tmp_path / "nodes") as cluster:
        (node,) = cluster.start(1)
        results: list[SippResult] = []
        caller = threading.Thread(
            target=lambda: results.append(
                run_sipp(
                    SIPP_DATA / "uac_pcap_pcma_20.xml",
                    node.target,
                    service=NUMBER,
                    keys={"pcap": str(pcap)},
                    extra_args=["-d", str(packets * 20 + 500)],
                    timeout_s=25,
                )
            )
        )
        caller.start()
        recordings = node.data_dir / "recordings"
        deadline = time.monotonic() + 15
        files: list[Path] = []
        while not files and time.monotonic() < deadline:
            files = list(recordings.glob("*/*.ogg"))
            time.sleep(0.05)
        assert files, f"no recording appeared\n{node.tail()}"
        time.sleep(4.0)
        assert node.alive, node.tail()
        cluster.kill9(node)
        caller.join(40)
        cluster.wait_up([cluster.restart(node)])  # reaps its own rows: node-restart
    (path,) = files
    detail = run_async(_detail(db, uuid.UUID(path.stem)))
    assert detail.row.reason == "node-restart" and detail.recording_path is None
    assert call_recording(recordings, detail) == path.resolve()
    crashed = tmp_path / "after-crash.ogg"
    shutil.copy(path, crashed)
    audio, rate = soundfile.read(crashed, dtype="int16")
    seconds = len(audio) / rate
    print(f"\nkill -9 about 4 s into the call: {seconds:.2f} s of it decode")
    assert audio.shape[1] == 2 and rate == 16000
    assert 2.5 <= seconds <= 5.0, seconds
    left = audio[rate : 2 * rate, 0].astype(float)
    spectrum = np.abs(np.fft.rfft(left))
    assert abs(np.fft.rfftfreq(len(left), 1 / rate)[int(np.argmax(spectrum))] - 1000) < 10
