"""Operator onboarding in the web (issue 15 item 3), over HTTP against the real app and its
embedded PostgreSQL: organizations, one-time password links, own password, API tokens,
number label/limit/release, the configuration audit, and 403 for everyone else.

Expiry is tested by moving the link's `expires_at` into the past in the database (no sleep).
"""

from __future__ import annotations

import contextlib
import re
import uuid

import httpx
import pytest
from tests.integration.store.support import run_async
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    OPERATOR,
    PASSWORD,
    WebApp,
)

from frontdesk.store.engine import open_pool

pytestmark = pytest.mark.integration

NEW_PASSWORD = "a brand new secret 7"


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


def log_in(web: WebApp, email: str, password: str = PASSWORD) -> httpx.Response:
    client = web.client()
    with contextlib.closing(client):
        form = client.get("/login")
        return client.post(
            "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form)}
        )


def session(web: WebApp, email: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    client = web.client()
    form = client.get("/login")
    landed = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(form)}
    )
    assert landed.status_code == 303, landed.text
    page = client.get("/account/password")
    return client, csrf_of(page)


def link_of(page: httpx.Response) -> str:
    found = re.search(r'id="link-url">https?://[^/]+(/password/[^<]+)<', page.text)
    assert found is not None, page.text
    return found.group(1)


def set_password(web: WebApp, path: str, password: str) -> httpx.Response:
    client = web.client()
    with contextlib.closing(client):
        form = client.get(path)
        if form.status_code != 200:
            return form
        return client.post(
            path, data={"password": password, "again": password, "csrf_token": csrf_of(form)}
        )


def sql(web: WebApp, query: str, *params: object) -> list[tuple[object, ...]]:
    async def run() -> list[tuple[object, ...]]:
        pool = await open_pool(web.conninfo, max_size=1)
        try:
            async with pool.connection() as conn, conn.transaction():
                cursor = await conn.execute(query.encode(), params)
                return list(await cursor.fetchall()) if cursor.description else []
        finally:
            await pool.close()

    return run_async(run())


def test_an_operator_onboards_an_organization_and_its_owner(web: WebApp) -> None:
    ops, csrf = session(web, OPERATOR)
    with contextlib.closing(ops):
        bad = ops.post("/admin/orgs", data={"csrf_token": csrf, "slug": "Bad Slug!", "name": "X"})
        assert bad.status_code == 422 and "is not valid" in bad.text
        made = ops.post(
            "/admin/orgs",
            data={"csrf_token": csrf, "slug": "gamma", "name": "Gamma Dental", "max_calls": "3"},
        )
        assert made.status_code == 303
        assert made.headers["location"] == "/admin/orgs/gamma?done=org-created"
        assert "Gamma Dental (gamma)" in ops.get(made.headers["location"]).text
        invited = ops.post(
            "/admin/orgs/gamma/invite",
            data={"csrf_token": csrf, "email": "Boss@Gamma.example", "role": "owner"},
        )
        assert invited.status_code == 200, invited.text
        link = link_of(invited)
        second = link_of(
            ops.post(
                "/admin/orgs/gamma/invite",
                data={"csrf_token": csrf, "email": "late@gamma.example", "role": "member"},
            )
        )
        # the token is stored only as a digest
        stored = sql(web, "SELECT count(*) FROM user_links WHERE token_hash = %s::bytea",
                     link.rsplit("/", 1)[1].encode())  # fmt: skip
        assert stored == [(0,)]
        # nobody can log in before the link sets a password
        assert log_in(web, "boss@gamma.example", NEW_PASSWORD).status_code == 401

        short = set_password(web, link, "short")
        assert short.status_code == 422 and "at least 8" in short.text
        done = set_password(web, link, NEW_PASSWORD)
        assert done.status_code == 303 and done.headers["location"] == "/numbers"
        assert "fd_session" in done.headers["set-cookie"]  # logged in by the link
        assert log_in(web, "boss@gamma.example", NEW_PASSWORD).status_code == 303
        # the link works once
        again = set_password(web, link, "another password 9")
        assert again.status_code == 410 and "no longer works" in again.text
        # another one expires (time moved in the database, not slept)
        sql(web, "UPDATE user_links SET created_at = now() - interval '2 days',"
                 " expires_at = now() - interval '1 second' WHERE used_at IS NULL")  # fmt: skip
        with web.client() as anonymous:
            expired = anonymous.get(second)
        assert expired.status_code == 410 and "no longer works" in expired.text

        # the organization's page shows the audit of its creation and of the invitations
        page = ops.get("/admin/orgs/gamma").text
        assert "user:ops@frontdesk.example" in page and "boss@gamma.example" in page
        # editing it (name, limit) is audited with before and after
        ops.post(
            "/admin/orgs/gamma",
            data={"csrf_token": csrf, "name": "Gamma Dental Care", "max_calls": "4",
                  "active": "on", "back": "org"},
        )  # fmt: skip
        audit = sql(web, "SELECT fields, before, after, actor FROM config_audit a"
                         " JOIN organizations o ON o.id = a.organization_id"
                         " WHERE o.slug = 'gamma' AND entity = 'organization'"
                         " ORDER BY changed_at DESC LIMIT 1")  # fmt: skip
        assert audit == [(
            ["max_concurrent_calls", "name"],
            {"max_concurrent_calls": 3, "name": "Gamma Dental"},
            {"max_concurrent_calls": 4, "name": "Gamma Dental Care"},
            "user:ops@frontdesk.example",
        )]  # fmt: skip
        table = ops.get("/admin/orgs/gamma").text.split('id="config-audit"')[1]
        assert "name: Gamma Dental Care" in table and "name: Gamma Dental<" in table


