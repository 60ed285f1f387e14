""" "Talk to your receptionist": Chromium calls a number over WebRTC and hears its answer.

Chromium (Debian's) with a fake microphone that plays piper speech of a knowledge-base
question clicks the button on the number's page; the call goes through the real routing
and admission on the embedded Postgres, the agent runs in a worker process with the
offline providers (silero VAD, whisper, the knowledge-base responder, piper), and the
page's received audio is recorded in the page (MediaRecorder on the remote stream),
decoded here and transcribed with whisper. The call then appears in the history
(`sessions` row, caller `browser:<email>`), and a second call to the full number is
refused with the plain words on the page.
"""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from playwright.async_api import Page
from prometheus_client import CollectorRegistry
from tests.integration.store.support import run_async
from tests.web.conftest import (
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    CHROMIUM_ARGS,
    RunningWeb,
    WebApp,
    _Server,
    login,
    screenshot,
    seed,
    web_settings,
)

from frontdesk.agent.host import AgentHost
from frontdesk.calls.routing import RoutingDecider
from frontdesk.store.admission import Admission
from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import update_number
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx
from frontdesk.tasks import TaskOwner
from frontdesk.testing.speech import caller_wav, speech_pcm, transcribe, write_wav
from frontdesk.web.app import create_app
from frontdesk.web.security import server_config
from frontdesk.webrtc.calls import BrowserCalls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "Do you deliver?"
ANSWER = "Yes, within 5 km, for 2 euros."
QUESTION_AT_S = 7.0  # the greeting is over by then
CALL_S = 20.0
NUMBER = ALPHA_NUMBERS[0]

RECORD_JS = """() => new Promise((resolve) => {
  const start = () => {
    const t = window.frontdeskTryit;
    const rec = new MediaRecorder(t.remote, {mimeType: "audio/webm;codecs=opus"});
    const chunks = [];
    rec.ondataavailable = (e) => chunks.push(e.data);
    rec.start(250);
    window.frontdeskRecording = {rec, chunks, startedAt: performance.now()};
    resolve(performance.now() - t.clickedAt);
  };
  if (window.frontdeskTryit && window.frontdeskTryit.remote.getAudioTracks().length) start();
  else document.addEventListener("frontdesk:tryit-audio", start, {once: true});
})"""

STOP_JS = """() => new Promise((resolve) => {
  const r = window.frontdeskRecording;
  r.rec.onstop = async () => {
    const blob = new Blob(r.chunks, {type: "audio/webm"});
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = "";
    for (let i = 0; i < bytes.length; i += 8192) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
    resolve(btoa(text));
  };
  r.rec.stop();
})"""


class AgentWeb(RunningWeb):
    """The web app with the browser front, admission, the recorder and one agent worker."""

    def start(self) -> None:
        self.thread.start()
        assert self.up.wait(120), "the web app with its agent worker did not start"
        if self.error is not None:
            raise self.error

    async def _serve(self) -> None:
        pool = await open_pool(self.conninfo, max_size=6)
        tasks = TaskOwner("tryit-test")
        routing = RoutingDecider(await load_routing_table(pool, "IT"))
        admission = Admission(pool, routing, node_id="tryit", node_max_calls=4, node_ttl=5)
        await admission.register()
        recorder = SessionRecorder(pool, "tryit", retry_s=0.2)
        tasks.spawn(recorder.run(), name="recorder")
        tasks.spawn(admission.run_heartbeat(), name="heartbeat")
        host = AgentHost(self.settings, pool)
        await host.start()
        self.browser_calls = BrowserCalls(admission, host.run_call, recorder.submit, 60.0)

        async def ready() -> dict[str, bool]:
            return {"database": True}

        app = create_app(
            settings=self.settings, pool=pool, registry=CollectorRegistry(), ready=ready,
            tasks=tasks, browser_calls=self.browser_calls,
        )  # fmt: skip
        self.app = app
        self.server = _Server(
            server_config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=1)
        )
        serving = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        try:
            while not self.server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            self.up.set()
            await serving
        finally:
            await self.browser_calls.close()
            await host.stop()
            await recorder.flush()
            app.state.live.close()
            await admission.aclose()
            await tasks.close()
            await pool.close()


async def _with_knowledge(conninfo: str) -> None:
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn, NUMBER, default_country="IT", max_concurrent_calls=1,
                override_changes={
                    "greeting": "Hello, this is Alpha.",
                    "knowledge_base": [{"question": QUESTION, "answer": ANSWER}],
                },
            )  # fmt: skip
    finally:
        await pool.close()


@pytest.fixture
def agent_web(web_db: str, tmp_path: Path) -> Iterator[WebApp]:
    seeded = run_async(seed(web_db))
    run_async(_with_knowledge(web_db))
    running = AgentWeb(web_db, web_settings(agent_workers=1, data_dir=tmp_path / "data"))
    try:
        running.start()
        yield WebApp(running.url, web_db, running.settings, seeded["tokens"], seeded["numbers"])
    finally:
        running.stop()


