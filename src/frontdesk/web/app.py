"""The FastAPI app `frontdesk run` serves: pages, REST API, live events, health and metrics.

Owns: assembling the app: the routers (login, tenant numbers, operator admin, API, live
events, and the operations pages when present), static files (`/static`, vendored htmx
included: no CDN), error handling (problems.py), and the app state routes read: `pool`,
`settings`, `live` (the shared live-count poller, whose task `tasks` owns).

Must not: import the edge; it is handed a metrics registry, a readiness check, the database
pool and a TaskOwner that the node (or a test) closes at shutdown.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from frontdesk.config import Settings
from frontdesk.edge.tasks import TaskOwner
from frontdesk.store.engine import Pool
from frontdesk.web import api, live, pages_admin, pages_auth, pages_numbers, problems
from frontdesk.web.templating import STATIC_DIR

log = logging.getLogger(__name__)

Ready = Callable[[], Awaitable[dict[str, bool]]]

DESCRIPTION = """\
frontdesk's REST API. Authenticate with `Authorization: Bearer fd_…` (create a token with
`frontdesk token add EMAIL`), or with the web session cookie plus the `X-CSRF-Token` header
on unsafe methods. Errors are RFC 9457 problem details (`application/problem+json`).
"""


def _operations_router() -> APIRouter | None:
    """The /operations pages (frontdesk.web.operations) when that module is installed."""
    try:
        module = importlib.import_module("frontdesk.web.operations")
    except ModuleNotFoundError as exc:
        if exc.name != "frontdesk.web.operations":
            raise
        return None
    router = getattr(module, "router", None)
    return router if isinstance(router, APIRouter) else None


def create_app(
    *,
    settings: Settings,
    pool: Pool,
    registry: CollectorRegistry,
    ready: Ready,
    tasks: TaskOwner,
    include_operations: bool = True,
) -> FastAPI:
    """The app. `include_operations=False` leaves out /operations (tests of the rest)."""
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
    operations = _operations_router() if include_operations else None
    if operations is not None:
        app.include_router(operations)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
