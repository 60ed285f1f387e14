"""The try-it call's machinery, shared by its browser test and `bench/tryit_bench.py`.

Owns: `AgentWeb` (the web app with the browser front, admission, the session recorder and
an agent worker on one loop, and, when asked, the SIP edge on the same admission and
agent, so a browser call and a PBX call meet the same receptionist), the page scripts that
record what the page receives (`RECORD_JS`, `STOP_JS`), and reading that recording back
(`decode_webm`, `sound_spans`).
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import av
import numpy as np
from prometheus_client import CollectorRegistry
from tests.support.speech import write_wav
from tests.web.conftest import ALPHA_NUMBERS, CHROMIUM_ARGS, RunningWeb, _Server

from frontdesk.agent.host import AgentHost
from frontdesk.calls.routing import RoutingDecider
from frontdesk.config import Settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import update_number
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx
from frontdesk.tasks import TaskOwner
from frontdesk.web.app import create_app
from frontdesk.web.security import server_config
from frontdesk.webrtc.calls import BrowserCalls

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


NUMBER = ALPHA_NUMBERS[0]
QUESTION = "Do you deliver?"
ANSWER = "Yes, within 5 km, for 2 euros."
GREETING = "Hello, this is Alpha."


async def give_number_a_knowledge_base(conninfo: str, max_calls: int) -> None:
    """alpha's first number: a short greeting, one FAQ entry, `max_calls` lines."""
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn, NUMBER, default_country="IT", max_concurrent_calls=max_calls,
                override_changes={
                    "greeting": GREETING,
                    "knowledge_base": [{"question": QUESTION, "answer": ANSWER}],
                },
            )  # fmt: skip
    finally:
        await pool.close()


def fake_microphone_args(wav: Path) -> list[str]:
    """Chromium's arguments for a call whose microphone plays `wav` once, unasked."""
    return [
        *CHROMIUM_ARGS,
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={wav}%noloop",
        "--autoplay-policy=no-user-gesture-required",
        "--disable-features=WebRtcHideLocalIpsWithMdns",
    ]


class AgentWeb(RunningWeb):
    """The web app with the browser front, admission, the recorder and one agent worker;
    with `with_edge`, the SIP edge too (on `settings.sip_port`)."""

    def __init__(self, conninfo: str, settings: Settings, *, with_edge: bool = False) -> None:
        super().__init__(conninfo, settings)
        self.with_edge = with_edge

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
        edge: EdgeServer | None = None
        if self.with_edge:
            edge = EdgeServer(
                self.settings, admission, on_record=recorder.submit, responder=host.run_call
            )
        await host.start()
        if edge is not None:
            await edge.start()
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
            if edge is not None:
                await edge.stop(grace=0.5)
            await host.stop()
            await recorder.flush()
            app.state.live.close()
            await admission.aclose()
            await tasks.close()
            await pool.close()


def decode_webm(data: bytes, path: Path) -> tuple[Path, np.ndarray]:
    """The recorded WebM/Opus as a 16 kHz mono WAV (and its samples)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    pcm = bytearray()
    with av.open(io.BytesIO(data), mode="r") as container:
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
