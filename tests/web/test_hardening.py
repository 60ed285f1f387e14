"""Issue 15's hardening, over HTTP against the real app (uvicorn, embedded PostgreSQL).

- Every route of the app (walked from `app.routes`, so a new route is covered without
  editing this file), anonymous and logged in, every method, answers with the CSP (no inline
  script), frame-ancestors 'none', X-Frame-Options DENY, nosniff, Referrer-Policy, and
  Cache-Control: no-store (all but /static); every HTML page it serves has no inline script,
  inline handler or style attribute that the CSP would block.
- X-Forwarded-For: ignored from loopback when no proxy is trusted (the issue's case: a
  client cannot dodge the lock-out or aim it by writing the header), believed from a trusted
  proxy, and then only the hops our proxy appended.
- The lock-out: failing on purpose for a user from one address does not stop that user from
  logging in from another; one address cannot walk through accounts past its own limit.
- Banners come only from fixed keys; Deactivate and Suspend ask first without script; a bad
  history filter shows its error next to its field; tenants see people's words.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route
from tests.integration.store.support import run_async
from tests.web import conftest as web_conftest
from tests.web.conftest import (
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_OWNER,
    OPERATOR,
    PASSWORD,
    RunningWeb,
    WebApp,
    web_settings,
)
from tests.web.test_operations import seed_calls

from frontdesk.web.security import client_address

pytestmark = [pytest.mark.integration]

SECURITY_HEADERS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@contextlib.contextmanager
def running(web_db: str, **settings: Any) -> Iterator[tuple[WebApp, RunningWeb]]:
    seeded = run_async(web_conftest.seed(web_db))
    server = RunningWeb(web_db, web_settings(**settings))
    try:
        server.start()
        yield (
            WebApp(server.url, web_db, server.settings, seeded["tokens"], seeded["numbers"]),
            server,
        )
    finally:
        server.stop()


@pytest.fixture
def lockable(web_db: str) -> Iterator[WebApp]:
    """The app seeded like `web`, locking after two failures (fewer slow argon2 checks)."""
    with running(web_db, web_login_max_failures=2) as (web, _server):
        yield web


def login_client(
    web: WebApp, email: str, *, address: str | None = None, forwarded: str | None = None
) -> tuple[httpx.Client, httpx.Response]:
    """A cookie client that tried to log in (from `address`, saying X-Forwarded-For)."""
    transport = httpx.HTTPTransport(local_address=address) if address else None
    client = httpx.Client(base_url=web.url, transport=transport, follow_redirects=False)
    if forwarded:
        client.headers["X-Forwarded-For"] = forwarded
    return client, attempt(client, email, PASSWORD)


def attempt(client: httpx.Client, email: str, password: str) -> httpx.Response:
    form = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None, form.text
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


# ---------------------------------------------------------------------------- headers
class InlineFinder(HTMLParser):
    """What a strict CSP would block in a page: inline scripts, handlers, style attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.blocked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _value in attrs}
        values = dict(attrs)
        if tag == "script" and "src" not in names and values.get("type") != "application/json":
            self.blocked.append("inline <script>")
        if tag == "style":
            self.blocked.append("<style> element")
        if "style" in names:
            self.blocked.append(f"style attribute on <{tag}>")
        self.blocked += [f"{name} handler on <{tag}>" for name in names if name.startswith("on")]
        self.blocked += [f"{name} on <{tag}>" for name in names if name.startswith("hx-on")]


class TextOf(HTMLParser):
    """The text a person reads on a page (no markup, attribute values or scripts)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.parts).split())


def org_row(html: str, slug: str) -> str:
    found = re.search(rf'<tr data-org="{slug}">.*?</tr>', html, re.S)
    assert found is not None
    return found.group(0)


def concrete(path: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)


def routes_to_walk(app: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route of the app, static files as one.

    FastAPI keeps included routers as branches; `iter_route_contexts` (what its OpenAPI
    generator walks) flattens them into the effective routes with their full paths.
    """
    walked: list[tuple[str, str]] = []
    for context in iter_route_contexts(app.routes):
        route, path = context.original_route, context.path
        if isinstance(route, Mount):
            walked.append(("GET", f"{path}/app.css"))
        elif isinstance(route, APIRoute | Route) and path and context.methods:
            walked += [(method, path) for method in sorted(context.methods)]
        else:  # a new kind of route: fail so that this test learns it
            pytest.fail(f"unknown route {route!r}")
    return walked


