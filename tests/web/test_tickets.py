"""The ticket inbox over HTTP against the real app and PostgreSQL: each organization sees its
own tickets only (another's is 404, never a row of it), owners change and members get 403,
filters and search narrow the list (a bad value is a 422 naming the parameter, or an error
next to the field on the page), pages go by cursor, the CSV holds exactly the filtered rows,
and the assignee must be a member of the ticket's organization.

Tickets are created as a call creates them: `agent_records.create_ticket`, the store function
behind the agent's `create_ticket` tool, on a session row of the dialled number.
Also holds `seed_ticket`, which the browser tests share.
"""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from tests.integration.store.support import run_async
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_NUMBERS,
    BETA_OWNER,
    OPERATOR,
    WebApp,
)
from tests.web.test_api import login_client

from frontdesk.store.agent_records import create_ticket
from frontdesk.store.engine import open_pool
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
API = "/api/v1/tickets"


async def seed_ticket(
    web: WebApp,
    phone: str,
    caller: str,
    *,
    kind: str = "order",
    summary: str = "Two pizzas for delivery",
    details: str = "Margherita and diavola, to Via Roma 1",
) -> uuid.UUID:
    """A finished call to `phone` from `caller`, and the ticket its agent filed."""
    pool = await open_pool(web.conninfo, max_size=2)
    try:
        async with operator_tx(pool) as conn:
            cursor = await conn.execute(
                b"INSERT INTO sessions (organization_id, sip_number_id, call_id_sip,"
                b" caller_number, called_number, node_id, started_at, answered_at, ended_at,"
                b" outcome, reason, transcript)"
                b" SELECT n.organization_id, n.id, %s, %s, n.phone_number, 'seed',"
                b" now() - interval '1 min', now() - interval '58 s', now(), 'completed',"
                b" 'bye-caller', %s FROM sip_numbers n WHERE n.phone_number = %s"
                b" RETURNING id, organization_id",
                (
                    f"t-{uuid.uuid4().hex[:10]}@pbx",
                    caller,
                    '[{"role": "caller", "text": "I want two pizzas", "at": 1}]',
                    phone,
                ),
            )
            row = await cursor.fetchone()
            assert row is not None
        return await create_ticket(
            pool, row[1], kind=kind, subject=summary, body=details, session_id=row[0],
            customer_id=None,
        )  # fmt: skip
    finally:
        await pool.close()


def client(web: WebApp, email: str) -> httpx.Client:
    return web.client(web.tokens[email])


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["tickets"]]


@pytest.fixture
def seeded(web: WebApp) -> dict[str, uuid.UUID]:
    async def go() -> dict[str, uuid.UUID]:
        return {
            "order": await seed_ticket(web, ALPHA_NUMBERS[0], "+393331111111"),
            "callback": await seed_ticket(
                web,
                ALPHA_NUMBERS[1],
                "+393332222222",
                kind="callback",
                summary="Call back about the booking",
                details="after 6 pm",
            ),
            "message": await seed_ticket(
                web,
                ALPHA_NUMBERS[0],
                "+393333333333",
                kind="message",
                summary="Lost umbrella",
                details="a blue one, left on Friday",
            ),
            "beta": await seed_ticket(
                web,
                BETA_NUMBERS[0],
                "+393334444444",
                kind="callback",
                summary="Secret legal matter",
                details="pizza of beta",
            ),
        }

    return run_async(go())


def test_each_organization_sees_only_its_tickets(web: WebApp, seeded: dict[str, uuid.UUID]) -> None:
    alpha = {str(seeded[k]) for k in ("order", "callback", "message")}
    with client(web, ALPHA_OWNER) as owner, client(web, ALPHA_MEMBER) as member:
        assert set(ids(owner.get(API))) == alpha
        assert set(ids(member.get(API))) == alpha
        listed = owner.get(API).json()["tickets"]
        order = next(t for t in listed if t["id"] == str(seeded["order"]))
        assert order["caller"] == "+393331111111"
        assert order["called"] == ALPHA_NUMBERS[0]
        assert order["number_label"] == "alpha line 1"
        assert order["kind"] == "order" and order["status"] == "open"
        assert order["summary"] == "Two pizzas for delivery"
        problem(owner.get(f"{API}/{seeded['beta']}"), 404)
        problem(member.get(f"{API}/{seeded['beta']}"), 404)
        problem(owner.patch(f"{API}/{seeded['beta']}", json={"status": "done"}), 404)
        problem(owner.get(API, params={"org": "beta"}), 404)  # not theirs: same as none
        # beta's words are not found by alpha's search
        assert ids(owner.get(API, params={"q": "legal"})) == []
    with client(web, BETA_OWNER) as beta:
        assert ids(beta.get(API)) == [str(seeded["beta"])]
        problem(beta.get(f"{API}/{seeded['order']}"), 404)
    with client(web, OPERATOR) as ops:
        assert set(ids(ops.get(API))) == alpha | {str(seeded["beta"])}
        assert ids(ops.get(API, params={"org": "beta"})) == [str(seeded["beta"])]
        assert ops.get(f"{API}/{seeded['beta']}").status_code == 200
    with web.client() as anonymous:
        problem(anonymous.get(API), 401)


