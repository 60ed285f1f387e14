"""Organization settings in a real browser, and the next real call using what was saved.

- An owner adds an FAQ entry on /organization in Chromium; the node's routing snapshot
  (reloaded on NOTIFY) carries it within a second, as the route a CallSpec is built from;
  then baresip calls the number, asks that question in piper's voice, and whisper hears
  the new answer in what baresip received (the whole offline agent in a worker process).
- Import: a pasted text is previewed (nothing saved), then confirmed and saved.
- The number page marks fields inherited / overridden, and "reset" brings back the
  organization's value; a member sees the settings but cannot change them.
Screenshots (desktop and 390 px) go to tests/web/artifacts/.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from tests.call_node import running_call_node
from tests.conftest import edge_settings, require_tool
from tests.support.baresip import place_call
from tests.support.speech import caller_wav, transcribe
from tests.web.conftest import ALPHA_MEMBER, ALPHA_NUMBERS, ALPHA_OWNER, WebApp, login, screenshot

from frontdesk.calls.routing import Route, RoutingDecider, RoutingTable
from frontdesk.edge.server import EdgeServer
from frontdesk.store.engine import open_pool

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QUESTION = "Is there parking for customers?"
ANSWER = "Yes, free parking is right behind the restaurant."


@dataclass
class LiveNode:
    """An edge + agent workers on the web app's database, routing kept fresh by NOTIFY."""

    edge: EdgeServer
    decider: RoutingDecider
    sip_port: int
    #: (perf_counter time, snapshot) of every reload
    reloads: list[tuple[float, RoutingTable]] = field(default_factory=list)


@pytest.fixture
async def live_node(web: WebApp, tmp_path: Path) -> AsyncIterator[LiveNode]:
    require_tool("baresip", "baresip")
    settings = edge_settings(agent_workers=1, data_dir=tmp_path / "data", media_timeout=30.0)
    pool = await open_pool(web.conninfo, max_size=4)
    reloads: list[tuple[float, RoutingTable]] = []
    try:
        async with running_call_node(
            pool,
            settings,
            node_max_calls=4,
            heartbeat=True,
            watch_routing=True,
            on_routing=lambda table: reloads.append((time.perf_counter(), table)),
        ) as node:
            yield LiveNode(node.edge, node.routing, settings.sip_port, reloads)
    finally:
        await pool.close()


def route_config_has(table: RoutingTable, question: str) -> bool:
    route = table.route(ALPHA_NUMBERS[0], "1000")
    assert isinstance(route, Route), route
    return any(entry.question == question for entry in route.config.knowledge_base)


async def test_owner_adds_an_faq_entry_and_the_next_call_hears_it(
    page: Page, web: WebApp, live_node: LiveNode, tmp_path: Path
) -> None:
    await login(page, ALPHA_OWNER)
    await page.click("nav >> text=Organization")
    await expect(page.locator("h1")).to_have_text("Alpha Pizzeria")
    await page.fill("#new-question", QUESTION)
    await page.fill("#new-answer", ANSWER)
    assert not route_config_has(live_node.decider.table, QUESTION)
    clicked = time.perf_counter()
    async with page.expect_navigation():
        await page.click("button:has-text('Save knowledge base')")
    await expect(page.locator("[role=status]")).to_contain_text("Knowledge base saved")
    await expect(page.locator("input[name=question]").first).to_have_value(QUESTION)
    await screenshot(page, "org-settings-kb-saved")

    # the node's snapshot (what the next call's CallSpec is built from) has it within 1 s
    deadline = clicked + 5.0
    while not route_config_has(live_node.decider.table, QUESTION):
        assert time.perf_counter() < deadline, "the routing snapshot never got the entry"
        await asyncio.sleep(0.01)
    used_at = next(at for at, table in live_node.reloads if route_config_has(table, QUESTION))
    latency = used_at - clicked
    print(f"KB save (browser click) -> routing snapshot used by the next call: {latency:.3f} s")
    assert latency <= 1.0, latency

    wav = await asyncio.to_thread(caller_wav, tmp_path / "caller.wav", [(3.0, QUESTION)], 14.0)
    result = await place_call(
        ALPHA_NUMBERS[0], "127.0.0.1", live_node.sip_port, wav, workdir=tmp_path, timeout_s=45
    )
    assert result.received_wav is not None, result.log_tail
    segments = await asyncio.to_thread(transcribe, result.received_wav)
    heard = re.sub(r"[^a-z ]+", " ", " ".join(text for _, _, text in segments).lower())
    assert "how can i help" in heard, heard
    assert "parking" in heard and "behind the restaurant" in heard, heard


async def test_import_preview_number_reset_and_member_view(page: Page, web: WebApp) -> None:
    await login(page, ALPHA_OWNER)
    await page.goto("/organization")
    await page.fill(
        "textarea[name=pasted]",
        "Q: Do you deliver?\nA: Yes, within 5 km.\n\nQ: Do you have vegan pizza?\nA: Yes, two.",
    )
    async with page.expect_navigation():
        await page.click("button:has-text('Preview')")
    rows = page.locator("#preview-entries tbody tr")
    await expect(rows).to_have_count(2)
    await expect(page.locator("#import-preview")).to_contain_text("Nothing is saved")
    await expect(page.locator("#kb-form input[name=question]")).to_have_count(1)  # new row only
    await screenshot(page, "org-settings-import-preview")
    async with page.expect_navigation():
        await page.click("button:has-text('Add to the knowledge base')")
    await expect(page.locator("[role=status]")).to_contain_text("Imported")
    questions = page.locator("#kb-form input[name=question]")
    await expect(questions).to_have_count(3)
    await expect(questions.nth(1)).to_have_value("Do you have vegan pizza?")

    await page.set_viewport_size({"width": 390, "height": 844})
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await screenshot(page, "org-settings-390")
    await page.set_viewport_size({"width": 1280, "height": 900})

    # the number page: overridden greeting, inherited language; reset brings it back
    number = web.numbers[ALPHA_NUMBERS[0]]
    await page.goto(f"/numbers/{number}")
    await page.fill("input[name=greeting]", "This number's own greeting")
    async with page.expect_navigation():
        await page.click("button:has-text('Save')")
    await expect(page.locator("#origin-greeting")).to_have_attribute("data-origin", "overridden")
    await expect(page.locator("#origin-language")).to_have_attribute("data-origin", "inherited")
    await screenshot(page, "number-overridden")
    async with page.expect_navigation():
        await page.click("#origin-greeting button")
    await expect(page.locator("#origin-greeting")).to_have_attribute("data-origin", "inherited")
    await expect(page.locator("input[name=greeting]")).to_have_value("")

    # a member sees the settings, cannot change them
    await page.context.clear_cookies()
    await login(page, ALPHA_MEMBER)
    await page.goto("/organization")
    await expect(page.locator("#agent-form input[name=greeting]")).to_be_disabled()
    await expect(page.locator("#new-question")).to_be_disabled()
    await expect(page.locator("button:has-text('Save knowledge base')")).to_have_count(0)
    await expect(page.locator("#import-form")).to_have_count(0)
    await screenshot(page, "org-settings-member")
