"""/tickets in a real browser (Debian Chromium through Playwright) against the real app.

The owner has the inbox open when a call's agent files a ticket (the store function behind
the agent's `create_ticket` tool): the row appears without a reload; the owner opens it,
reads the call's transcript and marks it done. A member of the same organization sees it
done and cannot change it; another organization's ticket is a 404 page; the CSV export of
the filtered list holds exactly its rows; at 390 px the pages never scroll sideways.
Screenshots go to tests/web/artifacts/.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_NUMBERS,
    WebApp,
    login,
    screenshot,
)
from tests.web.test_tickets import seed_ticket

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def no_sideways_scroll(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide at 390 px"


async def test_a_new_ticket_appears_is_done_and_members_only_view(page: Page, web: WebApp) -> None:
    older = await seed_ticket(
        web, ALPHA_NUMBERS[1], "+393332222222", kind="message", summary="Lost umbrella"
    )
    beta = await seed_ticket(web, BETA_NUMBERS[0], "+393334444444", kind="callback")
    await login(page, ALPHA_OWNER)
    await page.goto("/tickets")
    await expect(page.locator(f"tr[data-ticket='{older}']")).to_be_visible()
    await expect(page.locator(f"tr[data-ticket='{beta}']")).to_have_count(0)
    await page.wait_for_function("() => document.body.dataset.ticketsLive === 'open'")
    await page.evaluate("window.__marker = 'no reload'")

    began = time.monotonic()
    ticket = await seed_ticket(web, ALPHA_NUMBERS[0], "+393331111111")
    row = page.locator(f"#tickets tr[data-ticket='{ticket}']")
    await expect(row).to_be_visible(timeout=5000)
    lag = time.monotonic() - began
    print(f"\nticket created -> row on /tickets: {lag:.2f} s")
    assert await page.evaluate("window.__marker") == "no reload"
    await expect(row).to_contain_text("Two pizzas for delivery")
    await expect(row).to_contain_text("+393331111111")
    await expect(row).to_contain_text(ALPHA_NUMBERS[0])
    await expect(row).to_contain_text("alpha line 1")
    await expect(row).to_contain_text("order")
    await expect(row).to_contain_text("open")
    first = page.locator("#tickets tbody tr").first
    await expect(first).to_have_attribute("data-ticket", str(ticket))  # newest first
    await screenshot(page, "tickets-new-ticket-live")

    async with page.expect_navigation():
        await row.locator("a").click()
    await expect(page.locator("#transcript")).to_contain_text("I want two pizzas")
    await expect(page.locator("#details")).to_contain_text("Margherita and diavola")
    await page.select_option("select[name=status]", "done")
    await page.fill("textarea[name=note]", "Delivered at 20:10")
    async with page.expect_navigation():
        await page.click("#ticket-form button[type=submit]")
    await expect(page.locator("#saved")).to_be_visible()
    await expect(page.locator("#status")).to_have_text("done")
    await expect(page.locator("textarea[name=note]")).to_have_value("Delivered at 20:10")
    await screenshot(page, "tickets-marked-done")

    other = await page.context.browser.new_context(base_url=web.url)  # type: ignore[union-attr]
    member = await other.new_page()
    try:
        await login(member, ALPHA_MEMBER)
        await member.goto("/tickets?status=done")
        await expect(member.locator(f"tr[data-ticket='{ticket}']")).to_contain_text("done")
        await expect(member.locator("#tickets tbody tr[data-ticket]")).to_have_count(1)
        await member.goto(f"/tickets/{ticket}")
        await expect(member.locator("#status")).to_have_text("done")
        await expect(member.locator("#view-only")).to_be_visible()
        await expect(member.locator("select[name=status]")).to_be_disabled()
        await expect(member.locator("#ticket-form button[type=submit]")).to_have_count(0)
        await screenshot(member, "tickets-member-view")
        answer = await member.goto(f"/tickets/{beta}")
        assert answer is not None and answer.status == 404
        await expect(member.locator("h1")).to_contain_text("404")
    finally:
        await other.close()


async def test_csv_export_holds_the_filtered_rows(page: Page, web: WebApp, tmp_path: Path) -> None:
    order = await seed_ticket(web, ALPHA_NUMBERS[0], "+393331111111")
    callback = await seed_ticket(
        web, ALPHA_NUMBERS[1], "+393332222222", kind="callback", summary="Call me back"
    )
    await seed_ticket(web, BETA_NUMBERS[0], "+393334444444", kind="callback")
    await login(page, ALPHA_OWNER)
    await page.goto("/tickets")
    await page.select_option("select[name=kind]", "callback")
    async with page.expect_navigation():
        await page.click("#filters button[type=submit]")
    await expect(page.locator("#tickets tbody tr[data-ticket]")).to_have_count(1)
    async with page.expect_download() as download_info:
        await page.click("#export")
    download = await download_info.value
    target = tmp_path / "tickets.csv"
    await download.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [r["ticket id"] for r in rows] == [str(callback)]
    assert rows[0]["summary"] == "Call me back" and rows[0]["caller"] == "+393332222222"
    assert str(order) not in target.read_text(encoding="utf-8")

    # a bad filter value: its error next to its field, the other values kept
    await page.fill("input[name=caller]", "abc")
    async with page.expect_navigation():
        await page.click("#filters button[type=submit]")
    await expect(page.locator("#error-caller")).to_be_visible()
    await expect(page.locator("select[name=kind]")).to_have_value("callback")
    await screenshot(page, "tickets-filter-error")


async def test_pages_fit_a_phone(page: Page, web: WebApp) -> None:
    ticket = await seed_ticket(web, ALPHA_NUMBERS[0], "+393331111111")
    await page.set_viewport_size({"width": 390, "height": 844})
    await login(page, ALPHA_OWNER)
    await page.goto("/tickets")
    await expect(page.locator(f"tr[data-ticket='{ticket}']")).to_be_visible()
    await no_sideways_scroll(page)
    await screenshot(page, "tickets-390px")
    await page.goto(f"/tickets/{ticket}")
    await expect(page.locator("#transcript")).to_be_visible()
    await no_sideways_scroll(page)
    await screenshot(page, "ticket-390px")
