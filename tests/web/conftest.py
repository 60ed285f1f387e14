"""Web fixtures: the real app on a free port over the embedded PostgreSQL, seeded; Chromium.

- `pg` (session): one embedded server with a migrated template (mirrors
  tests/integration/store/conftest.py); `web_db`: a fresh copy per test.
- `web` : uvicorn serving `create_app` in its own thread and event loop (its own pool and
  TaskOwner, closed at teardown), seeded with `SEED` (two organizations, their numbers, an
  owner and a member of alpha, an owner of beta, an operator, all with `PASSWORD`, and API
  tokens). `web.url`, `web.conninfo`, `web.tokens[email]`, `web.numbers[phone]` (ids).
- `browser` / `page`: Playwright driving Debian's Chromium (never `playwright install`);
  each test's page is screenshot to tests/web/artifacts/<test>.png at teardown.
- `login(page, email, password)`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from prometheus_client import CollectorRegistry
from tests.conftest import EdgeFactory
from tests.integration.store.conftest import pg
from tests.integration.store.support import (
    TEMPLATE,
    PgServer,
    run_async,
)

from frontdesk.calls.routing import RoutingDecider
from frontdesk.config import Settings, load_settings
from frontdesk.edge.server import EdgeServer
from frontdesk.store.admission import Admission
from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import add_number
from frontdesk.store.orgs import create_org
from frontdesk.store.routing import load_routing_table
from frontdesk.store.sessions import SessionRecorder
from frontdesk.store.tx import operator_tx
from frontdesk.store.users import add_user
from frontdesk.store.web_auth import create_api_token
from frontdesk.tasks import TaskOwner
from frontdesk.web.app import create_app
from frontdesk.web.security import server_config

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
PASSWORD = "correct horse 42"
OPERATOR = "ops@frontdesk.example"
ALPHA_OWNER = "owner@alpha.example"
ALPHA_MEMBER = "member@alpha.example"
BETA_OWNER = "owner@beta.example"
ALPHA_NUMBERS = ("+390551110001", "+390551110002")
BETA_NUMBERS = ("+390557770001",)

__all__ = ["pg"]  # the store tests' embedded PostgreSQL, one per test session


@pytest.fixture
def web_db(pg: PgServer) -> Iterator[str]:
    name = f"web_{uuid.uuid4().hex[:12]}"
    conninfo = pg.create_database(name, template=TEMPLATE)
    yield conninfo
    pg.drop_database(name)


async def seed(conninfo: str) -> dict[str, Any]:
    """Two organizations with numbers, four users, an API token each; ids by phone."""
    pool = await open_pool(conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await create_org(conn, "alpha", "Alpha Pizzeria", 5)
            await create_org(conn, "beta", "Beta Legal")
            numbers: dict[str, uuid.UUID] = {}
            for slug, phones in (("alpha", ALPHA_NUMBERS), ("beta", BETA_NUMBERS)):
                for index, phone in enumerate(phones):
                    row = await add_number(
                        conn, phone, slug, label=f"{slug} line {index + 1}",
                        max_concurrent_calls=2, assigned_by="test", default_country="IT",
                    )  # fmt: skip
                    numbers[phone] = row.id
            await add_user(conn, OPERATOR, PASSWORD, operator=True)
            await add_user(conn, ALPHA_OWNER, PASSWORD, org_slug="alpha", role="owner")
            await add_user(conn, ALPHA_MEMBER, PASSWORD, org_slug="alpha", role="member")
            await add_user(conn, BETA_OWNER, PASSWORD, org_slug="beta", role="owner")
            tokens = {
                email: await create_api_token(conn, email, "tests")
                for email in (OPERATOR, ALPHA_OWNER, ALPHA_MEMBER, BETA_OWNER)
            }
    finally:
        await pool.close()
    return {"numbers": numbers, "tokens": tokens}


class _Server(uvicorn.Server):
    def capture_signals(self) -> Any:  # the test process owns its signals
        import contextlib

        return contextlib.nullcontext()


@dataclass
class WebApp:
    url: str
    conninfo: str
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)
    numbers: dict[str, uuid.UUID] = field(default_factory=dict)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, follow_redirects=False)


def web_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"use_uvloop": False, "web_live_interval": 0.2}
    values.update(overrides)
    return load_settings(None, **values)


class RunningWeb:
    """uvicorn serving the app in a thread with its own loop, pool and TaskOwner."""

    def __init__(self, conninfo: str, settings: Settings) -> None:
        self.conninfo = conninfo
        self.settings = settings
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.setblocking(False)
        self.sock = sock
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.server: _Server | None = None
        self.error: BaseException | None = None
        self.up = threading.Event()
        self.thread = threading.Thread(target=self._main, name="web-test", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self.error = exc
            self.up.set()

    async def _serve(self) -> None:
        pool = await open_pool(self.conninfo, max_size=6)
        tasks = TaskOwner("web-test")

        async def ready() -> dict[str, bool]:
            return {"database": True}

        app = create_app(
            settings=self.settings, pool=pool, registry=CollectorRegistry(), ready=ready,
            tasks=tasks,
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
            app.state.live.close()
            await tasks.close()
            await pool.close()

    def start(self) -> None:
        self.thread.start()
        assert self.up.wait(20), "the web app did not start"
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()
        assert not self.thread.is_alive(), "the web app did not stop"


@pytest.fixture
def web(web_db: str) -> Iterator[WebApp]:
    seeded = run_async(seed(web_db))
    running = RunningWeb(web_db, web_settings())
    try:
        running.start()
        yield WebApp(running.url, web_db, running.settings, seeded["tokens"], seeded["numbers"])
    finally:
        running.stop()


@pytest.fixture
def chromium() -> str:
    """Fail (never skip) when Debian's Chromium is missing."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `apt-get install chromium` (make test does)")
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(
    browser: Browser, web: WebApp, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=web.url)
    opened = await context.new_page()
    try:
        yield opened
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        try:
            await opened.screenshot(path=str(ARTIFACTS / f"{name}-final.png"), full_page=True)
        finally:
            await context.close()


async def screenshot(page: Page, name: str) -> None:
    """Save a screenshot as a test artifact (tests/web/artifacts/NAME.png)."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def login(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through the form; lands on /numbers (tenants) or the `next` page."""
    await page.goto("/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    async with page.expect_navigation():
        await page.click("button[type=submit]")
    assert "/login" not in page.url, await page.content()


@pytest.fixture
async def node(web: WebApp, edge_factory: EdgeFactory) -> AsyncIterator[EdgeServer]:
    """An edge with admission and the session recorder on the web app's database (the rows
    the pages read); its recorder is `edge.recorder`."""
    pool = await open_pool(web.conninfo, max_size=4)
    routing = RoutingDecider(await load_routing_table(pool, "IT"))
    admission = Admission(pool, routing, node_id="web-edge", node_max_calls=10, node_ttl=5)
    await admission.register()
    recorder = SessionRecorder(pool, "web-edge", retry_s=0.2)
    tasks = [
        asyncio.create_task(recorder.run()),
        asyncio.create_task(admission.run_heartbeat()),
    ]
    try:
        edge = await edge_factory(decider=admission, on_record=recorder.submit)
        edge.recorder = recorder  # type: ignore[attr-defined]
        yield edge
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
