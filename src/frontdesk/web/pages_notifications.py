"""`/settings/notifications`: where an organization's tickets and calls are sent.

Owns: the form of the organization-level notification keys of `TenantConfig`
(`notify_email`, `webhook_url`, `webhook_secret`), "send a test" (a `test` event through
the same outbox as real events), and the list of the latest deliveries with their state
(refreshed by htmx while the page is open). Owners change and test; members view.
The webhook secret is write-only: the page says whether one is set, never what it is;
a secret the page generates (on "new secret", or when a webhook URL is saved without one)
is shown once, on the response to that save. Per-number overrides (the orders line
notifying the kitchen) are set with `frontdesk number set NUMBER --set KEY=JSON`.

Must not: show a secret it did not just generate, or read another organization's
configuration (RLS: every read and write is in the member's `tenant_tx`).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from frontdesk.store import outbox
from frontdesk.store.orgs import get_org_config, set_org_config
from frontdesk.store.tx import tenant_tx
from frontdesk.store.web_auth import OrgMembership
from frontdesk.tenancy.config import ConfigOverrideError
from frontdesk.web.auth import (
    CurrentUser,
    PoolDep,
    csrf_protect,
    require_settings_owner,
    settings_membership,
)
from frontdesk.web.templating import render
from frontdesk.web.words import banner

router = APIRouter(
    prefix="/settings/notifications",
    include_in_schema=False,
    dependencies=[Depends(csrf_protect)],
)


async def _page(
    request: Request,
    pool: PoolDep,
    chosen: OrgMembership,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    new_secret: str | None = None,
    status_code: int = 200,
) -> Response:
    async with tenant_tx(pool, chosen.org_id) as conn:
        config = await get_org_config(conn, chosen.org_slug)
        recent = await outbox.recent(conn, 20)
    shown = values or {
        "notify_email": ", ".join(config.notify_email),
        "webhook_url": config.webhook_url or "",
    }
    return render(
        request,
        "settings/notifications.html",
        {
            "org": chosen,
            "values": shown,
            "secret_set": config.webhook_secret is not None,
            "errors": errors or {},
            "message": message,
            "new_secret": new_secret,
            "editable": chosen.role == "owner",
            "recent": recent,
        },
        status_code=status_code,
    )


@router.get("")
async def notifications_page(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    org: str | None = None,
    done: str | None = None,
) -> Response:
    # banners only from fixed keys (words.BANNERS): no free text from a link reaches the page
    return await _page(
        request, pool, settings_membership(user, org, "notifications"), message=banner(done)
    )


@router.get("/deliveries")
async def deliveries_fragment(
    request: Request, user: CurrentUser, pool: PoolDep, org: str | None = None
) -> Response:
    """The latest deliveries' table (htmx refreshes it)."""
    chosen = settings_membership(user, org, "notifications")
    async with tenant_tx(pool, chosen.org_id) as conn:
        recent = await outbox.recent(conn, 20)
    return render(request, "settings/deliveries.html", {"recent": recent})


@router.post("")
async def notifications_save(
    request: Request,
    user: CurrentUser,
    pool: PoolDep,
    notify_email: Annotated[str, Form(max_length=5000)] = "",
    webhook_url: Annotated[str, Form(max_length=2000)] = "",
    webhook_secret: Annotated[str, Form(max_length=200)] = "",
    new_secret: Annotated[str | None, Form(max_length=10)] = None,
    org: str | None = None,
) -> Response:
    """Save the addresses and the webhook; an empty secret field keeps the current one."""
    chosen = settings_membership(user, org, "notifications")
    require_settings_owner(chosen, "notifications")
    changes: dict[str, Any] = {
        "notify_email": notify_email,
        "webhook_url": webhook_url.strip() or None,
    }
    generated: str | None = None
    async with tenant_tx(pool, chosen.org_id) as conn:
        current = await get_org_config(conn, chosen.org_slug)
    if webhook_secret.strip():
        changes["webhook_secret"] = webhook_secret.strip()
    elif new_secret is not None or (changes["webhook_url"] and current.webhook_secret is None):
        generated = secrets.token_urlsafe(32)
        changes["webhook_secret"] = generated
    try:
        async with tenant_tx(pool, chosen.org_id) as conn:
            await set_org_config(conn, chosen.org_slug, changes)
    except ConfigOverrideError as exc:
        field = exc.key if exc.key in ("notify_email", "webhook_url", "webhook_secret") else "form"
        # the message names the key and the rule, never a secret's value
        return await _page(
            request,
            pool,
            chosen,
            values={"notify_email": notify_email, "webhook_url": webhook_url},
            errors={field: str(exc)},
            status_code=422,
        )
    if generated is not None:  # shown once, on this response only
        return await _page(request, pool, chosen, message="Saved.", new_secret=generated)
    query = {"done": "notifications-saved"} | ({"org": org} if org else {})
    return RedirectResponse(f"/settings/notifications?{urlencode(query)}", status_code=303)


@router.post("/test")
async def notifications_test(user: CurrentUser, pool: PoolDep, org: str | None = None) -> Response:
    """Queue a `test` event for every configured channel (delivered like real events)."""
    chosen = settings_membership(user, org, "notifications")
    require_settings_owner(chosen, "notifications")
    async with tenant_tx(pool, chosen.org_id) as conn:
        queued = await outbox.enqueue(
            conn,
            "test",
            chosen.org_id,
            None,
            {"message": "A test from frontdesk: notifications reach you.", "call": None},
        )
    if not queued:
        key = "test-nothing"
    else:
        key = "test-queued-one" if len(queued) == 1 else "test-queued-many"
    query = {"done": key} | ({"org": org} if org else {})
    return RedirectResponse(f"/settings/notifications?{urlencode(query)}", status_code=303)
