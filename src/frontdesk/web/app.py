"""The FastAPI app `frontdesk run` serves: health, readiness and metrics.

Owns: the HTTP surface. Must not: import the edge; it is handed a metrics registry and a
readiness check, and (with the dashboards) reads the store through RLS-scoped views.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

Ready = Callable[[], Awaitable[dict[str, bool]]]


def create_app(*, registry: CollectorRegistry, ready: Ready) -> FastAPI:
    app = FastAPI(title="frontdesk", version="0.1.0", docs_url="/docs")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process answers (liveness)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Every dependency answers (readiness): 503 and the failing checks otherwise."""
        checks = await ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app