def decode_webm(data: bytes, path: Path) -> tuple[Path, np.ndarray]:
    """The recorded WebM/Opus as a 16 kHz mono WAV (and its samples)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    pcm = bytearray()
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                pcm += bytes(out.planes[0])[: 2 * out.samples]
    write_wav(path, bytes(pcm), 16000)
    return path, np.frombuffer(bytes(pcm), dtype="<i2").astype(np.float32) / 32768


def sound_spans(samples: np.ndarray, rate: int = 16000) -> list[tuple[float, float]]:
    """(start s, end s) of each run of sound (20 ms RMS above -40 dBFS, gaps ≤ 0.5 s)."""
    hop = rate // 50
    rms = [
        float(np.sqrt(np.mean(np.square(samples[i : i + hop]))))
        for i in range(0, len(samples) - hop, hop)
    ]
    spans: list[tuple[float, float]] = []
    for index, value in enumerate(rms):
        if value <= 0.01:
            continue
        at = index / 50
        if spans and at - spans[-1][1] <= 0.5:
            spans[-1] = (spans[-1][0], at + 0.02)
        else:
            spans.append((at, at + 0.02))
    return spans


async def history_rows(conninfo: str, caller: str) -> list[tuple[str, str]]:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(
                "SELECT outcome, reason FROM sessions WHERE caller_number = %s"
                " AND outcome <> 'in-progress' ORDER BY started_at",
                (caller,),
            )
            rows = await cursor.fetchall()
    finally:
        await pool.close()
    return [(row[0], row[1]) for row in rows]


async def test_talk_to_your_receptionist_answers_from_the_knowledge_base(
    agent_web: WebApp, tmp_path: Path, record_property: object
) -> None:
    from playwright.async_api import async_playwright

    wav = await asyncio.to_thread(
        caller_wav, tmp_path / "caller.wav", [(QUESTION_AT_S, QUESTION)], CALL_S, 16000
    )
    question_end_s = QUESTION_AT_S + len(speech_pcm(QUESTION)) / 32000
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=args
        )
        try:
            context = await browser.new_context(base_url=agent_web.url)
            page: Page = await context.new_page()
            await login(page, ALPHA_OWNER)
            number_id = agent_web.numbers[NUMBER]
            await page.goto(f"/numbers/{number_id}")
            # the text chat beside the call: the same receptionist answers from the KB
            await page.get_by_label("Your message").fill(QUESTION)
            await page.get_by_role("button", name="Send").click()
            await page.get_by_text("within 5 km").wait_for(timeout=10_000)
            recording = asyncio.ensure_future(page.evaluate(RECORD_JS))
            await asyncio.sleep(0.2)
            await page.get_by_role("button", name="Talk to your receptionist").click()
            track_after_ms = await asyncio.wait_for(recording, 20)
            await page.get_by_role("button", name="Hang up").wait_for(timeout=20_000)

            # a second call while the first holds the number's only line: refused, in words
            second = await context.new_page()
            await second.goto(f"/numbers/{number_id}")
            await second.get_by_text("This number is full").first.wait_for(timeout=5000)
            await second.get_by_role("button", name="Talk to your receptionist").click()
            await second.get_by_text("This number is full", exact=False).last.wait_for(
                timeout=10_000
            )
            await screenshot(second, "tryit-number-full")
            await second.close()

            await asyncio.sleep(CALL_S - 1.0)
            webm = base64.b64decode(await page.evaluate(STOP_JS))
            await screenshot(page, "tryit-in-call")
            await page.get_by_role("button", name="Hang up").click()
            await page.get_by_text("You hung up.").wait_for(timeout=5000)
        finally:
            await browser.close()

    received, samples = await asyncio.to_thread(decode_webm, webm, tmp_path / "received.wav")
    spans = sound_spans(samples)
    segments = await asyncio.to_thread(transcribe, received)
    heard = " ".join(text for _, _, text in segments).lower()
    assert "hello" in heard and "alpha" in heard, heard
    # the knowledge base's answer (not in the greeting): "Yes, within 5 km, for 2 euros."
    assert "within" in heard, heard
    # figures: click → greeting heard; caller's end of speech → first agent audio after it
    greeting_s = track_after_ms / 1000 + spans[0][0]
    answer_spans = [span for span in spans if span[0] + track_after_ms / 1000 > QUESTION_AT_S]
    assert answer_spans, spans
    reply_s = answer_spans[0][0] + track_after_ms / 1000 - question_end_s
    record_property("speech_end_to_agent_audio_s", round(reply_s, 3))  # type: ignore[operator]
    record_property("click_to_greeting_s", round(greeting_s, 3))  # type: ignore[operator]
    record_property("received_spans", spans)  # type: ignore[operator]

    caller = f"browser:{ALPHA_OWNER}"
    deadline = time.monotonic() + 10
    rows = await history_rows(agent_web.conninfo, caller)
    while len(rows) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        rows = await history_rows(agent_web.conninfo, caller)
    # the test call, hung up from the page; the second, refused: the number was full
    assert sorted(rows) == [("completed", "remote-bye"), ("rejected", "limit-number")], rows
