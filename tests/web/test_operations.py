"""The operations API over HTTP against the real app and PostgreSQL: every organization's
data stays its own (403/404 and never a row of another tenant), filters and cursors are
validated (422 problem details), and what comes back is what was seeded.

Also holds the fixtures the browser tests of /operations share: `web` (the conftest's app,
with the /operations router included) and `calls` (sessions seeded at known times).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import tests.web.conftest as web_conftest
from tests.integration.store.support import run_async
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_NUMBERS,
    BETA_OWNER,
    OPERATOR,
    RunningWeb,
    WebApp,
    web_settings,
)

from frontdesk.store.engine import open_pool
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
ROME = ZoneInfo("Europe/Rome")
API = "/api/v1/operations"


@pytest.fixture
def web(web_db: str) -> Iterator[WebApp]:
    yield from operations_web(web_db)


def operations_web(web_db: str) -> Iterator[WebApp]:
    """The conftest's running app, seeded the same way, with /operations included."""
    seeded = run_async(web_conftest.seed(web_db))
    running = RunningWeb(web_db, web_settings(operations_time_zone="Europe/Rome"))
    try:
        running.start()
        yield WebApp(running.url, web_db, running.settings, seeded["tokens"], seeded["numbers"])
    finally:
        running.stop()


@dataclass(frozen=True)
class Seeded:
    """Session ids by organization, and the local day the analytics were seeded on."""

    alpha: list[uuid.UUID]
    beta: list[uuid.UUID]
    unknown: list[uuid.UUID]
    day: date  # a Monday, two weeks ago or more


# (org, number index, local hour on `day`, outcome, reason, talk seconds, caller)
CALLS: list[tuple[str, int, int, str, str, int | None, str]] = [
    ("alpha", 0, 9, "completed", "bye-caller", 60, "+393331111111"),
    ("alpha", 0, 9, "completed", "remote-bye", 180, "+393331111111"),
    ("alpha", 1, 10, "rejected", "limit-number", None, "+393332222222"),
    ("alpha", 1, 15, "rejected", "number-inactive", None, "+393333333333"),
    ("beta", 0, 9, "completed", "bye-caller", 30, "+393334444444"),
    ("beta", 0, 11, "rejected", "limit-org", None, "+393334444444"),
    ("", 0, 12, "rejected", "unknown-number", None, "+393335555555"),
]


async def seed_calls(web: WebApp) -> Seeded:
    today = datetime.now(ROME).date()
    day = today - timedelta(days=14 + today.weekday())
    phones = {"alpha": ALPHA_NUMBERS, "beta": BETA_NUMBERS}
    ids: dict[str, list[uuid.UUID]] = {"alpha": [], "beta": [], "": []}
    pool = await open_pool(web.conninfo, max_size=2)
    try:
        async with operator_tx(pool) as conn:
            for org, index, hour, outcome, reason, talk, caller in CALLS:
                started = datetime(day.year, day.month, day.day, hour, 5, tzinfo=ROME)
                answered = started + timedelta(seconds=2) if talk else None
                ended = answered + timedelta(seconds=talk) if answered and talk else started
                called = phones[org][index] if org else "+390559999999"
                cursor = await conn.execute(
                    b"INSERT INTO sessions (organization_id, sip_number_id, call_id_sip,"
                    b" caller_number, called_number, node_id, started_at, answered_at,"
                    b" ended_at, outcome, reason, reject_status)"
                    b" SELECT n.organization_id, n.id, %s, %s, %s, 'seed', %s, %s, %s, %s, %s, %s"
                    b" FROM (SELECT 1) one LEFT JOIN sip_numbers n ON n.phone_number = %s"
                    b" RETURNING id",
                    (f"seed-{uuid.uuid4().hex[:10]}@pbx", caller, called, started, answered,
                     ended, outcome, reason, 486 if outcome == "rejected" else None, called),
                )  # fmt: skip
                row = await cursor.fetchone()
                assert row is not None
                ids[org].append(row[0])
            await conn.execute(
                b"INSERT INTO tickets (organization_id, session_id, subject)"
                b" SELECT organization_id, id, 'Table for two' FROM sessions WHERE id = %s",
                (ids["alpha"][0],),
            )
    finally:
        await pool.close()
    return Seeded(ids["alpha"], ids["beta"], ids[""], day)


@pytest.fixture
def calls(web: WebApp) -> Seeded:
    return run_async(seed_calls(web))


def client(web: WebApp, email: str) -> httpx.Client:
    return web.client(web.tokens[email])


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def session_ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {row["session_id"] for row in response.json()["calls"]}


def as_str(ids: list[uuid.UUID]) -> set[str]:
    return {str(i) for i in ids}


async def test_each_tenant_gets_its_own_history(web: WebApp, calls: Seeded) -> None:
    with client(web, ALPHA_OWNER) as alpha, client(web, ALPHA_MEMBER) as member:
        assert session_ids(alpha.get(f"{API}/calls")) == as_str(calls.alpha)
        assert session_ids(member.get(f"{API}/calls")) == as_str(calls.alpha)
        row = next(
            r for r in alpha.get(f"{API}/calls").json()["calls"]
            if r["session_id"] == str(calls.alpha[1])
        )  # fmt: skip
        assert row["duration_s"] == 180 and row["reason"] == "remote-bye"
        assert row["caller"] == "+393331111111" and row["org"] == "alpha"
    with client(web, BETA_OWNER) as beta:
        assert session_ids(beta.get(f"{API}/calls")) == as_str(calls.beta)
    with client(web, OPERATOR) as ops:
        every = as_str(calls.alpha + calls.beta + calls.unknown)
        assert session_ids(ops.get(f"{API}/calls")) == every
        assert session_ids(ops.get(f"{API}/calls?org=beta")) == as_str(calls.beta)


