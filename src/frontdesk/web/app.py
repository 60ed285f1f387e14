"""The FastAPI app `frontdesk run` serves: pages, REST API, live events, health and metrics.

Owns: assembling the app: the routers (login, tenant numbers, operator admin, API, live
events, operations, and the LiveKit webhook when LiveKit is configured), static files
(`/static`, vendored htmx included: no CDN), error handling (problems.py), and the app
state routes read: `pool`, `settings`, `live` (the shared live-count poller, whose task
`tasks` owns).

Must not: import the edge; it is handed a metrics registry, a readiness check, the database
pool and a TaskOwner that the node (or a test) closes at shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from frontdesk.config import Settings
from frontdesk.livekit.client import LiveKitCredentials
from frontdesk.livekit.webhook import webhook_router
from frontdesk.store.engine import Pool
from frontdesk.tasks import TaskOwner
from frontdesk.web import api, live, operations, pages_admin, pages_auth, pages_numbers, problems
from frontdesk.web.templating import STATIC_DIR

log = logging.getLogger(__name__)

Ready = Callable[[], Awaitable[dict[str, bool]]]

DESCRIPTION = """\
frontdesk's REST API. Authenticate with `Authorization: Bearer fd_…` (create a token with
`frontdesk token add EMAIL`), or with the web session cookie plus the `X-CSRF-Token` header
on unsafe methods. Errors are RFC 9457 problem details (`application/problem+json`).
"""


def create_app(
    *,
    settings: Settings,
    pool: Pool,
    registry: CollectorRegistry,
    ready: Ready,
    tasks: TaskOwner,
) -> FastAPI:
    app = FastAPI(title="frontdesk", version="0.1.0", docs_url="/docs", description=DESCRIPTION)
    app.state.settings = settings
    app.state.pool = pool
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

    app.include_router(pages_auth.router)
    app.include_router(pages_numbers.router)
    app.include_router(pages_admin.router)
    app.include_router(api.router)
    app.include_router(live.router)
    app.include_router(operations.router)
    if settings.livekit_url and settings.livekit_api_key and settings.livekit_api_secret:
        # a second signal for call ends on the LiveKit front (verified with our secret)
        credentials = LiveKitCredentials.from_settings(settings)
        app.include_router(webhook_router(pool, credentials))
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
