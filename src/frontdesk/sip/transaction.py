"""SIP transactions over UDP (RFC 3261 §17, with RFC 6026's Accepted state).

Theory of operation
-------------------
A transaction is a request plus every response to it, retransmissions included. Each
class below is a small state machine whose inputs are: a message from the network (a
retransmitted request, an ACK, a response), a response handed down by the transaction
user (the user agent core in `useragent.py`), and timers firing. Timers are never read
from a clock: they are `Deadlines` entries at absolute times, and the time comes in as
an argument. Outputs are bytes handed to the injected `send` callable and calls to the
`on_terminated` / `on_timeout` callbacks the owner gave.

Server INVITE (§17.2.1, RFC 6026 §7.1)::

    Proceeding --1xx--> Proceeding (INVITE retransmission: resend last provisional)
    Proceeding --2xx--> Accepted  (Timer L = 64*T1; INVITE retransmissions absorbed;
                                   the TU retransmits the 2xx itself, §13.3.1.4)
    Proceeding --3xx-6xx--> Completed (Timer G retransmits, T1 doubling to T2;
                                   Timer H = 64*T1 gives up waiting for the ACK)
    Completed --ACK--> Confirmed (Timer I = T4 absorbs ACK retransmissions)
    Accepted/Confirmed --L/I--> Terminated

Server non-INVITE (§17.2.2)::

    Trying --1xx--> Proceeding --final--> Completed (Timer J = 64*T1) --J--> Terminated
    A retransmitted request gets the last response again.

Client non-INVITE (§17.1.2), used for the BYE we send::

    Trying --E (T1 doubling to T2)--> retransmit; --F (64*T1)--> timeout
    --1xx--> Proceeding (E keeps firing at T2) --final--> Completed (Timer K = T4)

Must not: parse bytes, build dialogs or know about calls.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from frontdesk.sip.message import Response
from frontdesk.sip.timers import Deadlines, TimerHandle, TimerValues

Send = Callable[[bytes], None]


class TxState(enum.Enum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class ServerInviteTransaction:
    """RFC 3261 §17.2.1 with RFC 6026's Accepted state (UDP)."""

    __slots__ = (
        "_deadlines",
        "_g_interval",
        "_last",
        "_on_terminated",
        "_send",
        "_timer_g",
        "_timer_h",
        "_timer_il",
        "_timers",
        "key",
        "state",
    )

    def __init__(
        self,
        key: tuple[str, ...],
        send: Send,
        deadlines: Deadlines,
        timers: TimerValues,
        on_terminated: Callable[[ServerInviteTransaction, bool], None],
    ) -> None:
        self.key = key
        self.state = TxState.PROCEEDING
        self._send = send
        self._deadlines = deadlines
        self._timers = timers
        self._on_terminated = on_terminated  # (tx, ack_timed_out)
        self._last: bytes | None = None
        self._timer_g: TimerHandle | None = None
        self._timer_h: TimerHandle | None = None
        self._timer_il: TimerHandle | None = None
        self._g_interval = timers.t1

    # -- inputs from the network -------------------------------------------------------
    def on_retransmitted_request(self) -> None:
        """The same INVITE again: resend the last provisional or final response."""
        if self.state in (TxState.PROCEEDING, TxState.COMPLETED) and self._last is not None:
            self._send(self._last)
        # ACCEPTED: absorbed (RFC 6026); CONFIRMED/TERMINATED: absorbed

    def on_ack(self, now: float) -> None:
        """An ACK for our non-2xx final response."""
        if self.state is TxState.COMPLETED:
            self.state = TxState.CONFIRMED
            self._cancel(self._timer_g, self._timer_h)
            self._timer_il = self._deadlines.schedule(now + self._timers.t4, self._terminate_ok)

    # -- inputs from the transaction user ----------------------------------------------
    def respond(self, response: Response, data: bytes, now: float) -> None:
        if self.state is not TxState.PROCEEDING:
            return  # a final response was already sent; late responses are dropped
        self._last = data
        self._send(data)
        status = response.status
        if status < 200:
            return
        if status < 300:
            self.state = TxState.ACCEPTED
            self._timer_il = self._deadlines.schedule(
                now + self._timers.timeout_64t1, self._terminate_ok
            )
            return
        self.state = TxState.COMPLETED
        self._g_interval = self._timers.t1
        self._timer_g = self._deadlines.schedule(now + self._g_interval, self._fire_g)
        self._timer_h = self._deadlines.schedule(now + self._timers.timeout_64t1, self._fire_h)

    @property
    def final_sent(self) -> bool:
        return self.state is not TxState.PROCEEDING

    # -- timers -----------------------------------------------------------------------
    def _fire_g(self, now: float) -> None:
        if self.state is not TxState.COMPLETED or self._last is None:
            return
        self._send(self._last)
        self._g_interval = min(2 * self._g_interval, self._timers.t2)
        self._timer_g = self._deadlines.schedule(now + self._g_interval, self._fire_g)

    def _fire_h(self, now: float) -> None:
        if self.state is TxState.COMPLETED:
            self._finish(ack_timed_out=True)

    def _terminate_ok(self, now: float) -> None:
        self._finish(ack_timed_out=False)

    def _finish(self, *, ack_timed_out: bool) -> None:
        if self.state is TxState.TERMINATED:
            return
        self.state = TxState.TERMINATED
        self._cancel(self._timer_g, self._timer_h, self._timer_il)
        self._on_terminated(self, ack_timed_out)

    @staticmethod
    def _cancel(*handles: TimerHandle | None) -> None:
        for handle in handles:
            if handle is not None:
                handle.cancel()