def test_owner_changes_member_views(web: WebApp, seeded: dict[str, uuid.UUID]) -> None:
    url = f"{API}/{seeded['order']}"
    with client(web, ALPHA_OWNER) as owner, client(web, ALPHA_MEMBER) as member:
        detail = owner.get(url).json()
        assert detail["details"] == "Margherita and diavola, to Via Roma 1"
        assert detail["call_detail"]["transcript"][0]["text"] == "I want two pizzas"
        assert detail["done_at"] is None
        problem(member.patch(url, json={"status": "done"}), 403)
        member_id = member.get("/api/v1/me").json()["id"]
        changed = owner.patch(
            url, json={"status": "in-progress", "note": "oven on", "assignee_id": member_id}
        )
        assert changed.status_code == 200, changed.text
        body = changed.json()
        assert body["status"] == "in-progress" and body["note"] == "oven on"
        assert body["assignee"] == ALPHA_MEMBER and body["done_at"] is None
        done = owner.patch(url, json={"status": "done"}).json()
        assert done["status"] == "done" and done["done_at"] is not None
        assert done["note"] == "oven on" and done["assignee"] == ALPHA_MEMBER  # untouched
        reopened = owner.patch(url, json={"status": "open", "assignee_id": None}).json()
        assert reopened["done_at"] is None and reopened["assignee"] is None
        assert member.get(url).json()["status"] == "open"
    with client(web, BETA_OWNER) as beta:
        beta_owner_id = beta.get("/api/v1/me").json()["id"]
    with client(web, ALPHA_OWNER) as owner:
        # a user of another organization cannot be assigned, and nothing else changes
        refused = problem(
            owner.patch(url, json={"status": "done", "assignee_id": beta_owner_id}), 422
        )
        assert "assignee" in refused["detail"]
        assert owner.get(url).json()["status"] == "open"
        problem(owner.patch(url, json={"status": "closed"}), 422)
        problem(owner.patch(url, json={"colour": "red"}), 422)
    with client(web, OPERATOR) as ops:
        assert ops.patch(url, json={"status": "done"}).json()["status"] == "done"


def test_session_cookie_needs_csrf_for_patch(web: WebApp, seeded: dict[str, uuid.UUID]) -> None:
    url = f"{API}/{seeded['order']}"
    browser, csrf = login_client(web, ALPHA_OWNER)
    with contextlib.closing(browser):
        problem(browser.patch(url, json={"status": "done"}), 403)
        ok = browser.patch(url, json={"status": "done"}, headers={"X-CSRF-Token": csrf})
        assert ok.status_code == 200 and ok.json()["status"] == "done"
        # the page's form: without its token refused, with it saved (303 back to the page)
        form = {"status": "in-progress", "note": "on it", "assignee": ""}
        assert browser.post(f"/tickets/{seeded['order']}", data=form).status_code == 403
        saved = browser.post(f"/tickets/{seeded['order']}", data={**form, "csrf_token": csrf})
        assert saved.status_code == 303, saved.text
        assert browser.get(url).json()["note"] == "on it"
        wrong = browser.post(
            f"/tickets/{seeded['order']}",
            data={**form, "csrf_token": csrf, "assignee": str(uuid.uuid4())},
        )
        assert wrong.status_code == 422 and 'id="error-assignee"' in wrong.text
    member, csrf = login_client(web, ALPHA_MEMBER)
    with contextlib.closing(member):
        page = member.get(f"/tickets/{seeded['order']}")
        assert page.status_code == 200 and "Members can view" in page.text
        refused = member.post(
            f"/tickets/{seeded['order']}",
            data={"csrf_token": csrf, "status": "open", "note": "", "assignee": ""},
        )
        assert refused.status_code == 403
        assert member.get(f"/tickets/{seeded['beta']}").status_code == 404
        assert member.get(url).json()["status"] == "in-progress"


