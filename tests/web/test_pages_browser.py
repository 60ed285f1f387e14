"""Every page in Debian's Chromium at desktop and phone width: layout, CSP, accessibility.

For each page a person can reach (login, numbers, a number, operations, a call, admin, an
organization's page, new organization, API tokens, own password, a spent password link, the
deactivate, suspend and release confirmations, filter errors, an error page, /docs and /redoc), as
the role that sees it, at 1280 px and at 390 px:
- the page does not scroll sideways at 390 px (`document.documentElement.scrollWidth <= 390`;
  wide tables scroll inside their own box);
- the browser reports no Content-Security-Policy violation (a `securitypolicyviolation`
  listener installed before any page script), and no request leaves our origin. One
  exception, listed in `REDOC_BLOCKED` and checked to stay blocked: the vendored ReDoc bundle
  tries to show an attribution logo from cdn.redoc.ly (img-src refuses it before any
  connection; the bundle then hides the image) and probes `Function()` for its search worker
  (script-src refuses; it falls back to searching without the worker);
- axe-core (vendored from npm under tests/web/vendor, injected through the DevTools
  protocol, which the page's CSP does not govern) finds no serious or critical violation;
- a full-page screenshot is saved as tests/web/artifacts/pages/<page>-<width>.png.
/docs: the vendored Swagger UI renders the API's operations with no network beyond us.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from tests.web.conftest import (
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    ARTIFACTS,
    OPERATOR,
    PASSWORD,
    WebApp,
)
from tests.web.test_operations import seed_calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SHOTS = ARTIFACTS / "pages"
PHONE, DESKTOP = 390, 1280
WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " " +
                    e.sourceFile + ":" + e.lineNumber);
});
"""


def expected_on(visit: Visit, text: str) -> bool:
    """What the vendored ReDoc tries and the CSP refuses (module docstring), on /redoc only."""
    return visit.name == "redoc" and (
        "https://cdn.redoc.ly/" in text
        or (text.startswith("script-src eval ") and "/redoc-3.0.1/" in text)
    )


@dataclass
class Visit:
    name: str
    path: str
    status: int = 200


@dataclass
class Finding:
    page: str
    problem: str


async def open_context(browser: Browser, web: WebApp, width: int) -> BrowserContext:
    context = await browser.new_context(
        base_url=web.url,
        viewport={"width": width, "height": 844 if width == PHONE else 900},
        device_scale_factor=1,
    )
    await context.add_init_script(WATCH_CSP)
    return context


async def log_in(context: BrowserContext, email: str) -> Page:
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", PASSWORD)
    async with page.expect_navigation():
        await page.click("form[action='/login'] button[type=submit]")
    assert "/login" not in page.url
    return page


async def axe_violations(page: Page) -> list[str]:
    await page.evaluate(AXE.read_text() + "\n;0")
    result: dict[str, Any] = await page.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} at "
        + "; ".join(
            f"{node['target']} ({' '.join(node.get('failureSummary', '').split())[:160]})"
            for node in v["nodes"][:3]
        )
        for v in result["violations"]
        if v.get("impact") in ("serious", "critical")
    ]


async def inspect(page: Page, web: WebApp, visit: Visit, width: int) -> list[Finding]:
    """Load one page at one width; what a person (or a policy) would find wrong with it."""
    outside: list[str] = []
    errors: list[str] = []

    def watch(request: Any) -> None:
        url: str = request.url
        if not url.startswith((web.url, "data:", "blob:", "about:")):
            outside.append(url)

    def console(message: Any) -> None:
        if message.type == "error" and "status of 4" not in message.text:  # 403/422 pages
            errors.append(message.text)

    def crashed(error: Any) -> None:
        errors.append(f"uncaught: {error}")

    page.on("request", watch)
    page.on("console", console)
    page.on("pageerror", crashed)
    try:
        found: list[Finding] = []
        label = f"{visit.name} @{width}"
        if visit.path:  # "": the page already shown (the answer to a form)
            answer = await page.goto(visit.path)
            assert answer is not None
            if answer.status != visit.status:
                found.append(Finding(label, f"status {answer.status}, expected {visit.status}"))
        await page.wait_for_load_state("networkidle")
        try:
            if visit.name == "docs":
                await expect(page.locator(".opblock").first).to_be_visible(timeout=15000)
            if visit.name == "redoc":
                await expect(page.locator("[data-section-id]").first).to_be_attached(timeout=15000)
        except AssertionError as exc:
            found.append(Finding(label, f"did not render: {exc}"))
        if width == PHONE:
            scroll = await page.evaluate("document.documentElement.scrollWidth")
            if scroll > PHONE:
                wide = await page.evaluate(WIDEST)
                found.append(Finding(label, f"scrollWidth {scroll} > {PHONE}: {wide}"))
        for violation in await page.evaluate("window.__csp || []"):
            if not expected_on(visit, violation):
                found.append(Finding(label, f"CSP violation: {violation}"))
        for url in outside:
            if not expected_on(visit, url):
                found.append(Finding(label, f"request outside our origin: {url}"))
        for error in errors:
            if not expected_on(visit, error):
                found.append(Finding(label, f"console: {error}"))
        for violation in await axe_violations(page):
            found.append(Finding(label, f"axe: {violation}"))
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{visit.name}-{width}.png"), full_page=True)
        return found
    finally:
        page.remove_listener("request", watch)
        page.remove_listener("console", console)
        page.remove_listener("pageerror", crashed)


