"""Onboarding as an operator and a new owner do it, in Debian's Chromium: create an
organization, invite its owner, the owner opens the link in another browser, sets a
password and is logged in; the link then no longer works."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page, expect
from tests.web.conftest import OPERATOR, WebApp, login, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_operator_creates_an_org_and_its_owner_joins_by_the_link(
    page: Page, browser: Browser, web: WebApp
) -> None:
    await login(page, OPERATOR)
    await page.goto("/admin")
    async with page.expect_navigation():
        await page.click("text=Create an organization")
    await page.fill("input[name=slug]", "delta")
    await page.fill("input[name=name]", "Delta Bakery")
    async with page.expect_navigation():
        await page.click("form[action='/admin/orgs'] button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Delta Bakery (delta)")
    await expect(page.locator("p.ok")).to_contain_text("Organization created")
    await page.fill("#invite-form input[name=email]", "baker@delta.example")
    async with page.expect_navigation():
        await page.click("#invite-form button[type=submit]")
    link = (await page.locator("#link-url").inner_text()).strip()
    assert link.startswith(web.url + "/password/")
    await expect(page.locator("#config-audit")).to_contain_text("baker@delta.example")
    await screenshot(page, "onboarding-invited")

    owner_context = await browser.new_context()
    try:
        owner = await owner_context.new_page()
        await owner.goto(link)
        await expect(owner.locator("h1")).to_have_text("Set your password")
        await owner.fill("input[name=password]", "delta bakery bread 1")
        await owner.fill("input[name=again]", "delta bakery bread 1")
        async with owner.expect_navigation():
            await owner.click("button:has-text('Set password and log in')")
        assert owner.url.endswith("/numbers")
        await expect(owner.locator(".who")).to_contain_text("baker@delta.example (owner)")
        await owner.goto(link)
        await expect(owner.locator("h1")).to_have_text("This link no longer works")
        await screenshot(owner, "onboarding-link-used")
    finally:
        await owner_context.close()
