"""The pages in a real browser (Chromium through Playwright), against the real app.

A tenant logs in, sees only its numbers, edits a label and a greeting (kept after a reload),
gets 403 on /admin and 404 on another organization's number; the operator adds a number,
assigns it to one organization and reassigns it to another; during a real sipp call the live
count on /numbers goes 0 -> 1 -> 0 without a reload. Screenshots go to tests/web/artifacts/.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from playwright.async_api import Dialog, Page, expect
from tests.conftest import SIPP_DATA, require_tool
from tests.integration.test_edge_calls import assert_ok, sipp
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_NUMBERS,
    OPERATOR,
    WebApp,
    login,
    screenshot,
)

from frontdesk.edge.server import EdgeServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_tenant_sees_own_numbers_edits_and_is_kept_out(page: Page, web: WebApp) -> None:
    await login(page, ALPHA_OWNER)
    await expect(page).to_have_url(f"{web.url}/numbers")
    rows = page.locator("#numbers tbody tr")
    await expect(rows).to_have_count(len(ALPHA_NUMBERS))
    shown = {await row.get_attribute("data-number") for row in await rows.all()}
    assert shown == set(ALPHA_NUMBERS)
    assert BETA_NUMBERS[0] not in await page.content()
    await screenshot(page, "tenant-numbers")

    await page.click(f"text={ALPHA_NUMBERS[0]}")
    # the org answers with the offline responder: the page says the prompt is not used
    await expect(page.locator("#hint-system_prompt")).to_contain_text("Not used")
    await page.fill("input[name=label]", "Orders desk")
    await page.fill("input[name=greeting]", "Alpha Pizzeria, ready for your order!")
    async with page.expect_navigation():
        await page.click("button:has-text('Save')")
    await expect(page.locator("[role=status]")).to_have_text("Saved.")
    await page.reload()
    await expect(page.locator("input[name=label]")).to_have_value("Orders desk")
    await expect(page.locator("input[name=greeting]")).to_have_value(
        "Alpha Pizzeria, ready for your order!"
    )
    # a bad language: the error sits next to the field and nothing is saved
    await page.fill("input[name=label]", "Should not be saved")
    await page.fill("input[name=language]", "not a language")
    async with page.expect_navigation():
        await page.click("button:has-text('Save')")
    await expect(page.locator("#error-language")).to_contain_text("language")
    await screenshot(page, "tenant-field-error")
    await page.goto(page.url)
    await expect(page.locator("input[name=label]")).to_have_value("Orders desk")

    admin = await page.goto("/admin")
    assert admin is not None and admin.status == 403
    await screenshot(page, "tenant-admin-403")
    other = await page.goto(f"/numbers/{web.numbers[BETA_NUMBERS[0]]}")
    assert other is not None and other.status == 404
    assert BETA_NUMBERS[0] not in await page.content()

    await page.goto("/numbers")  # the toggle (htmx) swaps the row in place, after a confirm
    row = page.locator(f"#row-{web.numbers[ALPHA_NUMBERS[1]]}")
    asked: list[str] = []

    async def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await (dialog.dismiss() if len(asked) == 1 else dialog.accept())

    page.on("dialog", answer)
    await row.locator("button:has-text('Deactivate')").click()  # cancelled: nothing changes
    await expect(row.locator(".badge")).to_have_text("active")
    await row.locator("button:has-text('Deactivate')").click()
    await expect(row.locator(".badge")).to_have_text("inactive")
    assert asked and asked[0].startswith(f"Deactivate {ALPHA_NUMBERS[1]}?")
    await page.reload()
    await expect(row.locator(".badge")).to_have_text("inactive")


async def test_member_views_but_cannot_edit(page: Page, web: WebApp) -> None:
    await login(page, ALPHA_MEMBER)
    await page.goto(f"/numbers/{web.numbers[ALPHA_NUMBERS[0]]}")
    await expect(page.locator("input[name=label]")).to_be_disabled()
    await expect(page.locator("button:has-text('Save')")).to_have_count(0)
    await page.goto("/numbers")
    await expect(page.locator("#numbers tbody tr")).to_have_count(len(ALPHA_NUMBERS))
    await expect(page.locator("#numbers button")).to_have_count(0)


async def test_operator_adds_assigns_and_reassigns(page: Page, web: WebApp) -> None:
    await login(page, OPERATOR)
    await page.goto("/admin")
    # a pasted list with one bad line and one duplicate: per-line errors, nothing added
    await page.fill(
        "textarea[name=numbers]", f"055 1119001, Fresh\nnot-a-number\n{BETA_NUMBERS[0]}"
    )
    await page.select_option("form[action='/admin/numbers'] select[name=org]", "alpha")
    async with page.expect_navigation():
        await page.click("form[action='/admin/numbers'] button")
    errors = page.locator("#add-errors li")
    await expect(errors).to_have_count(2)
    await expect(errors.nth(0)).to_contain_text("line 2")
    await expect(errors.nth(1)).to_contain_text(f"line 3: {BETA_NUMBERS[0]}")
    await expect(errors.nth(1)).to_contain_text("beta")
    await screenshot(page, "operator-add-errors")
    assert await page.locator("#numbers tr[data-number='+390551119001']").count() == 0

    await page.fill("textarea[name=numbers]", "055 1119001, Fresh")
    async with page.expect_navigation():
        await page.click("form[action='/admin/numbers'] button")
    await expect(page.locator("[role=status]")).to_have_text("Numbers added.")
    row = page.locator("#numbers tr[data-number='+390551119001']")
    await expect(row.locator(".org")).to_have_text("alpha")

    await row.locator("select[name=org]").select_option("beta")
    async with page.expect_navigation():
        await row.locator("button:has-text('Assign')").click()
    await expect(page.locator("[role=status]")).to_have_text("Number assigned.")
    await expect(row.locator(".org")).to_have_text("beta")
    audit = page.locator("#audit tbody tr").first
    await expect(audit).to_contain_text("+390551119001")
    await expect(audit).to_contain_text(f"user:{OPERATOR}")
    # search and filter
    await page.fill("input[name=q]", "1119001")
    await expect(page.locator("#numbers tbody tr")).to_have_count(1)
    await screenshot(page, "operator-admin")


async def test_live_count_follows_a_real_call_without_reload(
    page: Page, web: WebApp, node: EdgeServer, tmp_path: Path
) -> None:
    require_tool("sipp", "sip-tester")
    await login(page, ALPHA_OWNER)
    cell = page.locator(f"[data-live-count='{web.numbers[ALPHA_NUMBERS[0]]}']")
    await expect(cell).to_have_text("0")
    # a function, not an expression: Playwright evals a function once, an expression at every
    # poll, and the page's CSP (no unsafe-eval) refuses the later ones
    await page.wait_for_function("() => document.body.dataset.liveUpdates >= 1")  # stream is open
    await page.evaluate("window.__marker = 'no reload'")
    call = asyncio.create_task(
        sipp(node, SIPP_DATA / "uac_basic.xml", service=ALPHA_NUMBERS[0],
             extra_args=["-d", "4000"], timeout_s=30)
    )  # fmt: skip
    began = time.monotonic()
    while not node.calls:
        assert time.monotonic() - began < 10, "the call was not answered"
        await asyncio.sleep(0.02)
    answered = time.monotonic()
    await expect(cell).to_have_text("1", timeout=3000)
    lag = time.monotonic() - answered
    await screenshot(page, "live-count-during-call")
    assert_ok(await call)
    await expect(cell).to_have_text("0", timeout=5000)
    assert await page.evaluate("window.__marker") == "no reload"
    print(f"\nanswer -> count on the page: {lag:.2f} s")
    assert lag <= 1.0
