"""Waiting on the database for at most a deadline, without cancelling the work.

Owns: `Deadlines`, which runs a piece of database work as a task and waits for it at most a
given time; past it the caller gets `DatabaseTimeout` at once, and the task is kept (this
object is its owner) until it ends by itself, its late result handed to `on_late` (a
connection that arrives late is closed, a routing snapshot that arrives late is dropped).

Why not `asyncio.wait_for`: cancelling psycopg in the middle of a query makes it send the
server a cancel request and wait for the query to end, up to 5 + 5 s (psycopg 3.3,
`AsyncConnection.wait`); on a hung server (SIGSTOP, a network partition) the caller would
wait those 10 s instead of its deadline. So nothing here cancels work that has started,
except `aclose` at shutdown.

Must not: know SQL or what the work is for.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from frontdesk.errors import DatabaseTimeout

log = logging.getLogger(__name__)

T = TypeVar("T")


class Deadlines:
    """Bounded waits for one kind of work (`what` names it in errors and logs)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._late: set[asyncio.Task[Any]] = set()
        self.missed = 0  # how many waits passed their deadline

    @property
    def late(self) -> int:
        """Work past its deadline and still running."""
        return len(self._late)

    async def run(
        self,
        work: Coroutine[Any, Any, T],
        seconds: float,
        on_late: Callable[[T], Awaitable[None]] | None = None,
    ) -> T:
        """`await work`, for at most `seconds`; past it raise `DatabaseTimeout`."""
        late = asyncio.Event()

        async def guarded() -> T:
            result = await work
            if late.is_set() and on_late is not None:
                await on_late(result)
            return result

        task = asyncio.ensure_future(guarded())
        try:
            done, _ = await asyncio.wait({task}, timeout=max(seconds, 0.0))
        except asyncio.CancelledError:
            late.set()
            task.cancel()
            self._keep(task)
            raise
        if task in done:
            return task.result()
        late.set()
        self.missed += 1
        self._keep(task)
        raise DatabaseTimeout(f"{self.what}: no answer from the database within {seconds:g} s")

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self._late.add(task)
        task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._late.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.info("%s ended after its deadline with: %s", self.what, task.exception())

    async def aclose(self, grace: float = 1.0) -> None:
        """Cancel the late work (at shutdown); wait for it at most `grace` seconds."""
        tasks = list(self._late)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
