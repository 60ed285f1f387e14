"""The REST API and the auth around it, over HTTP against the real app and PostgreSQL.

Cross-tenant attempts always get 403/404 and never another organization's data; cookie
requests without the CSRF token are refused; logins are rate limited; every error is
problem+json.
"""

from __future__ import annotations

import contextlib
import re
import uuid

import httpx
import pytest
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_NUMBERS,
    BETA_OWNER,
    OPERATOR,
    PASSWORD,
    WebApp,
)

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    body = response.json()
    assert body["status"] == status and body["title"]
    return dict(body)


def login_form_post(client: httpx.Client, email: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )


def login_client(web: WebApp, email: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client holding a session cookie, and the session's CSRF token."""
    client = web.client()
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    page = client.get("/numbers")
    csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert csrf is not None
    return client, csrf.group(1)


def test_me_and_numbers_show_only_the_tenants_own(web: WebApp) -> None:
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        me = api.get("/api/v1/me").json()
        assert me["email"] == ALPHA_OWNER and me["role"] == "owner" and not me["is_operator"]
        numbers = api.get("/api/v1/numbers").json()
    assert sorted(n["phone_number"] for n in numbers) == sorted(ALPHA_NUMBERS)
    assert {n["organization"] for n in numbers} == {"alpha"}
    with web.client(web.tokens[OPERATOR]) as api:
        everything = api.get("/api/v1/numbers").json()
    assert len(everything) == 3


def test_cross_tenant_reads_and_writes_get_404_and_no_data(web: WebApp) -> None:
    beta_number = web.numbers[BETA_NUMBERS[0]]
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        read = api.get(f"/api/v1/numbers/{beta_number}")
        body = assert_problem(read, 404)
        assert BETA_NUMBERS[0] not in read.text and "beta" not in str(body.get("detail"))
        write = api.patch(f"/api/v1/numbers/{beta_number}", json={"label": "hijacked"})
        assert_problem(write, 404)
        unknown = api.get(f"/api/v1/numbers/{uuid.uuid4()}")
        assert_problem(unknown, 404)
        # operator-only endpoints: 403
        assert_problem(api.get("/api/v1/organizations"), 403)
        assign = api.post(f"/api/v1/numbers/{beta_number}/assign", json={"organization": "alpha"})
        assert_problem(assign, 403)
        add = api.post("/api/v1/numbers", json={"phone_number": "+390551119999",
                                                 "organization": "alpha"})  # fmt: skip
        assert_problem(add, 403)
    with web.client(web.tokens[BETA_OWNER]) as api:
        still = api.get(f"/api/v1/numbers/{beta_number}").json()
    assert still["label"] == "beta line 1" and still["organization"] == "beta"


def test_owner_patches_member_may_not(web: WebApp) -> None:
    number = web.numbers[ALPHA_NUMBERS[0]]
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        changed = api.patch(
            f"/api/v1/numbers/{number}",
            json={"label": "Orders", "greeting": "Ciao!", "language": "it", "active": False},
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["label"] == "Orders" and body["active"] is False
        assert body["overrides"] == {"greeting": "Ciao!", "language": "it"}
        # null inherits the organization's value again
        cleared = api.patch(f"/api/v1/numbers/{number}", json={"greeting": None}).json()
        assert cleared["overrides"] == {"language": "it"}
        # a bad value: 422 naming the field, nothing written (the label stays)
        bad = api.patch(f"/api/v1/numbers/{number}", json={"label": "X", "language": "english!"})
        problem = assert_problem(bad, 422)
        assert "language" in str(problem["detail"])
        assert api.get(f"/api/v1/numbers/{number}").json()["label"] == "Orders"
        unknown = api.patch(f"/api/v1/numbers/{number}", json={"max_concurrent_calls": 99})
        assert_problem(unknown, 422)
    with web.client(web.tokens[ALPHA_MEMBER]) as api:
        assert api.get(f"/api/v1/numbers/{number}").status_code == 200
        assert_problem(api.patch(f"/api/v1/numbers/{number}", json={"label": "Nope"}), 403)


def test_operator_adds_and_reassigns_with_audit(web: WebApp) -> None:
    with web.client(web.tokens[OPERATOR]) as api:
        added = api.post(
            "/api/v1/numbers",
            json={"phone_number": "055 1119999", "organization": "alpha", "label": "New"},
        )
        assert added.status_code == 201, added.text
        number = added.json()
        assert number["phone_number"] == "+390551119999"
        assert number["assigned_by"] == f"user:{OPERATOR}"
        duplicate = api.post(
            "/api/v1/numbers", json={"phone_number": "+390551119999", "organization": "beta"}
        )
        assert "+390551119999" in str(assert_problem(duplicate, 409)["detail"])
        invalid = api.post("/api/v1/numbers", json={"phone_number": "abc", "organization": "beta"})
        assert_problem(invalid, 422)
        moved = api.post(f"/api/v1/numbers/{number['id']}/assign", json={"organization": "beta"})
        assert moved.status_code == 200, moved.text
        result = moved.json()
        assert result["previous_organization"] == "alpha"
        assert result["number"]["organization"] == "beta"
        assert result["number"]["label"] == ""  # the old organization's label is cleared
        orgs = {o["slug"]: o for o in api.get("/api/v1/organizations").json()}
        assert orgs["beta"]["numbers"] == 2 and orgs["alpha"]["max_concurrent_calls"] == 5
    with web.client(web.tokens[BETA_OWNER]) as api:
        mine = {n["phone_number"] for n in api.get("/api/v1/numbers").json()}
    assert "+390551119999" in mine


def test_authentication_failures_are_problems(web: WebApp) -> None:
    with web.client() as anonymous:
        assert_problem(anonymous.get("/api/v1/me"), 401)
    with web.client("fd_not-a-real-token") as forged:
        assert_problem(forged.get("/api/v1/me"), 401)
    with web.client(web.tokens[OPERATOR]) as api:
        assert_problem(api.get("/api/v1/numbers/not-a-uuid"), 422)
        assert_problem(api.patch(f"/api/v1/numbers/{uuid.uuid4()}", content=b"{"), 422)


def test_cookie_session_needs_the_csrf_header_for_unsafe_methods(web: WebApp) -> None:
    client, csrf = login_client(web, ALPHA_OWNER)
    number = web.numbers[ALPHA_NUMBERS[1]]
    with contextlib.closing(client):
        assert client.get("/api/v1/me").json()["email"] == ALPHA_OWNER  # GET needs none
        refused = client.patch(f"/api/v1/numbers/{number}", json={"label": "csrf"})
        assert_problem(refused, 403)
        wrong = client.patch(
            f"/api/v1/numbers/{number}", json={"label": "csrf"}, headers={"X-CSRF-Token": "x" * 43}
        )
        assert_problem(wrong, 403)
        # the page form without its hidden token is refused the same way
        form = client.post(f"/numbers/{number}", data={"label": "csrf"})
        assert form.status_code == 403
        assert client.get(f"/api/v1/numbers/{number}").json()["label"] == "alpha line 2"
        ok = client.patch(
            f"/api/v1/numbers/{number}", json={"label": "with token"},
            headers={"X-CSRF-Token": csrf},
        )  # fmt: skip
        assert ok.status_code == 200 and ok.json()["label"] == "with token"
        # logout needs the token too, and then the session is gone
        assert client.post("/logout").status_code == 403
        assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
        client.cookies.clear()
    with web.client() as anonymous:
        assert_problem(anonymous.get("/api/v1/me"), 401)


def test_session_cookie_flags(web: WebApp) -> None:
    with web.client() as client:
        answer = login_form_post(client, OPERATOR, PASSWORD)
    cookie = next(v for k, v in answer.headers.multi_items() if k == "set-cookie"
                  and v.startswith("fd_session="))  # fmt: skip
    flags = cookie.lower()
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http here; https or the setting turns it on


def test_login_without_form_token_is_refused(web: WebApp) -> None:
    with web.client() as client:
        answer = client.post("/login", data={"email": OPERATOR, "password": PASSWORD})
    assert answer.status_code == 403 and "fd_session" not in answer.headers.get("set-cookie", "")


def test_login_lockout_per_email_and_address_holds_even_for_the_right_password(web: WebApp) -> None:
    def attempt(client: httpx.Client, password: str) -> httpx.Response:
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        return client.post(
            "/login",
            data={"email": ALPHA_OWNER, "password": password, "csrf_token": token.group(1)},
        )

    with web.client() as client:
        for _ in range(web.settings.web_login_max_failures):
            assert attempt(client, "wrong password").status_code == 401
        blocked = attempt(client, PASSWORD)
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["Retry-After"]) <= web.settings.web_login_window
        assert "fd_session" not in blocked.headers.get("set-cookie", "")
        # another user from the same address is not: the lock-out is per (email, address),
        # and the address's own limit is higher (test_hardening.py has the other cases)
        form = client.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        other = client.post(
            "/login", data={"email": BETA_OWNER, "password": PASSWORD, "csrf_token": token.group(1)}
        )
        assert other.status_code == 303


@pytest.mark.parametrize("path", ["/admin", "/admin/numbers"])
def test_tenant_gets_403_page_on_admin(web: WebApp, path: str) -> None:
    client, _csrf = login_client(web, ALPHA_OWNER)
    with contextlib.closing(client):
        answer = client.get(path)
    assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")


def test_pages_redirect_to_login_and_static_htmx_is_served(web: WebApp) -> None:
    with web.client() as client:
        answer = client.get("/numbers")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
        htmx = client.get("/static/vendor/htmx-2.0.11.min.js")
        assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
        assert client.get("/openapi.json").json()["paths"]["/api/v1/numbers/{number_id}"]


async def test_reassigning_a_number_with_live_calls_asks_first(web: WebApp) -> None:
    from frontdesk.store.engine import open_pool

    number = web.numbers[ALPHA_NUMBERS[0]]
    pool = await open_pool(web.conninfo, max_size=1)
    try:  # one live call, as admission writes it
        async with pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO nodes (id, max_calls) VALUES ('n1', 5)")
            org = await (await conn.execute("SELECT id FROM organizations WHERE slug = 'alpha'")
                         ).fetchone()  # fmt: skip
            assert org is not None
            session = uuid.uuid4()
            await conn.execute(
                "SELECT frontdesk_admit(%s, %s, %s, 'n1', 5, 'c1@pbx', '', %s)",
                (session, org[0], number, ALPHA_NUMBERS[0]),
            )
    finally:
        await pool.close()
    client, csrf = login_client(web, OPERATOR)
    with contextlib.closing(client):
        ask = client.post(
            f"/admin/numbers/{number}/assign", data={"org": "beta", "csrf_token": csrf}
        )
        assert ask.status_code == 200 and 'id="live-warning"' in ask.text
        assert "continue with <strong>alpha</strong>" in ask.text
        assert "new calls go to <strong>beta</strong>" in ask.text
        with web.client(web.tokens[OPERATOR]) as api:  # nothing changed yet
            assert api.get(f"/api/v1/numbers/{number}").json()["organization"] == "alpha"
        done = client.post(
            f"/admin/numbers/{number}/assign",
            data={"org": "beta", "csrf_token": csrf, "confirm": "yes"},
        )
        assert done.status_code == 303
    with web.client(web.tokens[OPERATOR]) as api:
        assert api.get(f"/api/v1/numbers/{number}").json()["organization"] == "beta"
