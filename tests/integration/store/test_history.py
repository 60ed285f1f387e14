"""Operations queries on the real embedded PostgreSQL, as the tenant and as the operator.

Two organizations (and calls to an unknown number) are seeded with known times, outcomes
and reasons; every assertion compares what a query returns with what was seeded, and a
tenant never gets a row of the other organization, whatever it asks for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb
from tests.integration.store.support import Seed

from frontdesk.store import history as h
from frontdesk.store.engine import Connection, Pool
from frontdesk.store.tx import operator_tx, tenant_tx

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
ROME = ZoneInfo("Europe/Rome")


@dataclass(frozen=True)
class Call:
    org: str  # "a", "b" or "" (unknown number)
    minutes: int  # after DAY 00:00 UTC
    outcome: str
    reason: str | None
    talk_s: int | None = None
    caller: str = "+393330000001"


CALLS = [
    Call("a", 9 * 60, "completed", "bye-caller", 60, "+393331111111"),
    Call("a", 9 * 60 + 5, "completed", "media-timeout", 120, "+393331111111"),
    Call("a", 10 * 60, "rejected", "limit-number", caller="+393332222222"),
    Call("a", 24 * 60 + 11 * 60, "rejected", "limit-org"),
    Call("a", 24 * 60 + 11 * 60 + 1, "rejected", "number-inactive"),
    Call("a", 2 * 24 * 60 + 8 * 60, "cancelled", "cancel"),
    Call("b", 9 * 60 + 1, "completed", "bye-caller", 30),
    Call("b", 10 * 60 + 1, "rejected", "limit-node"),
    Call("", 10 * 60 + 2, "rejected", "unknown-number"),
]


async def insert_call(conn: Connection, seed: Seed, call: Call) -> uuid.UUID:
    tenant = {"a": seed.a, "b": seed.b}.get(call.org)
    started = DAY + timedelta(minutes=call.minutes)
    answered = started + timedelta(seconds=1) if call.talk_s is not None else None
    ended = (answered + timedelta(seconds=call.talk_s)) if answered and call.talk_s else started
    cursor = await conn.execute(
        b"INSERT INTO sessions (organization_id, sip_number_id, call_id_sip, caller_number,"
        b" called_number, node_id, started_at, answered_at, ended_at, outcome, reason,"
        b" reject_status) VALUES (%s, %s, %s, %s, %s, 'node-1', %s, %s, %s, %s, %s, %s)"
        b" RETURNING id",
        (
            tenant.org if tenant else None,
            tenant.number if tenant else None,
            f"c-{uuid.uuid4().hex[:8]}@pbx",
            call.caller,
            tenant.phone if tenant else "+390559999999",
            started,
            answered,
            ended,
            call.outcome,
            call.reason,
            486 if call.outcome == "rejected" else None,
        ),
    )
    row = await cursor.fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


@pytest.fixture
async def calls(pool: Pool, seed: Seed) -> dict[str, list[uuid.UUID]]:
    ids: dict[str, list[uuid.UUID]] = {"a": [], "b": [], "": []}
    async with operator_tx(pool) as conn:
        for call in CALLS:
            ids[call.org].append(await insert_call(conn, seed, call))
    return ids


async def test_tenant_history_is_its_own_newest_first(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        page = await h.history(conn, seed.a.org, h.history_filter(), limit=50)
        # asking for B's organization as A: RLS leaves nothing
        other = await h.history(conn, seed.b.org, h.history_filter(), limit=50)
        unscoped = await h.history(conn, None, h.history_filter(), limit=50)
    # A's seeded calls plus the in-progress one seed_tenant made
    expected = {*calls["a"], seed.a.session}
    assert {r.session_id for r in page.rows} == expected
    assert {r.session_id for r in unscoped.rows} == expected
    assert other.rows == []
    assert page.next_cursor is None
    started = [r.started_at for r in page.rows]
    assert started == sorted(started, reverse=True)
    assert {r.org_slug for r in page.rows} == {"alpha"}
    first = next(r for r in page.rows if r.session_id == calls["a"][1])
    assert first.duration == timedelta(seconds=120)
    assert first.reason == "media-timeout"
    assert first.number_label == "main"


async def test_keyset_pages_cover_everything_once(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    seen: list[uuid.UUID] = []
    cursor: str | None = None
    pages = 0
    async with operator_tx(pool) as conn:
        whole = await h.history(conn, None, h.history_filter(), limit=200)
        while True:
            page = await h.history(conn, None, h.history_filter(), limit=2, cursor=cursor)
            seen += [r.session_id for r in page.rows]
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    assert seen == [r.session_id for r in whole.rows]
    assert len(seen) == len(set(seen)) == len(CALLS) + 2  # + seed_tenant's two live calls
    assert pages == (len(seen) + 1) // 2


async def test_filters(pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]) -> None:
    async def ids(org: uuid.UUID | None, **kwargs: object) -> set[uuid.UUID]:
        async with operator_tx(pool) as conn:
            page = await h.history(conn, org, h.history_filter(**kwargs), limit=200)  # type: ignore[arg-type]
        return {r.session_id for r in page.rows}

    a = calls["a"]
    assert await ids(None, outcome="rejected") == {a[2], a[3], a[4], calls["b"][1], *calls[""]}
    assert await ids(seed.a.org, outcome="rejected") == {a[2], a[3], a[4]}
    assert await ids(seed.a.org, reason="limit-org") == {a[3]}
    assert await ids(None, reason="unknown-number") == set(calls[""])
    assert await ids(None, number_id=seed.b.number) == {*calls["b"], seed.b.session}
    assert await ids(seed.a.org, caller="+39333111") == {a[0], a[1]}
    assert await ids(seed.a.org, caller="0039 333 2222222") == {a[2]}
    day2 = DAY + timedelta(days=1)
    assert await ids(seed.a.org, start=day2, end=day2 + timedelta(days=1)) == {a[3], a[4]}
    # a number of B asked for under A's organization
    assert await ids(seed.a.org, number_id=seed.b.number) == set()


async def test_bad_filters_are_refused_before_sql() -> None:
    with pytest.raises(h.InvalidFilter, match="outcome"):
        h.history_filter(outcome="won")
    with pytest.raises(h.InvalidFilter, match="caller"):
        h.history_filter(caller="+39' OR 1=1")
    with pytest.raises(h.InvalidFilter, match="to"):
        h.history_filter(start=DAY, end=DAY)
    with pytest.raises(h.InvalidFilter, match="cursor"):
        h.decode_cursor("bm90LWEtY3Vyc29y")
    with pytest.raises(h.InvalidFilter, match="tz"):
        h.time_zone("Mars/Olympus")
    with pytest.raises(h.InvalidFilter, match="to"):
        h.day_range(date(2026, 3, 2), date(2026, 3, 1), ROME)


async def test_session_detail_with_transcript_and_tickets(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    target = calls["a"][0]
    turns = [{"role": "agent", "text": "Hello"}, {"role": "caller", "text": "A table"}]
    async with operator_tx(pool) as conn:
        await conn.execute(
            b"UPDATE sessions SET transcript = %s WHERE id = %s", (Jsonb(turns), target)
        )
        await conn.execute(
            b"INSERT INTO tickets (organization_id, session_id, subject) VALUES"
            b" (%s, %s, 'Table for two'), (%s, %s, 'Call back')",
            (seed.a.org, target, seed.a.org, target),
        )
    async with tenant_tx(pool, seed.a.org) as conn:
        detail = await h.session_detail(conn, seed.a.org, target)
        page = await h.history(conn, seed.a.org, h.history_filter(), limit=50)
    async with tenant_tx(pool, seed.b.org) as conn:
        stolen = await h.session_detail(conn, seed.b.org, target)
        stolen_unscoped = await h.session_detail(conn, None, target)
    assert detail is not None
    assert detail.transcript == turns
    assert sorted(t.subject for t in detail.tickets) == ["Call back", "Table for two"]
    assert detail.row.tickets == 2
    assert next(r for r in page.rows if r.session_id == target).tickets == 2
    assert stolen is None and stolen_unscoped is None


async def test_live_numbers(pool: Pool, seed: Seed) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        mine = await h.live_numbers(conn, seed.a.org)
        theirs = await h.live_numbers(conn, seed.b.org)
    async with operator_tx(pool) as conn:
        everyone = await h.live_numbers(conn, None)
    assert [(n.phone_number, n.live) for n in mine] == [(seed.a.phone, 1)]
    assert mine[0].calls[0].caller == "+393330000000"
    assert theirs == []
    assert sorted((n.org_slug, n.live) for n in everyone) == [("alpha", 1), ("beta", 1)]


async def test_analytics_from_the_rollups(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    start, end = date(2026, 3, 2), date(2026, 3, 4)
    async with tenant_tx(pool, seed.a.org) as conn:
        mine = await h.analytics(conn, seed.a.org, start, end, ROME)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await h.analytics(conn, None, start, end, ROME)  # all orgs: operators only
    async with tenant_tx(pool, seed.b.org) as conn:
        theirs = await h.analytics(conn, seed.a.org, start, end, ROME)  # A's, asked by B
    async with operator_tx(pool) as conn:
        everyone = await h.analytics(conn, None, start, end, ZoneInfo("UTC"))
    assert [(d.day, d.calls, d.completed, d.refused) for d in mine.days] == [
        (date(2026, 3, 2), 3, 2, 1),
        (date(2026, 3, 3), 2, 0, 2),
        (date(2026, 3, 4), 1, 0, 0),
    ]
    assert mine.total == 6 and mine.answered == 2
    assert mine.average_duration_s == pytest.approx(90.0)
    # 09:00 UTC on Monday is 10:00 in Rome (CET, UTC+1 in March before the switch)
    assert mine.heatmap[0][10] == 2 and mine.heatmap[0][11] == 1 and mine.heatmap[1][12] == 2
    assert sum(map(sum, mine.heatmap)) == 6
    groups = {r.group: r.calls for r in mine.refusals}
    assert groups == {"number limit": 1, "organization limit": 1, "node limit": 0,
                      "unknown number": 0, "inactive": 1, "other": 0}  # fmt: skip
    assert theirs.total == 0 and sum(r.calls for r in theirs.refusals) == 0
    assert everyone.total == len(CALLS)
    everyone_groups = {r.group: r.calls for r in everyone.refusals}
    assert everyone_groups["unknown number"] == 1 and everyone_groups["node limit"] == 1
    assert everyone.average_duration_s == pytest.approx(70.0)


async def test_rollups_follow_updates_and_deletes_exactly(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    """The trigger-kept rollups equal a recomputation after every kind of change."""
    async with operator_tx(pool) as conn:
        # an in-progress call finishes (the recorder's upsert path), a row changes reason,
        # one moves to another hour, one is deleted, a transcript-only update
        await conn.execute(
            b"UPDATE sessions SET outcome = 'completed', reason = 'bye-caller',"
            b" answered_at = started_at, ended_at = started_at + interval '42 s'"
            b" WHERE id = %s",
            (seed.a.session,),
        )
        await conn.execute(
            b"UPDATE sessions SET reason = 'limit-node' WHERE id = %s", (calls["a"][2],)
        )
        await conn.execute(
            b"UPDATE sessions SET started_at = started_at - interval '3 h',"
            b" ended_at = ended_at - interval '3 h' WHERE id = %s",
            (calls["b"][1],),
        )
        await conn.execute(b"DELETE FROM sessions WHERE id = %s", (calls[""][0],))
        await conn.execute(
            b'UPDATE sessions SET transcript = \'[{"text": "x"}]\' WHERE id = %s',
            (calls["a"][0],),
        )
    async with operator_tx(pool) as conn:
        before = await rollups(conn)
        await conn.execute(b"SELECT frontdesk_rebuild_session_stats()")
        after = await rollups(conn)
    assert before == after
    assert any(row[3] == "limit-node" and row[0] == seed.a.org for row in before["org"])


async def rollups(conn: Connection) -> dict[str, list[tuple[object, ...]]]:
    org = await conn.execute(
        b"SELECT organization_id, hour, outcome, reason, calls, answered, round(duration_s)"
        b" FROM session_stats_hourly WHERE calls <> 0 ORDER BY 1, 2, 3, 4"
    )
    every = await conn.execute(
        b"SELECT hour, outcome, reason, calls, answered, round(duration_s)"
        b" FROM session_stats_hourly_all WHERE calls <> 0 ORDER BY 1, 2, 3"
    )
    return {"org": await org.fetchall(), "all": await every.fetchall()}


async def test_tenant_cannot_read_or_write_other_rollups(
    pool: Pool, seed: Seed, calls: dict[str, list[uuid.UUID]]
) -> None:
    async with tenant_tx(pool, seed.a.org) as conn:
        cursor = await conn.execute(b"SELECT DISTINCT organization_id FROM session_stats_hourly")
        assert await cursor.fetchall() == [(seed.a.org,)]
    attacks = [
        b"UPDATE session_stats_hourly SET calls = 0",
        b"DELETE FROM session_stats_hourly",
        b"INSERT INTO session_stats_hourly VALUES (%s, now(), 'completed', '', 1, 0, 0)",
        b"SELECT * FROM session_stats_hourly_all",
    ]
    for attack in attacks:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with tenant_tx(pool, seed.a.org) as conn:
                await conn.execute(attack, (seed.b.org,) if b"%s" in attack else None)
    async with operator_tx(pool) as conn:
        after = await rollups(conn)
    assert sum(int(str(row[4])) for row in after["org"] if row[0] == seed.b.org) == 2
