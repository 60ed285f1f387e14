"""Recording retention: files older than the retention period are deleted, once a day.

Owns: `sweep` (one pass over the recordings directory: every recording file last written
more than `days` ago is deleted, and organization folders left empty are removed) and
`run_retention`, the daily loop the node owns as a task. The session row keeps its
`recording_path`; the API answers 404 once the file is gone.

Must not: touch files other than recordings (`*.ogg` one level below an organization
folder), or run the sweep on the event loop (it runs in a worker thread).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from frontdesk.recordings.writer import SUFFIX

log = logging.getLogger(__name__)

DAY_S = 86_400.0


def sweep(directory: Path, days: int, now: float) -> int:
    """Delete recordings last modified before `now - days`; return how many went."""
    if not directory.is_dir():
        return 0
    cutoff = now - days * DAY_S
    deleted = 0
    for org_dir in directory.iterdir():
        if not org_dir.is_dir():
            continue
        for path in org_dir.glob(f"*{SUFFIX}"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        with contextlib.suppress(OSError):
            org_dir.rmdir()  # only when empty
    return deleted


async def run_retention(directory: Path, days: int, every_s: float = DAY_S) -> None:
    """Until cancelled: sweep now, then every `every_s` (a day)."""
    while True:
        try:
            deleted = await asyncio.to_thread(sweep, directory, days, time.time())
            if deleted:
                log.info(
                    "recording retention: %d recordings older than %d days deleted", deleted, days
                )
        except OSError as exc:
            log.warning("recording retention sweep failed: %s", exc)
        await asyncio.sleep(every_s)
