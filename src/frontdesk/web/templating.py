"""The Jinja2 templates object every page renders with, and `render`.

Owns: where templates live (`frontdesk/web/templates/`, shipped as package data), the
context every page gets (`user`, `csrf_token`, `path`, `tech`: whether to show technical
detail, operators only), the people's-words filters (words.py), and autoescaping (on for
.html).

Must not: query the database or decide who may see what; routes pass what to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from frontdesk.store.web_auth import Principal
from frontdesk.web import words

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"
STATIC_DIR: Final = Path(__file__).resolve().parent / "static"

templates: Final = Jinja2Templates(directory=TEMPLATES_DIR)
words.install(templates.env)


def page_user(request: Request) -> Principal | None:
    """The user the auth dependencies found for this request, if any."""
    user = getattr(request.state, "principal", None)
    return user if isinstance(user, Principal) else None


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render template `name` with the request's user and CSRF token added."""
    user = page_user(request)
    full: dict[str, Any] = {
        "user": user,
        "csrf_token": user.csrf_token if user is not None else "",
        "path": request.url.path,
        "tech": user is not None and user.is_operator,
        **(context or {}),
    }
    return templates.TemplateResponse(request, name, full, status_code=status_code, headers=headers)
