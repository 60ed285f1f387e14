"""On a node whose releases write an answered call's end (store/releases.py), the session
recorder leaves those rows to them: one writer per row end; everything else it keeps."""

from __future__ import annotations

import time
import uuid
from typing import cast

from frontdesk.calls.record import CallRecord
from frontdesk.store.engine import Pool
from frontdesk.store.sessions import SessionRecorder


def record(outcome: str, session_id: uuid.UUID | None) -> CallRecord:
    return CallRecord("c", "+390551234567", "333", outcome, "bye", 200, time.time(),
                      session_id=session_id)  # fmt: skip


def test_answered_admitted_calls_are_left_to_their_release() -> None:
    beside = SessionRecorder(cast(Pool, None), "n", ends_written_by_release=True)
    for item in (
        record("answered", uuid.uuid4()),  # its release writes it
        record("cancelled", uuid.uuid4()),  # admitted, cancelled in setup: a refusal row
        record("rejected", None),
        record("answered", None),  # no database admission (no row to end)
    ):
        beside.submit(item)
    assert beside.queued == 3
    alone = SessionRecorder(cast(Pool, None), "n")
    alone.submit(record("answered", uuid.uuid4()))
    assert alone.queued == 1
