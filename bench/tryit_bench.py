"""The browser test call ("Talk to your receptionist") beside a PBX call, same receptionist.

One node on the embedded Postgres serves both ways in: the web app with the WebRTC front
and the SIP edge share one admission and one agent worker (offline providers). Each round
places a browser call (Chromium with a fake microphone playing the caller's WAV, clicking
the button on the number's page; what the page receives is recorded in the page) and a
baresip call to the same number with the same words, one after the other. Reported, for
each way in:

- call start → greeting heard: click → first greeting audio in the page (browser);
  dial → first greeting audio baresip received (PBX, SIP set-up included);
- caller's end of speech → first agent audio of the answer.

python -m bench.tryit_bench [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tests.conftest import edge_settings
from tests.support.audio import read_wav
from tests.support.baresip import place_call
from tests.support.speech import caller_wav, speech_pcm
from tests.web.conftest import ALPHA_OWNER, login, seed
from tests.web.tryit_support import (
    NUMBER,
    QUESTION,
    RECORD_JS,
    STOP_JS,
    AgentWeb,
    decode_webm,
    fake_microphone_args,
    give_number_a_knowledge_base,
    sound_spans,
)

from frontdesk.store.embedded import EmbeddedPostgres
from frontdesk.store.migrate import migrate

EXTENSION_DIALLED = NUMBER  # the edge routes the full number as dialled by the PBX
QUESTION_AT_S = 6.0  # the greeting is over by then
CALL_S = 14.0


async def prepare(conninfo: str) -> dict[str, object]:
    await migrate(conninfo)
    seeded = await seed(conninfo)
    await give_number_a_knowledge_base(conninfo, max_calls=2)
    return seeded


async def browser_call(url: str, number_id: str, wav: Path, folder: Path) -> tuple[float, float]:
    """(click → greeting s, end of speech → answer s) of one browser call."""
    from playwright.async_api import async_playwright

    question_end_s = QUESTION_AT_S + len(speech_pcm(QUESTION)) / 32000
    args = fake_microphone_args(wav)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=args
        )
        try:
            context = await browser.new_context(base_url=url)
            page = await context.new_page()
            await login(page, ALPHA_OWNER)
            await page.goto(f"/numbers/{number_id}")
            recording = asyncio.ensure_future(page.evaluate(RECORD_JS))
            await asyncio.sleep(0.2)
            await page.get_by_role("button", name="Talk to your receptionist").click()
            track_after_s = await asyncio.wait_for(recording, 20) / 1000
            await asyncio.sleep(CALL_S - 1.0)
            webm = base64.b64decode(await page.evaluate(STOP_JS))
            await page.get_by_role("button", name="Hang up").click()
        finally:
            await browser.close()
    _, samples = await asyncio.to_thread(decode_webm, webm, folder / "received.wav")
    spans = sound_spans(samples)
    answer = next(s for s in spans if s[0] + track_after_s > question_end_s)
    return track_after_s + spans[0][0], answer[0] + track_after_s - question_end_s


async def pbx_call(sip_port: int, wav: Path, folder: Path) -> tuple[float, float]:
    """(dial → greeting s, end of speech → answer s) of one baresip call."""
    question_end_s = QUESTION_AT_S + len(speech_pcm(QUESTION)) / 32000
    call = await place_call(
        EXTENSION_DIALLED, "127.0.0.1", sip_port, wav, workdir=folder, timeout_s=60
    )
    established = call.first("CALL_ESTABLISHED")
    if established is None or call.received_wav is None:
        raise RuntimeError(f"the PBX call was not answered: {call.log_tail}")
    received = read_wav(call.received_wav)
    spans = sound_spans(np.asarray(received.samples, dtype=np.float32), received.rate)
    answer = next(s for s in spans if s[0] > question_end_s)
    return established.at - call.dialled_at + spans[0][0], answer[0] - question_end_s


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return f"median {statistics.median(ms):,.0f} ms (min {ms[0]:,.0f}, max {ms[-1]:,.0f})"


async def run(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tryit-bench-") as scratch:
        root = Path(scratch)
        server = EmbeddedPostgres.for_data_dir(root / "pg")
        await asyncio.to_thread(server.ensure_running)
        try:
            conninfo = await asyncio.to_thread(server.ensure_database, "frontdesk_bench")
            seeded = await prepare(conninfo)
            numbers = seeded["numbers"]
            assert isinstance(numbers, dict)
            settings = edge_settings(agent_workers=1, data_dir=root / "data", media_timeout=30.0)
            web = AgentWeb(conninfo, settings, with_edge=True)
            web.start()
            try:
                browser_wav = caller_wav(
                    root / "caller16.wav", [(QUESTION_AT_S, QUESTION)], CALL_S, 16000
                )
                pbx_wav = caller_wav(root / "caller8.wav", [(QUESTION_AT_S, QUESTION)], CALL_S)
                figures: dict[str, list[tuple[float, float]]] = {"browser": [], "PBX": []}
                for index in range(rounds):
                    folder = root / f"round{index}"
                    folder.mkdir()
                    figures["browser"].append(
                        await browser_call(web.url, str(numbers[NUMBER]), browser_wav, folder)
                    )
                    figures["PBX"].append(await pbx_call(settings.sip_port, pbx_wav, folder))
                    print(f"round {index + 1}: browser {figures['browser'][-1]}, "
                          f"PBX {figures['PBX'][-1]}", file=sys.stderr)  # fmt: skip
            finally:
                web.stop()
        finally:
            await asyncio.to_thread(server.stop)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# python -m bench.tryit_bench --rounds {rounds}   ({platform.node()}, {when})")
    print("| way in | call start → greeting heard | end of speech → first agent audio |")
    print("|---|---|---|")
    for way, pairs in figures.items():
        print(f"| {way} | {summary([p[0] for p in pairs])} | {summary([p[1] for p in pairs])} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    asyncio.run(run(args.rounds))
    print(f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