async def test_cross_tenant_attempts_get_404_and_no_data(web: WebApp, calls: Seeded) -> None:
    beta_number = web.numbers[BETA_NUMBERS[0]]
    attempts = [
        f"{API}/calls?org=beta",
        f"{API}/calls?number={beta_number}",
        f"{API}/calls/{calls.beta[0]}",
        f"{API}/calls/{calls.unknown[0]}",
        f"{API}/calls/{calls.beta[0]}?org=beta",
        f"{API}/analytics?org=beta",
        f"{API}/live?org=beta",
        f"{API}/calls?org=no-such-org",
        "/operations?org=beta",
        f"/operations/calls/{calls.beta[0]}",
    ]
    # (ids the attacker sent come back in `instance`: their own input, not data)
    beta_values = {"+393334444444", BETA_NUMBERS[0], "beta line", "Beta Legal"}
    with client(web, ALPHA_OWNER) as alpha:
        for url in attempts:
            response = alpha.get(url)
            assert response.status_code in (403, 404), (url, response.status_code)
            assert not any(value in response.text for value in beta_values), url
    with client(web, OPERATOR) as ops:
        problem(ops.get(f"{API}/calls?org=no-such-org"), 404)
        assert ops.get(f"{API}/calls/{calls.beta[0]}").status_code == 200


async def test_no_login_no_data(web: WebApp, calls: Seeded) -> None:
    with web.client() as anonymous:
        problem(anonymous.get(f"{API}/calls"), 401)
        problem(anonymous.get(f"{API}/analytics"), 401)
        assert anonymous.get("/operations").status_code == 303  # to /login


async def test_bad_parameters_are_422_problems(web: WebApp, calls: Seeded) -> None:
    with client(web, ALPHA_OWNER) as alpha:
        for query, name in [
            ("outcome=won", "outcome"),
            ("cursor=bm90LWEtY3Vyc29y", "cursor"),
            ("caller=abc", "caller"),
            ("tz=Mars/Olympus", "tz"),
            ("from=2026-03-05&to=2026-03-01", "to"),
        ]:
            body = problem(alpha.get(f"{API}/calls?{query}"), 422)
            assert str(body["detail"]).startswith(name), body
        problem(alpha.get(f"{API}/calls?limit=0"), 422)
        problem(alpha.get(f"{API}/calls?number=not-a-uuid"), 422)
        problem(alpha.get(f"{API}/analytics?from=2020-01-01&to=2026-01-01"), 422)


async def test_pages_by_cursor_and_filters(web: WebApp, calls: Seeded) -> None:
    seen: list[str] = []
    url = f"{API}/calls?limit=2"
    with client(web, OPERATOR) as ops:
        while True:
            page = ops.get(url).json()
            seen += [row["session_id"] for row in page["calls"]]
            if not page["next_cursor"]:
                break
            url = f"{API}/calls?limit=2&cursor={page['next_cursor']}"
        assert len(seen) == len(set(seen)) == len(CALLS)
        rejected = session_ids(ops.get(f"{API}/calls?outcome=rejected&org=alpha"))
        assert rejected == as_str(calls.alpha[2:])
        by_caller = session_ids(ops.get(f"{API}/calls?caller=%2B39333444"))
        assert by_caller == as_str(calls.beta)
        day = calls.day.isoformat()
        assert session_ids(ops.get(f"{API}/calls?from={day}&to={day}")) == set(seen)
        after = (calls.day + timedelta(days=1)).isoformat()
        assert session_ids(ops.get(f"{API}/calls?from={after}")) == set()


async def test_call_detail_and_analytics(web: WebApp, calls: Seeded) -> None:
    day = calls.day.isoformat()
    with client(web, ALPHA_OWNER) as alpha:
        detail = alpha.get(f"{API}/calls/{calls.alpha[0]}").json()
        assert [t["subject"] for t in detail["ticket_list"]] == ["Table for two"]
        assert detail["tickets"] == 1 and detail["transcript"] == []
        stats = alpha.get(f"{API}/analytics?from={day}&to={day}&tz=Europe/Rome").json()
    assert stats["total"] == 4 and stats["answered"] == 2
    assert stats["average_duration_s"] == pytest.approx(120)
    assert stats["days"] == [{"day": day, "calls": 4, "completed": 2, "refused": 2}]
    monday = stats["heatmap"][0]
    assert (monday[9], monday[10], monday[15], sum(monday)) == (2, 1, 1, 4)
    refused = {r["group"]: r["calls"] for r in stats["refusals"]}
    assert refused["number limit"] == 1 and refused["inactive"] == 1
    assert refused["organization limit"] == 0 and refused["unknown number"] == 0
    with client(web, OPERATOR) as ops:
        every = ops.get(f"{API}/analytics?from={day}&to={day}&tz=Europe/Rome").json()
    assert every["total"] == len(CALLS)
    assert {r["group"]: r["calls"] for r in every["refusals"]}["unknown number"] == 1