def test_filters_search_and_pages(web: WebApp, seeded: dict[str, uuid.UUID]) -> None:
    with client(web, ALPHA_OWNER) as owner:
        assert ids(owner.get(API, params={"kind": "callback"})) == [str(seeded["callback"])]
        assert ids(owner.get(API, params={"number": str(web.numbers[ALPHA_NUMBERS[1]])})) == [
            str(seeded["callback"])
        ]
        assert ids(owner.get(API, params={"caller": "0039 333 3333"})) == [str(seeded["message"])]
        assert ids(owner.get(API, params={"q": "UMBREL"})) == [str(seeded["message"])]
        assert ids(owner.get(API, params={"q": "6 pm"})) == [str(seeded["callback"])]
        assert ids(owner.get(API, params={"q": "100%"})) == []  # wildcards are literal
        owner.patch(f"{API}/{seeded['order']}", json={"status": "done"})
        assert ids(owner.get(API, params={"status": "done"})) == [str(seeded["order"])]
        assert len(ids(owner.get(API, params={"status": "open"}))) == 2
        assert len(ids(owner.get(API, params={"from": "2020-01-01", "to": "2020-01-31"}))) == 0
        # keyset pages: newest first, two then one, nothing lost or repeated
        first = owner.get(API, params={"limit": 2}).json()
        assert len(first["tickets"]) == 2 and first["next_cursor"]
        second = owner.get(API, params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert second["next_cursor"] is None
        paged = [t["id"] for t in first["tickets"] + second["tickets"]]
        assert paged == [str(seeded[k]) for k in ("message", "callback", "order")]
        for params, name in [
            ({"status": "closed"}, "status"),
            ({"kind": "pizza"}, "kind"),
            ({"caller": "abc"}, "caller"),
            ({"q": "ab"}, "q"),
            ({"from": "2026-13-01"}, "from"),
            ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
            ({"number": "not-a-uuid"}, "number"),
            ({"number": str(web.numbers[BETA_NUMBERS[0]])}, "number"),  # beta's: not yours
            ({"cursor": "garbage"}, "cursor"),
        ]:
            detail = problem(owner.get(API, params=params), 422)["detail"]
            assert detail.startswith(f"{name}:"), (params, detail)


def test_csv_export_holds_the_filtered_rows(web: WebApp, seeded: dict[str, uuid.UUID]) -> None:
    async def formula() -> uuid.UUID:
        return await seed_ticket(
            web, ALPHA_NUMBERS[1], "+393335555555", kind="callback",
            summary="=HYPERLINK(\"http://x.example\")", details="call back",
        )  # fmt: skip

    sneaky = run_async(formula())
    with client(web, ALPHA_OWNER) as owner:
        answer = owner.get("/tickets/export.csv", params={"kind": "callback"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [r["ticket id"] for r in rows] == [str(sneaky), str(seeded["callback"])]
        assert rows[1]["caller"] == "+393332222222"
        assert rows[1]["dialled number"] == ALPHA_NUMBERS[1]
        assert rows[1]["summary"] == "Call back about the booking"
        assert rows[1]["status"] == "open"
        assert rows[0]["summary"].startswith("'=")  # not a formula in a spreadsheet
        everything = list(csv.DictReader(io.StringIO(owner.get("/tickets/export.csv").text)))
        assert {r["ticket id"] for r in everything} == {
            str(seeded[k]) for k in ("order", "callback", "message")
        } | {str(sneaky)}
        bad = owner.get("/tickets/export.csv", params={"status": "closed"})
        assert bad.status_code == 422


def test_page_shows_a_bad_filter_next_to_its_field(
    web: WebApp, seeded: dict[str, uuid.UUID]
) -> None:
    browser, _csrf = login_client(web, ALPHA_OWNER)
    with contextlib.closing(browser):
        page = browser.get("/tickets", params={"caller": "abc", "q": "pizza"})
        assert page.status_code == 422
        assert 'id="error-caller"' in page.text and 'id="error-q"' not in page.text
        assert 'value="pizza"' in page.text  # what was typed stays
        good = browser.get("/tickets", params={"q": "pizza"})
        assert good.status_code == 200
        assert str(seeded["order"]) in good.text and str(seeded["beta"]) not in good.text
        assert 'href="/tickets"' in good.text  # the navigation link
