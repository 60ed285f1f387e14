"""/operations in a real browser (Debian Chromium through Playwright) against the real app.

A real sipp call, answered by an EdgeServer with Admission on the app's database, shows in
the live table while it lasts (no reload) and then in the history, with its details page;
analytics (chart, heat map, refusals) render from seeded sessions, and a tenant's page never
shows another organization's calls. Screenshots go to tests/web/artifacts/.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect
from tests.conftest import SIPP_DATA, require_tool, wait_for
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.web.conftest import ALPHA_NUMBERS, ALPHA_OWNER, BETA_OWNER, WebApp, login, screenshot
from tests.web.test_operations import operations_web, seed_calls

from frontdesk.edge.server import EdgeServer
from frontdesk.store.sessions import SessionRecorder

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def web(web_db: str) -> Iterator[WebApp]:
    """The app with /operations (see test_operations.operations_web)."""
    yield from operations_web(web_db)


async def test_a_real_call_is_live_then_in_history(
    page: Page, web: WebApp, node: EdgeServer
) -> None:
    require_tool("sipp", "sip-tester")
    await login(page, ALPHA_OWNER)
    await page.goto("/operations")
    number_id = web.numbers[ALPHA_NUMBERS[0]]
    cell = page.locator(f"#live-table [data-live-count='{number_id}']")
    await expect(cell).to_have_text("0")
    await page.wait_for_function("() => document.body.dataset.liveUpdates >= 1")  # stream open
    await page.evaluate("window.__marker = 'no reload'")
    call = asyncio.create_task(
        sipp(node, SIPP_DATA / "uac_basic.xml", service=ALPHA_NUMBERS[0],
             extra_args=["-d", "3000"], timeout_s=30)
    )  # fmt: skip
    began = time.monotonic()
    while not node.calls:
        assert time.monotonic() - began < 10, "the call was not answered"
        await asyncio.sleep(0.02)
    answered = time.monotonic()
    await expect(cell).to_have_text("1", timeout=3000)
    lag = time.monotonic() - answered
    await expect(page.locator("#live-total")).to_have_text("1")
    await expect(page.locator(f"#live-table tr[data-number='{number_id}']")).to_contain_text(
        "sipp"
    )  # the caller, from /api/v1/operations/live after the event
    await screenshot(page, "operations-live-call")
    assert_ok(await call)
    await expect(cell).to_have_text("0", timeout=5000)
    assert await page.evaluate("window.__marker") == "no reload"
    print(f"\nanswer -> live count on /operations: {lag:.2f} s")
    assert lag <= 1.0

    recorder: SessionRecorder = node.recorder  # type: ignore[attr-defined]
    assert await wait_for(lambda: recorder.written >= 1, 5)
    record = node.history[-1]
    session_id = record.session_id
    await page.reload()
    row = page.locator(f"#history-table tr[data-session='{session_id}']")
    await expect(row).to_contain_text("sipp")
    await expect(row).to_contain_text(ALPHA_NUMBERS[0])
    await expect(row).to_contain_text("answered")  # people's words: "completed", "remote-bye"
    await expect(row).to_contain_text("caller hung up")
    await screenshot(page, "operations-history-after-call")
    async with page.expect_navigation():
        await row.locator("a:has-text('details')").click()
    await expect(page.locator("#call")).to_contain_text(record.call_id)
    await expect(page.locator("#call")).to_contain_text("0:0")  # ~3 s of talk time
    await screenshot(page, "operations-call-detail")


async def test_analytics_render_from_seeded_data(page: Page, web: WebApp) -> None:
    seeded = await seed_calls(web)
    day = seeded.day.isoformat()
    await login(page, ALPHA_OWNER)
    await page.goto(f"/operations?from={day}&to={day}")
    await expect(page.locator("#total-calls")).to_have_text("4")
    await expect(page.locator("#avg-duration")).to_have_text("2:00")
    await page.wait_for_function("() => document.body.dataset.chart === 'drawn'")
    assert await page.locator("#per-day").evaluate("c => c.width > 0 && c.height > 0")
    monday = page.locator("#heatmap tbody tr").nth(0).locator("td")
    await expect(monday.nth(9)).to_have_attribute("data-calls", "2")
    await expect(monday.nth(15)).to_have_attribute("data-calls", "1")
    await expect(page.locator("#refusals tr[data-group='number limit'] td.num")).to_have_text("1")
    await expect(page.locator("#refusals tr[data-group='inactive'] td.num")).to_have_text("1")
    rows = page.locator("#history-table tbody tr[data-session]")
    await expect(rows).to_have_count(4)
    assert "+393334444444" not in await page.content()  # beta's caller
    await screenshot(page, "operations-analytics-tenant")

    other = await page.context.browser.new_context(base_url=web.url)  # type: ignore[union-attr]
    beta = await other.new_page()
    try:
        await login(beta, BETA_OWNER)
        await beta.goto(f"/operations?from={day}&to={day}")
        await expect(beta.locator("#total-calls")).to_have_text("2")
        await expect(beta.locator("#history-table tbody tr[data-session]")).to_have_count(2)
        assert "+393331111111" not in await beta.content()  # alpha's caller
        await screenshot(beta, "operations-analytics-other-tenant")
    finally:
        await other.close()