def check(answer: httpx.Response, what: str, *, static: bool) -> None:
    headers = answer.headers
    csp = headers.get("content-security-policy", "")
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    ), f"{what}: CSP {csp!r}"
    assert "frame-ancestors 'none'" in csp, what
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, f"{what}: {name} {headers.get(name)!r}"
    if not static:
        assert headers.get("cache-control") == "no-store", f"{what}: {headers.get('cache-control')}"
    if headers.get("content-type", "").startswith("text/html"):
        finder = InlineFinder()
        finder.feed(answer.text)
        assert not finder.blocked, f"{what}: {finder.blocked}"


def test_every_route_answers_with_the_security_headers(web_db: str) -> None:
    with running(web_db) as (web, server):
        seeded = run_async(seed_calls(web))
        values = {
            "number_id": str(web.numbers[ALPHA_NUMBERS[0]]),
            "session_id": str(seeded.alpha[0]),
            "slug": "alpha",
        }
        walked = routes_to_walk(server.app)
        assert ("GET", "/docs") in walked and ("GET", "/numbers") in walked
        operator, landed = login_client(web, OPERATOR)
        assert landed.status_code == 303
        tenant, landed = login_client(web, ALPHA_OWNER)
        assert landed.status_code == 303
        anonymous = httpx.Client(base_url=web.url, follow_redirects=False)
        seen: set[int] = set()
        clients = (("operator", operator), ("tenant", tenant), ("anonymous", anonymous))
        with contextlib.closing(operator), contextlib.closing(tenant), anonymous:
            # safe methods first; unsafe ones go without the CSRF token, so they change nothing
            for method, template in sorted(walked, key=lambda item: item[0] not in ("GET", "HEAD")):
                path = concrete(template, values)
                for who, client in clients:
                    what = f"{who} {method} {path}"
                    with client.stream(method, path, timeout=10) as answer:
                        if answer.headers.get("content-type", "").startswith("text/html"):
                            answer.read()
                        check(answer, what, static=path.startswith("/static/"))
                        seen.add(answer.status_code)
            # the error pages carry them too: 404, 405, 422 (a malformed id)
            for path in ("/no-such-page", "/api/v1/no-such", "/numbers/not-a-uuid"):
                answer = tenant.get(path)
                check(answer, f"GET {path}", static=False)
                seen.add(answer.status_code)
        assert {200, 303, 403, 404}.issubset(seen), seen


def test_pages_cannot_be_framed_and_docs_are_served_by_us(web: WebApp) -> None:
    with httpx.Client(base_url=web.url) as client:
        docs = client.get("/docs")
        redoc = client.get("/redoc")
    for page in (docs, redoc):
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/static/") for s in sources), sources
    assert "/static/vendor/swagger-ui-5.35.0/swagger-ui-bundle.js" in docs.text
    assert '<script type="module" src="/static/docs-redoc.js">' in redoc.text
    with httpx.Client(base_url=web.url) as client:
        starter = client.get("/static/docs-redoc.js").text
    assert 'from "/static/vendor/redoc-3.0.1/redoc.standalone.js"' in starter


