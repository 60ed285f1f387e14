"""A recorded call on the operations call page: Chromium plays it, another org gets 404.

A real sipp call (PCMA, a 1 kHz tone for 3 s) to alpha's number with `record_calls` on is
answered by an EdgeServer with admission and a `RecordingWriter` on the web app's database
and recordings directory; the echo responder plays the greeting. The call's page then has
an <audio> element whose duration Chromium reads from the served file, the API serves it
with Range support to alpha, and beta's owner gets 404 for it, as for the call itself.
The page with its player has no serious axe-core finding.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from playwright.async_api import Page, expect
from tests.conftest import SIPP_DATA, EdgeFactory, require_tool, wait_for
from tests.integration.store.support import run_async
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.support.sipp import write_rtp_pcap
from tests.web.conftest import (
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_OWNER,
    RunningWeb,
    WebApp,
    login,
    screenshot,
    seed,
    web_settings,
)
from tests.web.test_pages_browser import axe_violations

from frontdesk.calls.routing import RoutingDecider
from frontdesk.edge.server import EdgeServer
from frontdesk.media import g711
from frontdesk.store.admission import Admission
from frontdesk.store.agent_records import create_ticket
from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import update_number
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RECORDED = ALPHA_NUMBERS[0]


async def _record_number(conninfo: str) -> None:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn, RECORDED, default_country="IT", override_changes={"record_calls": True}
            )
    finally:
        await pool.close()


@pytest.fixture
def web(web_db: str, tmp_path: Path) -> Iterator[WebApp]:
    """The app, with recordings under tmp_path and alpha's first number recorded."""
    seeded = run_async(seed(web_db))
    run_async(_record_number(web_db))
    running = RunningWeb(web_db, web_settings(recordings_dir=tmp_path / "recordings"))
    try:
        running.start()
        yield WebApp(running.url, web_db, running.settings, seeded["tokens"], seeded["numbers"])
    finally:
        running.stop()


def finished(path: Path, seconds: float) -> bool:
    """The recording is on disk and decodes to at least `seconds`."""
    try:
        return soundfile.info(path).duration >= seconds
    except (OSError, RuntimeError):  # not there yet, or no complete page yet
        return False


@pytest.fixture
async def recording_node(web: WebApp, edge_factory: EdgeFactory) -> AsyncIterator[EdgeServer]:
    pool = await open_pool(web.conninfo, max_size=4)
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id="rec-edge", node_max_calls=10, node_ttl=5)
    await admission.register()
    recorder = SessionRecorder(pool, "rec-edge", retry_s=0.2)
    task = asyncio.create_task(recorder.run())
    try:
        edge = await edge_factory(
            decider=admission,
            on_record=recorder.submit,
            recordings_dir=web.settings.recordings_path,  # where the web app reads them
        )
        edge.recordings = True  # the media worker writes them under recordings_path
        edge.recorder = recorder  # type: ignore[attr-defined]
        yield edge
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()


async def test_a_recorded_call_plays_in_chromium_and_is_404_to_another_org(
    page: Page, web: WebApp, recording_node: EdgeServer, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    t = np.arange(3 * 8000) / 8000
    tone = (8000 * np.sin(2 * np.pi * 1000 * t)).astype("<i2").tobytes()
    pcap = tmp_path / "tone.pcap"
    packets = write_rtp_pcap(pcap, g711.encode("PCMA", tone), payload_type=8, ptime_ms=20)
    result = await sipp(
        recording_node,
        SIPP_DATA / "uac_pcap_pcma_20.xml",
        service=RECORDED,
        keys={"pcap": str(pcap)},
        extra_args=["-d", str(packets * 20 + 500)],
        timeout_s=30,
    )
    assert_ok(result)
    recorder: SessionRecorder = recording_node.recorder  # type: ignore[attr-defined]
    assert await wait_for(lambda: recorder.written >= 1, 10)
    record = recording_node.history[-1]
    assert record.recording_path is not None and record.session_id is not None
    session_id: uuid.UUID = record.session_id
    path = web.settings.recordings_path / record.recording_path
    assert await wait_for(lambda: finished(path, 3.0), 10)  # the worker closes it just after
    info = soundfile.info(path)
    assert info.channels == 2 and 3.0 <= info.duration <= 4.5, info
    audio_data, rate = soundfile.read(path, dtype="int16")
    left = audio_data[rate : 2 * rate, 0].astype(float)  # the caller's tone, 1 s in
    spectrum = np.abs(np.fft.rfft(left))
    assert abs(np.fft.rfftfreq(len(left), 1 / rate)[int(np.argmax(spectrum))] - 1000) < 10

    # the call's page plays it: Chromium reads the duration from the served Ogg Opus file
    await login(page, ALPHA_OWNER)
    await page.goto(f"/operations/calls/{session_id}")
    audio = page.locator("#recording audio")
    await expect(audio).to_have_count(1)
    await page.wait_for_function(
        "() => document.querySelector('#recording audio').readyState >= 1", timeout=10_000
    )
    duration = await audio.evaluate("a => a.duration")
    assert abs(duration - info.duration) < 0.2, (duration, info.duration)
    assert await audio.evaluate("a => a.error") is None
    await expect(page.locator("#recording a[download]")).to_have_count(1)
    await screenshot(page, "operations-call-recording")
    assert await axe_violations(page) == []  # the player and its link are accessible

    # a ticket the call left links the same recording (page and API)
    pool = await open_pool(web.conninfo, max_size=1)
    try:
        assert record.owner is not None
        ticket_id = await create_ticket(
            pool, uuid.UUID(record.owner.org_id), kind="message", subject="Call me back", body="",
            session_id=session_id, customer_id=None,
        )  # fmt: skip
    finally:
        await pool.close()
    await page.goto(f"/tickets/{ticket_id}")
    ticket_audio = page.locator("#recording audio")
    await expect(ticket_audio).to_have_count(1)
    await ticket_audio.evaluate("a => a.load()")  # preload="none" on the ticket page
    for _ in range(100):
        if await ticket_audio.evaluate("a => a.readyState >= 1"):
            break
        await asyncio.sleep(0.1)
    assert abs(await ticket_audio.evaluate("a => a.duration") - info.duration) < 0.2

    url = f"/api/v1/operations/calls/{session_id}/recording"
    with web.client(web.tokens[ALPHA_OWNER]) as alpha:
        ticket = alpha.get(f"/api/v1/tickets/{ticket_id}").json()
        assert ticket["call_detail"]["recording_url"] == f"{url}?org=alpha", ticket
        whole = alpha.get(url)
        assert whole.status_code == 200, whole.text
        assert whole.headers["content-type"] == "audio/ogg"
        assert whole.content == path.read_bytes()
        part = alpha.get(url, headers={"Range": "bytes=0-99"})
        assert part.status_code == 206 and part.content == whole.content[:100]
        detail = alpha.get(f"/api/v1/operations/calls/{session_id}").json()
        assert detail["recording_url"] == url
    with web.client(web.tokens[BETA_OWNER]) as beta:
        assert beta.get(url).status_code == 404  # beta cannot see alpha's call
        assert beta.get(f"{url}?org=alpha").status_code == 404
    # retention took the file: the row still names it, the API says 404
    path.unlink()
    with web.client(web.tokens[ALPHA_OWNER]) as alpha:
        assert alpha.get(url).status_code == 404
