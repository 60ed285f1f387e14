"""`Deadlines`: a bounded wait that never cancels the work it gave up on."""

from __future__ import annotations

import asyncio

import pytest

from frontdesk.errors import DatabaseTimeout
from frontdesk.store.deadline import Deadlines


async def test_an_answer_in_time_is_returned() -> None:
    async def quick() -> int:
        await asyncio.sleep(0)
        return 7

    assert await Deadlines("quick").run(quick(), 1.0) == 7


async def test_past_the_deadline_the_caller_is_told_at_once_and_the_work_goes_on() -> None:
    waits = Deadlines("slow work")
    release = asyncio.Event()
    finished: list[str] = []
    late: list[str] = []

    async def slow() -> str:
        await release.wait()
        finished.append("done")
        return "result"

    async def on_late(value: str) -> None:
        late.append(value)

    loop = asyncio.get_running_loop()
    began = loop.time()
    with pytest.raises(DatabaseTimeout, match="slow work"):
        await waits.run(slow(), 0.05, on_late=on_late)
    assert loop.time() - began < 0.5
    assert waits.late == 1 and waits.missed == 1
    release.set()  # the work was not cancelled: it ends, and its result goes to on_late
    for _ in range(10):
        await asyncio.sleep(0)
    assert finished == ["done"] and late == ["result"] and waits.late == 0


async def test_a_timeout_is_an_oserror_as_the_callers_expect() -> None:
    async def never() -> None:
        await asyncio.Event().wait()

    waits = Deadlines("never")
    with pytest.raises(OSError):  # the store's callers catch (psycopg.Error, OSError)
        await waits.run(never(), 0.01)
    await waits.aclose()
    assert waits.late == 0