# ---------------------------------------------------------------------------- client address
def test_client_address_rule() -> None:
    import ipaddress

    proxy = (ipaddress.ip_network("10.0.0.0/8"),)
    assert client_address("127.0.0.1", ["6.6.6.6"], ()) == "127.0.0.1"  # nobody trusted
    assert client_address("192.0.2.9", ["6.6.6.6"], proxy) == "192.0.2.9"  # peer not a proxy
    assert client_address("10.0.0.5", ["198.51.100.7"], proxy) == "198.51.100.7"
    # the client wrote "6.6.6.6" itself; our proxy appended the address it saw
    assert client_address("10.0.0.5", ["6.6.6.6, 198.51.100.7"], proxy) == "198.51.100.7"
    # two trusted hops: skip them both
    assert client_address("10.0.0.5", ["198.51.100.7, 10.0.0.9"], proxy) == "198.51.100.7"
    # garbage where our proxy's entry should be: the last trusted hop, never the client's pick
    assert client_address("10.0.0.5", ["6.6.6.6, junk"], proxy) == "10.0.0.5"
    assert client_address("10.0.0.5", ["[2001:db8::1]:4711"], proxy) == "2001:db8::1"
    assert client_address("10.0.0.5", ["9" * 5000], proxy) == "10.0.0.5"  # not an address


def test_forwarded_for_from_loopback_is_ignored_without_trusted_proxies(lockable: WebApp) -> None:
    """The issue's case: any local client could claim any address. Now the header is noise:
    changing it neither escapes the lock-out nor moves it onto someone else."""
    web = lockable  # two failures fill the (email, address) key: a short test
    limit = web.settings.web_login_max_failures
    with httpx.Client(base_url=web.url, follow_redirects=False) as client:
        for index in range(limit):
            client.headers["X-Forwarded-For"] = f"198.51.100.{index + 1}"
            assert attempt(client, ALPHA_OWNER, "wrong").status_code == 401
        client.headers["X-Forwarded-For"] = "198.51.100.200"
        assert attempt(client, ALPHA_OWNER, PASSWORD).status_code == 429
    # the owner from another machine (127.0.0.2: a different peer) is not locked out
    other, landed = login_client(web, ALPHA_OWNER, address="127.0.0.2")
    with contextlib.closing(other):
        assert landed.status_code == 303, landed.text


def test_forwarded_for_is_believed_from_a_trusted_proxy_only(web_db: str) -> None:
    with running(web_db, trusted_proxies=["127.0.0.1/32"], web_login_max_failures=2) as (
        web,
        _server,
    ):
        limit = web.settings.web_login_max_failures
        with httpx.Client(base_url=web.url, follow_redirects=False) as proxy:
            proxy.headers["X-Forwarded-For"] = "198.51.100.7"
            for _ in range(limit):
                assert attempt(proxy, ALPHA_OWNER, "wrong").status_code == 401
            assert attempt(proxy, ALPHA_OWNER, PASSWORD).status_code == 429
            # another client behind the same proxy logs in as the same user
            proxy.headers["X-Forwarded-For"] = "203.0.113.50"
            assert attempt(proxy, ALPHA_OWNER, PASSWORD).status_code == 303
            # a client that prepends the blocked address itself cannot borrow its block
            proxy.cookies.clear()
            proxy.headers["X-Forwarded-For"] = "198.51.100.7, 203.0.113.51"
            assert attempt(proxy, ALPHA_OWNER, PASSWORD).status_code == 303
        # a peer that is not the trusted proxy (127.0.0.2) is judged by its own address
        transport = httpx.HTTPTransport(local_address="127.0.0.2")
        with httpx.Client(base_url=web.url, transport=transport, follow_redirects=False) as peer:
            peer.headers["X-Forwarded-For"] = "198.51.100.7"
            assert attempt(peer, ALPHA_OWNER, PASSWORD).status_code == 303


# ---------------------------------------------------------------------------- lock-out
def test_an_attacker_cannot_lock_a_user_out_from_elsewhere(lockable: WebApp) -> None:
    web = lockable  # two failures fill the (email, address) key: a short test
    limit = web.settings.web_login_max_failures
    transport = httpx.HTTPTransport(local_address="127.0.0.3")
    with httpx.Client(base_url=web.url, transport=transport, follow_redirects=False) as attacker:
        for _ in range(limit * 2):
            assert attempt(attacker, ALPHA_OWNER, "guess").status_code in (401, 429)
        blocked = attempt(attacker, ALPHA_OWNER, PASSWORD)
        assert blocked.status_code == 429  # the right password does not help the attacker
        assert 1 <= int(blocked.headers["Retry-After"]) <= web.settings.web_login_window
        assert "fd_session" not in blocked.headers.get("set-cookie", "")
    victim, landed = login_client(web, ALPHA_OWNER, address="127.0.0.4")
    with contextlib.closing(victim):
        assert landed.status_code == 303 and "fd_session" in landed.headers["set-cookie"]


