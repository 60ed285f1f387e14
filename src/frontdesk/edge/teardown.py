"""Teardown at the edge: every call attempt's record closed once, every slot freed once.

Owns: the records of calls being set up or live (by Call-ID), closing a record with its
outcome, reason and final status (into the recent `history`, the `attempts` counters
and the `on_record` callback, the session recorder), freeing a finished call's media
(its RTP port goes back to the pool once its media worker has closed the sockets), and,
for an answered call, a task this module owns and drains at stop: wait for the media's
last counters, close the record with them, release the slot.

Must not: send SIP (the server hangs up; this only cleans up after a call ended).
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable

from frontdesk.calls.decision import CallDecider, InviteFacts
from frontdesk.calls.record import CallRecord, MediaStats
from frontdesk.calls.rtp_ports import RtpPortPool
from frontdesk.edge.call import EdgeCall
from frontdesk.edge.stats import EdgeStats
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)

_HISTORY = 10_000


class Teardown:
    def __init__(
        self,
        decider: CallDecider,
        ports: RtpPortPool,
        stats: EdgeStats,
        on_record: Callable[[CallRecord], None] | None,
    ) -> None:
        self.decider = decider
        self.ports = ports
        self.stats = stats
        self.on_record = on_record  # every finished call attempt (the session recorder)
        self.attempts: Counter[tuple[str, str]] = Counter()  # (outcome, reason)
        self.history: deque[CallRecord] = deque(maxlen=_HISTORY)
        self.pending: dict[str, CallRecord] = {}  # set up or live, by Call-ID
        self._releases = TaskOwner("slot releases")

    def open_record(self, facts: InviteFacts) -> CallRecord:
        record = CallRecord(
            facts.call_id, facts.called, facts.caller, "pending", "", 0, time.time()
        )
        self.pending[facts.call_id] = record
        return record

    def close_record(self, record: CallRecord, outcome: str, reason: str, status: int) -> None:
        record.outcome = outcome
        record.reason = reason
        record.status = status
        record.ended_at = time.time()
        self.history.append(record)
        self.attempts[(outcome, reason)] += 1
        log.info("call %s %s: %s (%s)", record.call_id, outcome, reason, status)
        if self.on_record is not None:
            try:
                self.on_record(record)
            except Exception:
                self.stats.internal_errors += 1
                log.exception("recording call %s failed", record.call_id)

    def cancelled(self, call_id: str) -> None:
        """CANCEL before answer: the attempt ends 487 (setup releases what it holds)."""
        record = self.pending.pop(call_id, None)
        if record is not None:
            self.close_record(record, "cancelled", "cancel", 487)

    def end(self, call_id: str, call: EdgeCall | None, reason: str, now: float) -> None:
        """The dialog ended (BYE either way, timeout): close the record, free the slot."""
        record = self.pending.pop(call_id, None)
        if call is None:
            if record is not None:  # ended (BYE) during setup: setup will release
                self.close_record(record, "cancelled", reason, 487)
            return
        if reason == "media-timeout":
            self.stats.media_timeouts += 1
        self.release_media(call)
        self._releases.spawn(self._answered_end(call, record, reason, now), name="release")

    async def _answered_end(
        self, call: EdgeCall, record: CallRecord | None, reason: str, now: float
    ) -> None:
        state = await call.media.final_state()  # the worker's counters after the last packet
        if record is not None:
            record.rx_packets = state.rx_packets
            record.tx_packets = state.tx_packets
            record.dtmf = "".join(call.dtmf)
            record.transcript = list(call.transcript)
            record.recording_path = call.recording_path
            record.media = MediaStats(
                codec=call.codec,
                ptime_ms=call.ptime_ms,
                lost=state.lost,
                rtp_rejected=state.rtp_rejected,
                rtp_latch_moves=state.latch_moves,
                silence_s=state.silent_s,
                duration_s=now - call.answered_at,
            )
            self.close_record(record, "answered", reason, 200)
        await self.decider.release(call.facts, reason, record)

    def release_media(self, call: EdgeCall) -> None:
        """Stop the call's media; its port is free again once the worker closed it."""
        if call.finish():
            call.media.closed.add_done_callback(lambda _: self._media_closed(call))

    def _media_closed(self, call: EdgeCall) -> None:
        self.ports.release(call.port)
        state = call.media.state
        self.stats.rtp_rejected += state.rtp_rejected
        self.stats.rtp_latched += state.latching

    def record(self, call_id: str) -> CallRecord | None:
        for record in reversed(self.history):
            if record.call_id == call_id:
                return record
        return self.pending.get(call_id)

    async def settled(self, wait_s: float = 5.0) -> None:
        """Wait (up to `wait_s`) until the calls ended so far have their records closed
        and their slots released: that waits for their media workers' last counters."""
        await self._releases.drain(wait_s=wait_s)

    async def close(self, wait_s: float = 5.0) -> None:
        """Let the ended calls' releases finish (every slot is freed), then stop."""
        await self._releases.drain(wait_s=wait_s)
        await self._releases.close()
