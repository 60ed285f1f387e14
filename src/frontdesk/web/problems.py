"""Errors as RFC 9457 problem details (`application/problem+json`), or as an HTML page.

Owns: the one mapping from failures to HTTP answers: `HTTPException`s, request validation
errors, and frontdesk's own errors (`NotFound` 404, `Conflict` 409, `ConfigOverrideError`
and `InvalidNumber` 422). API and event paths (`/api/`, `/events/`, `/openapi.json`) always
get problem+json; pages get an HTML error page, and a page that needs a login redirects to
`/login`.

Must not: put a stack trace, SQL, a password or a caller's data into a response.
"""

from __future__ import annotations

import logging
from typing import Any, Final
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from frontdesk.errors import Conflict, InvalidNumber, NotFound
from frontdesk.tenancy.config import ConfigOverrideError
from frontdesk.web.templating import render

log = logging.getLogger(__name__)

PROBLEM_JSON: Final = "application/problem+json"

_TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class Problem(BaseModel):
    """RFC 9457 problem details, as documented in the OpenAPI schema."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


#: for `responses=` of API routes: every error answer is a problem
PROBLEM_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _TITLES[code]}
    for code in (401, 403, 404, 409, 422)
}


def wants_problem(request: Request) -> bool:
    path = request.url.path
    return path.startswith(("/api/", "/events/")) or path == "/openapi.json"


def problem(
    request: Request,
    status: int,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def error_answer(
    request: Request, status: int, detail: str | None, headers: dict[str, str] | None = None
) -> Response:
    """A problem for the API, an error page (or a redirect to /login) for pages."""
    if wants_problem(request):
        return problem(request, status, detail, headers=headers)
    if status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return render(
        request,
        "error.html",
        {"status": status, "title": _TITLES.get(status, "Error"), "detail": detail},
        status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return error_answer(request, exc.status_code, detail, dict(exc.headers or {}))

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": [str(part) for part in err.get("loc", ())], "msg": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        if not wants_problem(request):
            detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
            return error_answer(request, 422, detail)
        return problem(request, 422, "the request is not valid", errors=errors)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error_answer(request, 404, str(exc))

    async def conflict(request: Request, exc: Exception) -> Response:
        return error_answer(request, 409, str(exc))

    async def unprocessable(request: Request, exc: Exception) -> Response:
        return error_answer(request, 422, str(exc))

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_answer(request, 500, None)

    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(Conflict, conflict)
    app.add_exception_handler(ConfigOverrideError, unprocessable)
    app.add_exception_handler(InvalidNumber, unprocessable)
    app.add_exception_handler(Exception, server_error)