def test_one_address_cannot_walk_through_accounts(web_db: str) -> None:
    with running(web_db, web_login_max_failures=2) as (web, _server):
        emails = [f"user{index}@example.com" for index in range(2 * 4)]
        transport = httpx.HTTPTransport(local_address="127.0.0.5")
        with httpx.Client(base_url=web.url, transport=transport, follow_redirects=False) as walker:
            for email in emails:  # each account once: no (email, address) pair fills up
                assert attempt(walker, email, "guess").status_code == 401
            assert attempt(walker, BETA_OWNER, PASSWORD).status_code == 429  # the address is full
        elsewhere, landed = login_client(web, BETA_OWNER, address="127.0.0.6")
        with contextlib.closing(elsewhere):
            assert landed.status_code == 303


# ---------------------------------------------------------------------- banners, confirmations
def test_banners_come_only_from_fixed_keys(web: WebApp) -> None:
    client, landed = login_client(web, OPERATOR)
    with contextlib.closing(client):
        assert landed.status_code == 303
        forged = client.get("/admin", params={"message": "Your account is closed: call 555"})
        assert "call 555" not in forged.text
        unknown = client.get("/admin", params={"done": "Your account is closed"})
        assert "account is closed" not in unknown.text
        assert 'role="status"' not in unknown.text
        known = client.get("/admin", params={"done": "org-updated"})
        assert re.search(r'role="status">Organization saved\.<', known.text)