class ServerNonInviteTransaction:
    """RFC 3261 §17.2.2 (UDP)."""

    __slots__ = ("_deadlines", "_last", "_on_terminated", "_send", "_timers", "key", "state")

    def __init__(
        self,
        key: tuple[str, ...],
        send: Send,
        deadlines: Deadlines,
        timers: TimerValues,
        on_terminated: Callable[[ServerNonInviteTransaction], None],
    ) -> None:
        self.key = key
        self.state = TxState.TRYING
        self._send = send
        self._deadlines = deadlines
        self._timers = timers
        self._on_terminated = on_terminated
        self._last: bytes | None = None

    def on_retransmitted_request(self) -> None:
        if self._last is not None and self.state in (TxState.PROCEEDING, TxState.COMPLETED):
            self._send(self._last)

    def respond(self, response: Response, data: bytes, now: float) -> None:
        if self.state in (TxState.COMPLETED, TxState.TERMINATED):
            return
        self._last = data
        self._send(data)
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return
        self.state = TxState.COMPLETED
        self._deadlines.schedule(now + self._timers.timeout_64t1, self._fire_j)

    def _fire_j(self, now: float) -> None:
        self.state = TxState.TERMINATED
        self._on_terminated(self)


class ClientNonInviteTransaction:
    """RFC 3261 §17.1.2 (UDP): our BYE (and later REFER/NOTIFY answers we await)."""

    __slots__ = (
        "_deadlines",
        "_e_interval",
        "_on_done",
        "_request",
        "_send",
        "_timer_e",
        "_timer_f",
        "_timers",
        "key",
        "state",
    )

    def __init__(
        self,
        key: str,
        request: bytes,
        send: Send,
        deadlines: Deadlines,
        timers: TimerValues,
        on_done: Callable[[ClientNonInviteTransaction, Response | None], None],
    ) -> None:
        self.key = key  # our branch
        self.state = TxState.TRYING
        self._request = request
        self._send = send
        self._deadlines = deadlines
        self._timers = timers
        self._on_done = on_done  # (tx, final response or None on timeout)
        self._e_interval = timers.t1
        self._timer_e: TimerHandle | None = None
        self._timer_f: TimerHandle | None = None

    def start(self, now: float) -> None:
        self._send(self._request)
        self._timer_e = self._deadlines.schedule(now + self._e_interval, self._fire_e)
        self._timer_f = self._deadlines.schedule(now + self._timers.timeout_64t1, self._fire_f)

    def on_response(self, response: Response, now: float) -> None:
        if self.state in (TxState.COMPLETED, TxState.TERMINATED):
            return  # retransmitted final: absorbed
        if response.status < 200:
            self.state = TxState.PROCEEDING
            return
        self.state = TxState.COMPLETED
        for handle in (self._timer_e, self._timer_f):
            if handle is not None:
                handle.cancel()
        self._deadlines.schedule(now + self._timers.t4, self._fire_k)
        self._on_done(self, response)

    def _fire_e(self, now: float) -> None:
        if self.state not in (TxState.TRYING, TxState.PROCEEDING):
            return
        self._send(self._request)
        if self.state is TxState.PROCEEDING:
            self._e_interval = self._timers.t2
        else:
            self._e_interval = min(2 * self._e_interval, self._timers.t2)
        self._timer_e = self._deadlines.schedule(now + self._e_interval, self._fire_e)

    def _fire_f(self, now: float) -> None:
        if self.state in (TxState.TRYING, TxState.PROCEEDING):
            self.state = TxState.TERMINATED
            if self._timer_e is not None:
                self._timer_e.cancel()
            self._on_done(self, None)

    def _fire_k(self, now: float) -> None:
        self.state = TxState.TERMINATED