# the elements that stick out past the viewport (for the failure message)
WIDEST = """
() => Array.from(document.querySelectorAll("body *"))
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(e => !e.closest(".scroll-x"))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + "." + e.className + " " +
       Math.round(e.getBoundingClientRect().right))
"""


@pytest.fixture
async def contexts(browser: Browser, web: WebApp) -> AsyncIterator[dict[int, BrowserContext]]:
    opened = {width: await open_context(browser, web, width) for width in (DESKTOP, PHONE)}
    try:
        yield opened
    finally:
        for context in opened.values():
            await context.close()


async def test_every_page_at_desktop_and_phone_width(
    browser: Browser, web: WebApp, contexts: dict[int, BrowserContext]
) -> None:
    seeded = await seed_calls(web)
    day = seeded.day.isoformat()
    number = web.numbers[ALPHA_NUMBERS[0]]
    anonymous = [
        Visit("login", "/login"), Visit("docs", "/docs"), Visit("redoc", "/redoc"),
        Visit("password-link-gone", "/password/not-a-link", 410),
    ]  # fmt: skip
    tenant = [
        Visit("numbers", "/numbers"),
        Visit("number", f"/numbers/{number}"),
        Visit("organization", "/organization"),
        Visit("operations", f"/operations?from={day}&to={day}"),
        Visit("operations-filter-error", f"/operations?from={day}&to=2001-01-01", 422),
        Visit("call", f"/operations/calls/{seeded.alpha[0]}"),
        Visit("forbidden", "/admin", 403),
        Visit("own-password", "/account/password"),
        Visit("hours", "/settings/hours"),
    ]
    operator = [
        Visit("admin", "/admin"),
        Visit("admin-filter-error", "/admin?status=deleted", 422),
        Visit("organization-operator", "/organization?org=alpha"),
        Visit("operations-operator", f"/operations?from={day}&to={day}"),
        Visit("call-operator", f"/operations/calls/{seeded.alpha[0]}"),
        Visit("org", "/admin/orgs/alpha"),
        Visit("org-new", "/admin/orgs/new"),
        Visit("tokens", "/admin/tokens"),
    ]
    findings: list[Finding] = []
    for width, context in contexts.items():
        page = await context.new_page()
        for visit in anonymous:
            findings += await inspect(page, web, visit, width)
        await page.close()
        for email, visits in ((ALPHA_OWNER, tenant), (OPERATOR, operator)):
            page = await log_in(context, email)
            for visit in visits:
                findings += await inspect(page, web, visit, width)
            if email == ALPHA_OWNER:  # the confirmation a browser without script gets
                await page.goto("/numbers")
                async with page.expect_navigation():  # form.submit(): no event, no htmx
                    await page.locator(f"#row-{number} form").evaluate("form => form.submit()")
                await expect(page.locator("h1")).to_contain_text("Deactivate")
                findings += await inspect(page, web, Visit("confirm-deactivate", ""), width)
            if email == OPERATOR:  # the suspend confirmation, reached as a person would
                await page.goto("/admin")
                row = page.locator("tr[data-org='alpha']")
                await row.locator("input[name=active]").uncheck()
                async with page.expect_navigation():
                    await row.locator("button:has-text('Save')").click()
                await expect(page.locator("h1")).to_contain_text("Suspend")
                findings += await inspect(page, web, Visit("confirm-suspend", ""), width)
                await page.goto("/admin/orgs/alpha")  # the release confirmation
                async with page.expect_navigation():
                    await page.locator("#org-numbers button:has-text('Release')").first.click()
                await expect(page.locator("h1")).to_contain_text("Release")
                findings += await inspect(page, web, Visit("confirm-release", ""), width)
            await page.context.clear_cookies()
            await page.close()
    report = "\n".join(f"{f.page}: {f.problem}" for f in findings)
    (ARTIFACTS / "pages" / "findings.json").write_text(
        json.dumps([f.__dict__ for f in findings], indent=1)
    )
    assert not findings, report


async def test_no_other_page_can_frame_ours(
    web: WebApp, contexts: dict[int, BrowserContext]
) -> None:
    """The issue's clickjacking: a page of another origin frames /numbers (after login, so
    the Deactivate buttons would be live). Chromium must refuse to render it in the frame."""
    page = await log_in(contexts[DESKTOP], ALPHA_OWNER)
    framing = await contexts[DESKTOP].new_page()
    await framing.set_content(f'<iframe id="victim" src="{web.url}/numbers"></iframe>')
    await framing.wait_for_load_state("load")
    frames = [frame for frame in framing.frames if frame is not framing.main_frame]
    assert len(frames) == 1
    assert await frames[0].locator("#numbers, button").count() == 0
    await page.close()
