"""`TaskOwner`: every asyncio task any part of frontdesk starts has an owner that cancels it.

Also the node's worker processes (agent workers, media workers): `start_worker` starts one
joined to us by a Unix socket pair, `stop_worker` waits for it to leave and kills it if
it does not.

An exception in one call's task is logged and stays in that call; it never cancels
siblings (which `asyncio.TaskGroup` would do) and never reaches the event loop's
"exception was never retrieved" path. It lives at the package root, beside config and
errors, because every part uses it (edge, agent, web, livekit, the node): no part has to
import another part to own its tasks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskOwner:
    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        if self._closing:
            coro.close()
            raise RuntimeError(f"{self._name} is closing; no new tasks")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("task %s of %s failed", task.get_name(), self._name, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    async def drain(self, wait_s: float) -> None:
        """Wait up to `wait_s` seconds for the running tasks to finish by themselves."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait_s)

    async def close(self) -> None:
        """Cancel every task and wait until all have finished."""
        self._closing = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def start_worker(module: str, *args: str) -> tuple[asyncio.subprocess.Process, socket.socket]:
    """`python -m module --fd N *args`, N its end of a new Unix socket pair; ours is returned."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "--fd",
            str(child.fileno()),
            *args,
            pass_fds=(child.fileno(),),
            stdin=asyncio.subprocess.DEVNULL,
        )
    except BaseException:
        parent.close()
        raise
    finally:
        child.close()
    return process, parent


async def stop_worker(process: asyncio.subprocess.Process, wait_s: float = 5.0) -> int:
    """Wait `wait_s` for a worker told to stop (its socket closed) to exit, then kill it."""
    try:
        return await asyncio.wait_for(process.wait(), wait_s)
    except TimeoutError:
        process.kill()
        return await process.wait()
