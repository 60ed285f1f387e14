"""Live call counts per number and new tickets, pushed to browsers by server-sent events
(`GET /events/live`).

Owns: one poller per process (`LiveCounts`), started by the first subscriber and owned by the
app's `TaskOwner` (cancelled when the node or test closes it), that reads every
`web_live_interval` seconds, in one operator transaction, which numbers exist and how many
`active_calls` rows each has (rows are written by admission on any node, so this sees every
node's calls); and the fan-out: each subscriber gets `{number_id: live_count}` for the numbers
it may see, first at once, then whenever its view changes. The same poll reads the tickets
created in the last `TICKET_WINDOW_S` seconds (any node's: the agent writes them to the
database) and sends each one once, as `event: ticket` with `{"ticket": id, "org": org_id}`,
to the subscribers of its organization (the inbox then fetches its rows again).

Must not: count calls itself (counts come from `active_calls` rows only, DESIGN §3), or give a
subscriber a number of another organization. Why one operator read and a filter here rather
than RLS: one query serves every open page four times a second; the filter is the user's
membership ids from the session, and a tenant is shown only the calls admitted for its own
organization, the rows RLS would show it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Final
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from frontdesk.store.engine import Pool
from frontdesk.store.numbers import live_counts, number_owners
from frontdesk.store.tickets import NewTicket, recent_tickets
from frontdesk.store.tx import operator_tx
from frontdesk.tasks import TaskOwner
from frontdesk.web.auth import CurrentUser

log = logging.getLogger(__name__)

KEEPALIVE_S: Final = 15.0
#: how far back each poll looks for new tickets: longer than any ticket's transaction, whose
#: start (created_at) can precede its commit
TICKET_WINDOW_S: Final = 30.0
View = dict[str, int]


class Subscriber:
    """One open event stream: the organizations it may see (None: all) and its last view."""

    def __init__(self, orgs: frozenset[UUID] | None) -> None:
        self.orgs = orgs
        self.latest: View | None = None
        self.sent: View | None = None
        self.tickets: list[dict[str, str]] = []
        self.changed = asyncio.Event()
        self.closed = False

    async def next(self, wait_s: float) -> tuple[View | None, list[dict[str, str]]]:
        """The next view to send (None: unchanged) and new tickets; both empty on timeout."""
        try:
            await asyncio.wait_for(self.changed.wait(), wait_s)
        except TimeoutError:
            return None, []
        self.changed.clear()
        tickets, self.tickets = self.tickets, []
        if self.closed:
            return None, []
        if self.latest is None or self.latest == self.sent:
            return None, tickets
        self.sent = self.latest
        return self.latest, tickets


class LiveCounts:
    """The shared poller and its subscribers."""

    def __init__(self, pool: Pool, tasks: TaskOwner, interval_s: float) -> None:
        self._pool = pool
        self._tasks = tasks
        self._interval = interval_s
        self._subscribers: set[Subscriber] = set()
        self._running: asyncio.Task[None] | None = None
        self._owners: dict[UUID, UUID] | None = None
        self._counts: dict[tuple[UUID, UUID], int] = {}
        #: tickets already announced, with their created_at (forgotten once out of the window)
        self._announced: dict[UUID, datetime] = {}
        self.polls = 0

    def view(self, orgs: frozenset[UUID] | None) -> View | None:
        """The counts organization set `orgs` may see (None: every number); None before a poll."""
        if self._owners is None:
            return None
        result = {
            str(number): 0
            for number, owner in self._owners.items()
            if orgs is None or owner in orgs
        }
        for (number, org), count in self._counts.items():
            key = str(number)
            if key in result and (orgs is None or org in orgs):
                result[key] += count
        return result

    def subscribe(self, orgs: frozenset[UUID] | None) -> Subscriber:
        subscriber = Subscriber(orgs)
        self._subscribers.add(subscriber)
        first = self.view(orgs)
        if first is not None:
            subscriber.latest = first
            subscriber.changed.set()
        if self._running is None or self._running.done():
            self._running = self._tasks.spawn(self._run(), name="live counts")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def close(self) -> None:
        """End every open stream (the poller itself is cancelled by its TaskOwner)."""
        for subscriber in self._subscribers:
            subscriber.closed = True
            subscriber.changed.set()

    async def poll_once(self) -> None:
        async with operator_tx(self._pool) as conn:
            owners = await number_owners(conn)
            counts = await live_counts(conn)
            tickets = await recent_tickets(conn, TICKET_WINDOW_S)
        self.polls += 1
        self._announce(tickets)
        if owners == self._owners and counts == self._counts:
            return
        self._owners, self._counts = owners, counts
        for subscriber in list(self._subscribers):
            view = self.view(subscriber.orgs)
            if view != subscriber.sent:
                subscriber.latest = view
                subscriber.changed.set()

    def _announce(self, tickets: list[NewTicket]) -> None:
        new = [t for t in tickets if t.ticket_id not in self._announced]
        if tickets:
            oldest = tickets[0].created_at
            self._announced = {k: v for k, v in self._announced.items() if v >= oldest}
        for ticket in new:
            self._announced[ticket.ticket_id] = ticket.created_at
            event = {"ticket": str(ticket.ticket_id), "org": str(ticket.organization_id)}
            for subscriber in self._subscribers:
                if subscriber.orgs is None or ticket.organization_id in subscriber.orgs:
                    subscriber.tickets.append(event)
                    subscriber.changed.set()

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.poll_once()
                failing = False
            except Exception as exc:  # the database may be away; keep the streams open
                if not failing:
                    log.warning("live counts: cannot read the database (%s)", type(exc).__name__)
                failing = True
            await asyncio.sleep(self._interval)


router = APIRouter()


@router.get(
    "/events/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def live_events(request: Request, user: CurrentUser) -> StreamingResponse:
    """Server-sent events: `{number_id: live_count}` for your numbers, on every change, and
    `event: ticket` (`{"ticket": id, "org": org_id}`) for each new ticket of yours."""
    hub: LiveCounts = request.app.state.live
    orgs = None if user.is_operator else frozenset(user.org_ids)
    subscriber = hub.subscribe(orgs)

    async def stream() -> AsyncIterator[str]:
        try:
            yield "retry: 2000\n\n"
            while not subscriber.closed:
                view, tickets = await subscriber.next(KEEPALIVE_S)
                for ticket in tickets:
                    yield f"event: ticket\ndata: {json.dumps(ticket, sort_keys=True)}\n\n"
                if view is not None:
                    yield f"data: {json.dumps(view, sort_keys=True)}\n\n"
                elif not tickets:
                    yield ": keep-alive\n\n"
        finally:
            hub.unsubscribe(subscriber)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
