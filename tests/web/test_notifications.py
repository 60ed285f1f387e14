"""The notifications settings page and the operator's failed deliveries, on the real app.

Owners set addresses and a webhook (the secret is shown once, then only "set"), send a
test that a real receiver gets signed; members view and cannot change; the secret never
appears in pages or API answers; an operator retries a failed delivery from /admin (CSRF).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from contextlib import closing

import httpx
import pytest
from playwright.async_api import Page
from tests.integration.store.support import run_async
from tests.support.receivers import WebhookReceiver
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_OWNER,
    BETA_OWNER,
    OPERATOR,
    WebApp,
    login,
    screenshot,
)
from tests.web.test_api import login_client

from frontdesk.notify.dispatcher import OutboxDispatcher
from frontdesk.store.engine import open_pool
from frontdesk.store.tx import operator_tx

SECRET = "alpha-webhook-secret-0123456789"


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def save(client: httpx.Client, csrf: str, **fields: str) -> httpx.Response:
    return client.post("/settings/notifications?org=alpha", data={"csrf_token": csrf, **fields})


def test_owner_saves_member_views_and_the_secret_is_never_shown_back(web: WebApp) -> None:
    owner, csrf = login_client(web, ALPHA_OWNER)
    member, member_csrf = login_client(web, ALPHA_MEMBER)
    beta, _ = login_client(web, BETA_OWNER)
    with closing(owner), closing(member), closing(beta):
        _owner_member_other(web, owner, csrf, member, member_csrf, beta)


def _owner_member_other(
    web: WebApp,
    owner: httpx.Client,
    csrf: str,
    member: httpx.Client,
    member_csrf: str,
    beta: httpx.Client,
) -> None:
    answer = save(
        owner,
        csrf,
        notify_email="kitchen@alpha.example, office@alpha.example",
        webhook_url="https://hooks.alpha.example/frontdesk",
    )
    # a webhook without a secret gets one generated, shown on this answer only
    assert answer.status_code == 200, answer.text
    shown = re.search(r'id="new-secret".*?<code>([^<]+)</code>', answer.text, re.S)
    assert shown is not None and len(shown.group(1)) >= 32
    generated = shown.group(1)
    page = owner.get("/settings/notifications")
    assert "kitchen@alpha.example, office@alpha.example" in page.text
    assert "Webhook secret: <strong>set</strong>" in page.text
    assert generated not in page.text
    # a secret typed in: saved, never echoed
    answer = save(
        owner,
        csrf,
        notify_email="kitchen@alpha.example",
        webhook_url="https://hooks.alpha.example/frontdesk",
        webhook_secret=SECRET,
    )
    assert answer.status_code == 303
    assert SECRET not in owner.get("/settings/notifications").text
    # bad input: a clear error at the field, nothing saved
    bad = save(owner, csrf, notify_email="not-an-address", webhook_url="ftp://x")
    assert bad.status_code == 422
    assert "is not an email address" in bad.text and 'id="error-notify_email"' in bad.text
    assert "kitchen@alpha.example" in owner.get("/settings/notifications").text
    # members see the page, cannot change it
    page = member.get("/settings/notifications")
    assert page.status_code == 200 and "kitchen@alpha.example" in page.text
    assert "Members can view" in page.text
    assert save(member, member_csrf, notify_email="x@y.example").status_code == 403
    assert (
        member.post(
            "/settings/notifications/test?org=alpha", data={"csrf_token": member_csrf}
        ).status_code
        == 403
    )
    # another organization's owner: 404 for alpha's settings
    assert beta.get("/settings/notifications?org=alpha").status_code == 404
    # no CSRF token: refused
    assert owner.post("/settings/notifications?org=alpha", data={}).status_code == 403
    # a per-number secret through the API's number view is redacted
    number = web.numbers["+390551110001"]
    with web.client(web.tokens[OPERATOR]) as api:
        asyncio.run(_number_secret(web.conninfo, number))
        body = api.get(f"/api/v1/numbers/{number}").json()
    assert body["overrides"]["webhook_secret"] == "(set)"
    assert SECRET not in str(body)


async def _number_secret(conninfo: str, number: uuid.UUID) -> None:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await conn.execute(
                "UPDATE sip_numbers SET config_override = %s::jsonb WHERE id = %s",
                (f'{{"webhook_secret": "{SECRET}"}}', number),
            )
    finally:
        await pool.close()


async def test_send_a_test_reaches_a_signed_receiver_and_a_failure_is_retried_from_admin(
    web: WebApp, page: Page
) -> None:
    receiver = WebhookReceiver(SECRET, status=500)
    await receiver.start()
    pool = await open_pool(web.conninfo, max_size=4)
    settings = web.settings.model_copy(
        update={
            "outbox_poll_interval": 0.2,
            "outbox_first_backoff": 0.2,
            "outbox_max_backoff": 0.4,
            "outbox_retry_window": 1.0,
            "webhook_allow_networks": ["127.0.0.0/8"],  # the receiver is on loopback
        }
    )
    dispatcher = OutboxDispatcher(pool, settings)
    task = asyncio.create_task(dispatcher.run())
    try:
        await login(page, ALPHA_OWNER)
        await page.goto("/settings/notifications")
        await page.fill("input[name=webhook_url]", receiver.url)
        await page.fill("input[name=webhook_secret]", SECRET)
        async with page.expect_navigation():
            await page.click("button[type=submit]:has-text('Save')")
        assert "Webhook secret: set" in await page.inner_text("#secret-state")
        async with page.expect_navigation():
            await page.click("#send-test")
        assert "Test queued for 1 channel" in await page.inner_text("#message")
        # the receiver answers 500 until the window is spent: the row is failed
        await page.wait_for_selector("#deliveries td.state:has-text('failed')", timeout=10_000)
        await screenshot(page, "notifications-owner-failed-delivery")
        assert len(receiver.attempts) >= 2 and receiver.received == []
        # the operator sees it in /admin and retries it; now the receiver accepts
        receiver.status = 200
        await page.context.clear_cookies()
        await login(page, OPERATOR)
        await page.goto("/admin")
        row = page.locator("#failed-deliveries tr[data-delivery]")
        assert await row.count() == 1
        assert "alpha" in await row.inner_text() and "HTTP 500" in await row.inner_text()
        async with page.expect_navigation():
            await row.locator("button:has-text('Retry')").click()
        assert "queued again" in await page.inner_text("main")
        assert await receiver.wait(1, 5)
        hook = receiver.received[0]
        assert hook.signature_ok and hook.event == "test"
        assert hook.json()["organization"]["slug"] == "alpha"
        assert len({a.delivery_id for a in receiver.attempts}) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
        await receiver.stop()


def test_only_operators_retry_and_only_with_csrf(web: WebApp) -> None:
    owner, csrf = login_client(web, ALPHA_OWNER)
    operator, op_csrf = login_client(web, OPERATOR)
    some = uuid.uuid4()
    with closing(owner), closing(operator):
        denied = owner.post(f"/admin/deliveries/{some}/retry", data={"csrf_token": csrf})
        assert denied.status_code == 403
        assert operator.post(f"/admin/deliveries/{some}/retry", data={}).status_code == 403
        answer = operator.post(f"/admin/deliveries/{some}/retry", data={"csrf_token": op_csrf})
        assert answer.status_code == 303
        assert "done=delivery-not-failed" in answer.headers["location"]


@pytest.mark.parametrize("email", [OPERATOR])
def test_an_operator_without_an_organization_is_sent_to_the_cli(web: WebApp, email: str) -> None:
    client, _ = login_client(web, email)
    with closing(client):
        answer = client.get("/settings/notifications")
    assert answer.status_code == 403 and "frontdesk org set" in answer.text


async def _summarised_call(conninfo: str) -> uuid.UUID:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(
                "INSERT INTO sessions (organization_id, sip_number_id, call_id_sip,"
                " caller_number, called_number, node_id, answered_at, ended_at, outcome,"
                " reason, summary, summary_data)"
                " SELECT organization_id, id, 'sum-1@pbx', '+393331112222', phone_number, 'n',"
                " now(), now(), 'completed', 'bye-caller', %s, %s::jsonb"
                " FROM sip_numbers WHERE phone_number = '+390551110001' RETURNING id",
                (
                    "Anna placed an order: two pizzas for delivery.",
                    '{"intent": "order", "outcome": "ticket", "caller_name": "Anna",'
                    ' "callback_number": "3331112222"}',
                ),
            )
            row = await cursor.fetchone()
        assert row is not None
        return uuid.UUID(str(row[0]))
    finally:
        await pool.close()


def test_the_summary_is_shown_in_the_call_history(web: WebApp) -> None:
    session = run_async(_summarised_call(web.conninfo))
    with web.client(web.tokens[ALPHA_MEMBER]) as member:
        detail = member.get(f"/api/v1/operations/calls/{session}").json()
    assert detail["summary"] == "Anna placed an order: two pizzas for delivery."
    assert detail["summary_data"]["caller_name"] == "Anna"
    owner, _ = login_client(web, ALPHA_OWNER)
    with closing(owner):
        page = owner.get(f"/operations/calls/{session}")
    assert page.status_code == 200
    assert "Anna placed an order: two pizzas for delivery." in page.text
    assert "3331112222" in page.text
    with web.client(web.tokens[BETA_OWNER]) as beta:
        assert beta.get(f"/api/v1/operations/calls/{session}").status_code == 404