def test_suspend_asks_first_and_names_the_live_calls(web: WebApp) -> None:
    client, _landed = login_client(web, OPERATOR)
    with contextlib.closing(client):
        token = csrf_of(client.get("/admin"))
        asked = client.post("/admin/orgs/alpha", data={"csrf_token": token, "max_calls": "5"})
        assert asked.status_code == 200
        assert "Suspend Alpha Pizzeria (alpha)?" in asked.text
        assert re.search(r'id="suspend-live">0<', asked.text)
        assert "checked" in org_row(client.get("/admin").text, "alpha")  # nothing changed yet
        done = client.post(
            "/admin/orgs/alpha", data={"csrf_token": token, "max_calls": "5", "confirm": "yes"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/admin?done=org-suspended"
        assert "checked" not in org_row(client.get("/admin").text, "alpha")
        # re-activating needs no confirmation
        back = client.post(
            "/admin/orgs/alpha", data={"csrf_token": token, "max_calls": "5", "active": "on"}
        )
        assert back.status_code == 303 and back.headers["location"] == "/admin?done=org-updated"


def test_deactivate_without_script_asks_first(web: WebApp) -> None:
    number = web.numbers[ALPHA_NUMBERS[0]]
    client, _landed = login_client(web, ALPHA_OWNER)
    with contextlib.closing(client):
        token = csrf_of(client.get("/numbers"))
        asked = client.post(
            f"/numbers/{number}/active", data={"csrf_token": token, "active": "false"}
        )
        assert asked.status_code == 200 and f"Deactivate {ALPHA_NUMBERS[0]}?" in asked.text
        still = client.get("/numbers").text
        assert re.search(rf'id="row-{number}".*?badge on">active<', still, re.S)
        done = client.post(
            f"/numbers/{number}/active",
            data={"csrf_token": token, "active": "false", "confirm": "yes"},
        )
        assert done.status_code == 303
        row = client.get("/numbers").text
        assert re.search(rf'id="row-{number}".*?badge off">inactive<', row, re.S)
    member, _landed = login_client(web, "member@alpha.example")
    with contextlib.closing(member):
        token = csrf_of(member.get("/numbers"))
        refused = member.post(
            f"/numbers/{number}/active", data={"csrf_token": token, "active": "false"}
        )
        assert refused.status_code == 403


# ---------------------------------------------------------------------------- words, filters
def test_admin_filter_errors_sit_by_their_field(web: WebApp) -> None:
    client, _landed = login_client(web, OPERATOR)
    with contextlib.closing(client):
        for params, field in (({"status": "deleted"}, "status"), ({"org": "nobody"}, "org")):
            bad = client.get("/admin", params=params)
            assert bad.status_code == 422
            assert re.search(rf'<span class="field-error" id="error-{field}">[^<]+<', bad.text)
            assert f'aria-describedby="error-{field}"' in bad.text
            assert "data-number=" not in bad.text  # no unfiltered list passes as filtered
        good = client.get("/admin", params={"status": "active", "org": "alpha"})
        assert good.status_code == 200 and good.text.count("data-number=") == len(ALPHA_NUMBERS)


def test_tenants_read_plain_words_and_filter_errors_sit_by_their_field(web_db: str) -> None:
    with running(web_db, operations_time_zone="Europe/Rome") as (web, _server):
        seeded = run_async(seed_calls(web))
        day = seeded.day.isoformat()
        tenant, _landed = login_client(web, ALPHA_OWNER)
        operator, _landed = login_client(web, OPERATOR)
        with contextlib.closing(tenant), contextlib.closing(operator):
            page = tenant.get("/operations", params={"from": day, "to": day})
            assert page.status_code == 200
            shown = TextOf(page.text).text
            assert "line busy" in shown and "caller hung up" in shown, shown
            for technical in ("limit-number", "remote-bye", "As recorded", "node"):
                assert technical not in shown, technical
            assert not re.search(r"\b486\b", shown)
            detail = TextOf(tenant.get(f"/operations/calls/{seeded.alpha[0]}").text).text
            assert "Node" not in detail and "SIP" not in detail and "Reference" in detail
            ops = TextOf(
                operator.get("/operations", params={"org": "alpha", "from": day, "to": day}).text
            ).text
            assert "limit-number 486" in ops and "line busy" in ops
            assert (
                "Node seed"
                in TextOf(operator.get(f"/operations/calls/{seeded.alpha[0]}").text).text
            )

            for params, field in (
                ({"from": "yesterday"}, "from"),
                ({"from": day, "to": "2001-01-01"}, "to"),
                ({"caller": "call me"}, "caller"),
                ({"outcome": "exploded"}, "outcome"),
                ({"number": "nope"}, "number"),
                ({"number": str(uuid.uuid4())}, "number"),
            ):
                bad = tenant.get("/operations", params=params)
                assert bad.status_code == 422, (params, bad.status_code)
                assert bad.headers["content-type"].startswith("text/html")
                error = re.search(
                    rf'<span class="field-error" id="error-{field}">([^<]+)<', bad.text
                )
                assert error is not None, (params, bad.text[:500])
                assert f'aria-describedby="error-{field}"' in bad.text
                assert 'data-session="' not in bad.text  # no unfiltered history passes as filtered
                if field in ("from", "caller"):  # the wrong value stays in the field to correct
                    assert f'value="{params[field]}"' in bad.text


def test_switching_a_number_off_on_its_page_asks_first(web: WebApp) -> None:
    number = web.numbers[ALPHA_NUMBERS[0]]
    client, _landed = login_client(web, ALPHA_OWNER)
    with contextlib.closing(client):
        token = csrf_of(client.get(f"/numbers/{number}"))
        form = {"csrf_token": token, "label": "Renamed"}  # the Active box left unticked
        asked = client.post(f"/numbers/{number}", data=form)
        assert asked.status_code == 422
        assert re.search(r'id="error-active">Switching this number off', asked.text)
        assert 'name="confirm_deactivate"' in asked.text
        assert 'value="Renamed"' in asked.text  # what was typed comes back
        page = client.get(f"/numbers/{number}").text
        assert 'value="alpha line 1"' in page and 'name="active" value="on" checked' in page
        done = client.post(f"/numbers/{number}", data={**form, "confirm_deactivate": "yes"})
        assert done.status_code == 303
        page = client.get(f"/numbers/{number}").text
        assert 'value="Renamed"' in page and 'name="active" value="on" checked' not in page