def test_reset_link_and_own_password(web: WebApp) -> None:
    ops, csrf = session(web, OPERATOR)
    with contextlib.closing(ops):
        page = ops.get("/admin/orgs/alpha").text
        user_id = re.search(
            r'data-user="member@alpha.example">.*?/admin/users/([0-9a-f-]+)/reset', page, re.S
        )
        assert user_id is not None
        issued = ops.post(
            f"/admin/users/{user_id.group(1)}/reset", data={"csrf_token": csrf, "org": "alpha"}
        )
        link = link_of(issued)
    member, _member_csrf = session(web, ALPHA_MEMBER)  # a session from before the reset
    with contextlib.closing(member):
        assert set_password(web, link, NEW_PASSWORD).status_code == 303
        assert member.get("/numbers").status_code == 303  # the old session ended
    assert log_in(web, ALPHA_MEMBER).status_code == 401
    assert set_password(web, link, "yet another one 1").status_code == 410  # once

    # every user changes their own password, giving the current one
    owner, owner_csrf = session(web, ALPHA_OWNER)
    with contextlib.closing(owner):
        wrong = owner.post(
            "/account/password",
            data={"csrf_token": owner_csrf, "current": "nope nope nope",
                  "password": NEW_PASSWORD, "again": NEW_PASSWORD},
        )  # fmt: skip
        assert wrong.status_code == 422 and "current password is wrong" in wrong.text
        no_csrf = owner.post(
            "/account/password",
            data={"current": PASSWORD, "password": NEW_PASSWORD, "again": NEW_PASSWORD},
        )
        assert no_csrf.status_code == 403
        changed = owner.post(
            "/account/password",
            data={"csrf_token": owner_csrf, "current": PASSWORD,
                  "password": NEW_PASSWORD, "again": NEW_PASSWORD},
        )  # fmt: skip
        assert changed.status_code == 303
        assert "Your password is changed." in owner.get(changed.headers["location"]).text
    assert log_in(web, ALPHA_OWNER).status_code == 401
    assert log_in(web, ALPHA_OWNER, NEW_PASSWORD).status_code == 303


