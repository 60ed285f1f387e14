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
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page
from tests.integration.store.support import run_async
from tests.support.speech import caller_wav, speech_pcm, transcribe
from tests.web.conftest import (
    ALPHA_OWNER,
    WebApp,
    login,
    screenshot,
    seed,
    web_settings,
)
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

from frontdesk.store.engine import open_pool
from frontdesk.store.tx import operator_tx

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION_AT_S = 7.0  # the greeting is over by then
CALL_S = 20.0


@pytest.fixture
def agent_web(web_db: str, tmp_path: Path) -> Iterator[WebApp]:
    seeded = run_async(seed(web_db))
    run_async(give_number_a_knowledge_base(web_db, max_calls=1))
    running = AgentWeb(web_db, web_settings(agent_workers=1, data_dir=tmp_path / "data"))
    try:
        running.start()
        yield WebApp(running.url, web_db, running.settings, seeded["tokens"], seeded["numbers"])
    finally:
        running.stop()


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
    args = fake_microphone_args(wav)
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
