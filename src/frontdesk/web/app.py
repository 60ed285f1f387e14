"""The FastAPI app `frontdesk run` serves: pages, REST API, live events, health and metrics.

Owns: assembling the app: the routers (login, tenant numbers, organization settings,
operator admin and onboarding, own password, business hours, API, live events,
operations, tickets, notification settings, and the LiveKit webhook when LiveKit is
configured), static files
(`/static`, vendored htmx, Chart.js, Swagger UI and ReDoc included: no CDN), the API's
documentation pages `/docs` and `/redoc` (our own HTML with static init scripts, so they
work offline and under the CSP), error handling (problems.py), the outermost middlewares
(security.py: security headers on every answer, even a 500; the client address behind
trusted proxies), and the app state routes read: `pool`, `settings`, `live` (the shared
live-count poller, whose task `tasks` owns).

Must not: import the edge; it is handed a metrics registry, a readiness check, the database
pool and a TaskOwner that the node (or a test) closes at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp

from frontdesk.config import Settings
from frontdesk.livekit.client import LiveKitCredentials
from frontdesk.livekit.webhook import webhook_router
from frontdesk.store.engine import Pool
from frontdesk.tasks import TaskOwner
from frontdesk.web import (
    api,
    api_org,
    live,
    operations,
    pages_account,
    pages_admin,
    pages_auth,
    pages_hours,
    pages_notifications,
    pages_numbers,
    pages_onboarding,
    pages_org,
    pages_tickets,
    pages_tryit,
    problems,
    tickets,
)
from frontdesk.web.security import ClientAddress, IpNetwork, SecurityHeaders
from frontdesk.web.templating import STATIC_DIR, render

if TYPE_CHECKING:
    from frontdesk.webrtc.calls import BrowserCalls

log = logging.getLogger(__name__)

Ready = Callable[[], Awaitable[dict[str, bool]]]

DESCRIPTION = """\
frontdesk's REST API. Authenticate with `Authorization: Bearer fd_…` (create a token with
`frontdesk token add EMAIL`), or with the web session cookie plus the `X-CSRF-Token` header
on unsafe methods. Errors are RFC 9457 problem details (`application/problem+json`).
"""


class FrontdeskApp(FastAPI):
    """FastAPI with our two middlewares outside everything, the error middleware included
    (`add_middleware` would put them inside it, and a 500 would leave without headers)."""

    trusted_proxies: tuple[IpNetwork, ...] = ()

    def build_middleware_stack(self) -> ASGIApp:
        return SecurityHeaders(
            ClientAddress(super().build_middleware_stack(), self.trusted_proxies)
        )


def create_app(
    *,
    settings: Settings,
    pool: Pool,
    registry: CollectorRegistry,
    ready: Ready,
    tasks: TaskOwner,
    browser_calls: BrowserCalls | None = None,
) -> FastAPI:
    app = FrontdeskApp(
        title="frontdesk",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        description=DESCRIPTION,
    )
    app.trusted_proxies = settings.trusted_proxy_networks
    app.state.settings = settings
    app.state.pool = pool
    app.state.browser_calls = browser_calls  # "Talk to your receptionist" (None: not here)
    app.state.live = live.LiveCounts(pool, tasks, settings.web_live_interval)
    problems.install(app)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process answers (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    async def readyz() -> JSONResponse:
        """Every dependency answers (readiness): 503 and the failing checks otherwise."""
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics", tags=["health"])
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> Response:
        """Swagger UI from the vendored swagger-ui-dist (static/vendor/VENDORED.md)."""
        return render(request, "docs/swagger.html", {"openapi_url": app.openapi_url})

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> Response:
        """ReDoc from the vendored redoc bundle (static/vendor/VENDORED.md)."""
        return render(request, "docs/redoc.html", {"openapi_url": app.openapi_url})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        """For clients that ask the conventional path; pages link /static/favicon.svg."""
        return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")

    app.include_router(pages_auth.router)
    app.include_router(pages_numbers.router)
    app.include_router(pages_tryit.router)
    app.include_router(pages_admin.router)
    app.include_router(pages_onboarding.router)
    app.include_router(pages_account.router)
    app.include_router(pages_account.account)
    app.include_router(pages_org.router)
    app.include_router(pages_notifications.router)
    app.include_router(pages_hours.router)
    app.include_router(api.router)
    app.include_router(api_org.router)
    app.include_router(live.router)
    app.include_router(operations.router)
    app.include_router(tickets.api)
    app.include_router(pages_tickets.router)
    if settings.livekit_url and settings.livekit_api_key and settings.livekit_api_secret:
        # a second signal for call ends on the LiveKit front (verified with our secret)
        credentials = LiveKitCredentials.from_settings(settings)
        app.include_router(webhook_router(pool, credentials))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