def test_tokens_numbers_and_the_audit(web: WebApp) -> None:
    ops, csrf = session(web, OPERATOR)
    with contextlib.closing(ops):
        made = ops.post(
            "/admin/tokens", data={"csrf_token": csrf, "email": ALPHA_OWNER, "name": "crm"}
        )
        token = re.search(r'id="token-value">(fd_[^<]+)<', made.text)
        assert token is not None
        assert ops.get("/admin/tokens").text.count(token.group(1)) == 0  # shown once
        with web.client(token.group(1)) as api:
            assert api.get("/api/v1/me").status_code == 200
            listed = ops.get("/admin/tokens").text
            token_id = re.search(
                r'data-token="([0-9a-f-]+)"><td>owner@alpha.example</td><td>crm<', listed
            )
            assert token_id is not None
            revoked = ops.post(
                f"/admin/tokens/{token_id.group(1)}/revoke", data={"csrf_token": csrf}
            )
            assert revoked.headers["location"] == "/admin/tokens?done=token-revoked"
            assert api.get("/api/v1/me").status_code == 401
        assert ops.post("/admin/tokens", data={"csrf_token": csrf, "email": "no@x.example"}
                        ).status_code == 422  # fmt: skip

        number = web.numbers[ALPHA_NUMBERS[1]]
        bad = ops.post(
            f"/admin/numbers/{number}/edit",
            data={"csrf_token": csrf, "label": "Front desk", "max_calls": "0"},
        )
        assert bad.status_code == 422 and "whole number from 1" in bad.text
        saved = ops.post(
            f"/admin/numbers/{number}/edit",
            data={"csrf_token": csrf, "label": "Front desk", "max_calls": "4"},
        )
        assert saved.headers["location"] == "/admin/orgs/alpha?done=number-saved"
        audit = sql(web, "SELECT entity_key, fields, before, after FROM config_audit"
                         " WHERE entity = 'number'")  # fmt: skip
        assert audit == [(
            ALPHA_NUMBERS[1], ["label", "max_concurrent_calls"],
            {"label": "alpha line 2", "max_concurrent_calls": 2},
            {"label": "Front desk", "max_concurrent_calls": 4},
        )]  # fmt: skip
        page = ops.get("/admin/orgs/alpha").text
        assert "alpha line 2" in page.split('id="config-audit"')[1]

        # release: asks first, then the number is gone (404 from routing)
        asked = ops.post(f"/admin/numbers/{number}/release", data={"csrf_token": csrf})
        assert asked.status_code == 200 and 'id="release-warning"' in asked.text
        assert sql(web, "SELECT count(*) FROM sip_numbers WHERE id = %s", number) == [(1,)]
        gone = ops.post(
            f"/admin/numbers/{number}/release", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert gone.headers["location"] == "/admin/orgs/alpha?done=number-released"
        assert sql(web, "SELECT count(*) FROM sip_numbers WHERE id = %s", number) == [(0,)]

        # refused with a clear message while the number has a live call
        live = web.numbers[ALPHA_NUMBERS[0]]
        sql(web, "INSERT INTO nodes (id, max_calls) VALUES ('n1', 5)")
        sql(web, "SELECT frontdesk_admit(%s, o.id, %s, 'n1', 5, 'c1@pbx', '', %s)"
                 " FROM organizations o WHERE o.slug = 'alpha'",
            uuid.uuid4(), live, ALPHA_NUMBERS[0])  # fmt: skip
        refused = ops.post(
            f"/admin/numbers/{live}/release", data={"csrf_token": csrf, "confirm": "yes"}
        )
        assert refused.status_code == 409 and "cannot be released" in refused.text
        assert sql(web, "SELECT count(*) FROM sip_numbers WHERE id = %s", live) == [(1,)]


def test_a_tenants_own_number_edit_is_audited_with_its_actor(web: WebApp) -> None:
    owner, csrf = session(web, ALPHA_OWNER)
    number = web.numbers[ALPHA_NUMBERS[0]]
    with contextlib.closing(owner):
        answer = owner.patch(
            f"/api/v1/numbers/{number}", json={"label": "Orders"}, headers={"X-CSRF-Token": csrf}
        )
        assert answer.status_code == 200, answer.text
    assert sql(web, "SELECT fields, actor FROM config_audit WHERE entity = 'number'") == [
        (["label"], f"user:{ALPHA_OWNER}")
    ]


def test_nobody_but_an_operator_reaches_the_onboarding_routes(web: WebApp) -> None:
    number = web.numbers[ALPHA_NUMBERS[0]]
    some_id = uuid.uuid4()
    routes = [
        ("GET", "/admin/orgs/new"), ("POST", "/admin/orgs"), ("GET", "/admin/orgs/alpha"),
        ("POST", "/admin/orgs/alpha/invite"), ("POST", f"/admin/users/{some_id}/reset"),
        ("POST", f"/admin/numbers/{number}/edit"), ("POST", f"/admin/numbers/{number}/release"),
        ("GET", "/admin/tokens"), ("POST", "/admin/tokens"),
        ("POST", f"/admin/tokens/{some_id}/revoke"),
    ]  # fmt: skip
    owner, csrf = session(web, ALPHA_OWNER)
    with contextlib.closing(owner), web.client(web.tokens[ALPHA_OWNER]) as api:
        for method, path in routes:
            form = {"csrf_token": csrf, "slug": "x", "name": "x", "email": "a@b.example",
                    "org": "alpha", "max_calls": "1", "confirm": "yes"}  # fmt: skip
            by_page = owner.request(method, path, data=form if method == "POST" else None)
            assert by_page.status_code == 403, f"{method} {path}: {by_page.status_code}"
            by_token = api.request(method, path, data=form if method == "POST" else None)
            assert by_token.status_code == 403, f"{method} {path}: {by_token.status_code}"
    assert sql(web, "SELECT count(*) FROM organizations") == [(2,)]
    assert sql(web, "SELECT count(*) FROM sip_numbers WHERE id = %s", number) == [(1,)]


async def test_a_tenant_reads_only_its_own_audit_and_cannot_forge_or_erase_it(
    web: WebApp,
) -> None:
    import psycopg

    from frontdesk.store.config_audit import org_changes, record_change
    from frontdesk.store.orgs import get_org, update_org
    from frontdesk.store.tx import operator_tx, tenant_tx

    pool = await open_pool(web.conninfo, max_size=2)
    try:
        async with operator_tx(pool, actor="user:ops") as conn:
            alpha = await get_org(conn, "alpha")
            beta = await get_org(conn, "beta")
            await update_org(conn, "alpha", name="Alpha Trattoria")
            await update_org(conn, "beta", max_concurrent_calls=9)
        async with tenant_tx(pool, beta.id, actor="user:beta") as conn:
            assert await org_changes(conn, alpha.id) == []  # invisible, not refused
            assert [c.fields for c in await org_changes(conn, beta.id)] == [
                ("max_concurrent_calls",),
                ("active", "name", "slug"),  # edited, created
            ]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # RLS WITH CHECK
            async with tenant_tx(pool, beta.id) as conn:
                await record_change(conn, alpha.id, "organization", "alpha", {"a": 1}, {"a": 2})
        for statement in (b"UPDATE config_audit SET actor = 'x'", b"DELETE FROM config_audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with tenant_tx(pool, beta.id) as conn:
                    await conn.execute(statement)
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                async with operator_tx(pool) as conn:
                    await conn.execute(statement)
        async with operator_tx(pool) as conn:
            assert [c.actor for c in await org_changes(conn, alpha.id)] == ["user:ops", "test"]
    finally:
        await pool.close()
