"""The user-agent core of the edge: datagrams and time in, datagrams and call events out.

Theory of operation
-------------------
`UserAgent.receive(data, source, now)` parses one datagram, matches it to a server
transaction (retransmissions are answered from there), to a dialog (ACK, BYE, re-INVITE,
UPDATE, INFO), or starts something new (INVITE, OPTIONS, CANCEL ...). What the
application must decide shows up in `events`: `IncomingCall` (answer or reject it),
`SessionModified` (a re-INVITE or UPDATE offer: accept or reject it), and the facts
`CallConfirmed`, `CallCancelled`, `CallEnded`, `KeyPressed` (a SIP INFO DTMF key), and
for a blind transfer we started with `refer()` (RFC 3515), `ReferAnswered` (the final
answer to our REFER) and `TransferProgress` (each NOTIFY's sipfrag status). What must go
on the wire is appended to `outbox` as `(bytes, address)`. Timers are `Deadlines`
entries: the adapter calls `advance(now)` when `next_deadline()` comes.

Decisions made here (not left to the application):
- 100 Trying goes out at once for every new INVITE, before the application is asked.
- Responses go to the source address and port of the request (RFC 3581 behaviour
  for every request), and in-dialog requests go to the dialog's peer address; see
  `dialog.py` for why a peer trunk wants that.
- Unknown methods get 501, known but unsupported ones 405, in-dialog requests for a
  dialog we do not know 481, a Require we do not support 420, a non-SDP body 415,
  Max-Forwards 0 gets 483, a second INVITE of one call on another branch 482.
- A 2xx to an INVITE is retransmitted (T1 doubling to T2) until the ACK arrives; after
  64*T1 without ACK the call is ended with our BYE and reason `ack-timeout`.

Must not: touch sockets, read clocks, or make routing/admission decisions.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from frontdesk.errors import SipParseError
from frontdesk.sip.dialog import Addr, CallState, Dialog
from frontdesk.sip.dtmf_info import read_info_dtmf
from frontdesk.sip.headers import CSeq, NameAddr, Via
from frontdesk.sip.message import Headers, Request, Response, reason_for, split_list
from frontdesk.sip.parser import is_keepalive, parse_message
from frontdesk.sip.timers import Deadlines, TimerHandle, TimerValues
from frontdesk.sip.transaction import (
    ClientNonInviteTransaction,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    TxState,
)

MAGIC_COOKIE = "z9hG4bK"
ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE, INFO, NOTIFY"
SUPPORTED_EXTENSIONS: frozenset[str] = frozenset()
KNOWN_UNSUPPORTED = frozenset(
    {"REGISTER", "SUBSCRIBE", "NOTIFY", "PUBLISH", "MESSAGE", "REFER", "PRACK"}
)


@dataclass(frozen=True, slots=True)
class UaConfig:
    contact_host: str  # what Contact advertises (FRONTDESK_PUBLIC_IP)
    contact_port: int
    timers: TimerValues = field(default_factory=TimerValues)
    server_name: str = "frontdesk"
    retry_after: int = 30  # seconds, on the 503 we answer while shedding load


@dataclass(slots=True, eq=False)
class ServerCall:
    """One call as the application sees it: the INVITE, its dialog and its state."""

    invite: Request
    dialog: Dialog
    invite_tx: ServerInviteTransaction
    app: object = None  # the application's own object for this call
    _ok_data: bytes | None = None
    _ok_cseq: int = 0
    _ok_timer: TimerHandle | None = None
    _ok_interval: float = 0.0
    _ok_give_up: float = 0.0
    _modify: tuple[Request, ServerInviteTransaction | ServerNonInviteTransaction] | None = None
    refer_pending: bool = False  # our REFER's implicit subscription is alive (RFC 3515)

    @property
    def call_id(self) -> str:
        return self.dialog.call_id

    @property
    def state(self) -> CallState:
        return self.dialog.state

    @property
    def source(self) -> Addr:
        return self.dialog.peer


@dataclass(frozen=True, slots=True)
class IncomingCall:
    call: ServerCall


@dataclass(frozen=True, slots=True)
class CallConfirmed:
    call: ServerCall


@dataclass(frozen=True, slots=True)
class CallCancelled:
    call: ServerCall


@dataclass(frozen=True, slots=True)
class CallEnded:
    call: ServerCall
    reason: str  # remote-bye | local-bye | ack-timeout | <whatever hangup() was given>


@dataclass(frozen=True, slots=True)
class KeyPressed:
    call: ServerCall
    key: str  # a DTMF key from an INFO (application/dtmf-relay or application/dtmf)


@dataclass(frozen=True, slots=True)
class SessionModified:
    """A re-INVITE or UPDATE carrying an SDP offer: call accept_modify or reject_modify."""

    call: ServerCall
    request: Request


@dataclass(frozen=True, slots=True)
class InviteRefused:
    """A new INVITE the core answered itself (malformed for us, or shed): for the records."""

    request: Request
    source: Addr
    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class ReferAnswered:
    """The final response to our REFER (408 when it timed out)."""

    call: ServerCall
    status: int


@dataclass(frozen=True, slots=True)
class TransferProgress:
    """A NOTIFY of our REFER's subscription: the status line of its sipfrag body."""

    call: ServerCall
    status: int
    terminated: bool


Event = (
    IncomingCall
    | CallConfirmed
    | CallCancelled
    | CallEnded
    | KeyPressed
    | SessionModified
    | InviteRefused
    | ReferAnswered
    | TransferProgress
)


@dataclass(slots=True)
class UaStats:
    requests: int = 0
    responses: int = 0
    malformed: int = 0
    retransmissions: int = 0
    rejected_new: int = 0
    shed: int = 0  # new INVITEs answered 503 because the node was overloaded


ServerTx = ServerInviteTransaction | ServerNonInviteTransaction


class UserAgent:
    """The sans-IO SIP user agent server of one edge (UDP)."""

    def __init__(self, config: UaConfig, token: Callable[[], str] | None = None) -> None:
        self.config = config
        self.timers = config.timers
        self.deadlines = Deadlines()
        self.outbox: list[tuple[bytes, Addr]] = []
        self.events: list[Event] = []
        self.stats = UaStats()
        #: set by the adapter while the node is overloaded: new INVITEs get 503 at once
        self.shedding = False
        self._token = token or (lambda: secrets.token_hex(8))
        self._server_txs: dict[tuple[str, ...], ServerTx] = {}
        self._client_txs: dict[str, ClientNonInviteTransaction] = {}
        self._dialogs: dict[tuple[str, str, str], ServerCall] = {}
        self._pending_by_tx: dict[tuple[str, ...], ServerCall] = {}
        host = config.contact_host
        self._contact_hostport = f"[{host}]" if ":" in host else host
        self._contact = f"<sip:{self._contact_hostport}:{config.contact_port}>"

    # ---------------------------------------------------------------- inputs
    def next_deadline(self) -> float | None:
        return self.deadlines.next_deadline()

    def advance(self, now: float) -> None:
        self.deadlines.advance(now)

    @property
    def pending_requests(self) -> int:
        """Requests we sent (BYE) still waiting for their final response."""
        return len(self._client_txs)

    @property
    def active_calls(self) -> int:
        return len(self._dialogs)

    def receive(self, data: bytes, source: Addr, now: float) -> None:
        if is_keepalive(data):
            return
        try:
            message = parse_message(data)
        except SipParseError as exc:
            self.report_malformed(exc, source)
            return
        self.receive_message(message, source, now)

    def report_malformed(self, exc: SipParseError, source: Addr) -> None:
        """A message that could not be parsed: answer it if it can be addressed."""
        self.stats.malformed += 1
        partial = exc.partial
        if isinstance(partial, Request) and partial.method != "ACK":
            self._send_plain(partial, exc.status, exc.reason, source)

    def receive_message(self, message: Request | Response, source: Addr, now: float) -> None:
        """A message already framed and parsed (the stream transports use this)."""
        if isinstance(message, Response):
            self.stats.responses += 1
            self._on_response(message, now)
            return
        self.stats.requests += 1
        try:
            self._on_request(message, source, now)
        except SipParseError as exc:  # a header we needed turned out malformed
            self.stats.malformed += 1
            if message.method != "ACK":
                self._send_plain(message, exc.status, exc.reason, source)

    # ---------------------------------------------------------------- commands
    def answer(self, call: ServerCall, sdp: bytes, now: float) -> bool:
        """Send 200 OK with our SDP answer; False when the call is no longer pending."""
        if call.dialog.state is not CallState.PENDING:
            return False
        call.dialog.state = CallState.ANSWERED
        self._send_ok(call, call.invite, call.invite_tx, sdp, now)
        return True

    def reject(
        self,
        call: ServerCall,
        status: int,
        now: float,
        reason: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
    ) -> bool:
        """Answer a pending INVITE with a final non-2xx response."""
        if call.dialog.state is not CallState.PENDING:
            return False
        call.dialog.state = CallState.ENDED
        response = self._response(
            call.invite, status, reason, call.source, to_tag=call.dialog.local_tag, extra=headers
        )
        call.invite_tx.respond(response, bytes(response), now)
        self._forget(call)
        self.stats.rejected_new += 1
        return True

    def hangup(self, call: ServerCall, now: float, reason: str = "local-bye") -> bool:
        """End an answered call with BYE (a pending one is rejected with 480)."""
        state = call.dialog.state
        if state is CallState.PENDING:
            return self.reject(call, 480, now)
        if state is CallState.ENDED:
            return False
        self._stop_ok(call)
        call.dialog.state = CallState.ENDED
        self._forget(call)
        self._send_in_dialog(call, "BYE", now)
        self.events.append(CallEnded(call, reason))
        return True

    def refer(self, call: ServerCall, target: str, now: float, referred_by: str = "") -> bool:
        """Ask the peer to call `target` (a SIP URI) in our place: a blind transfer.

        The outcome arrives as `ReferAnswered` and then `TransferProgress` events; ending
        our leg on success is the application's call (it sends BYE with `hangup`).
        """
        if call.dialog.state is not CallState.CONFIRMED or call.refer_pending:
            return False
        call.refer_pending = True
        extra = [("Refer-To", f"<{target}>")]
        if referred_by:
            extra.append(("Referred-By", f"<{referred_by}>"))

        def answered(response: Response | None) -> None:
            status = response.status if response is not None else 408
            if status >= 300:
                call.refer_pending = False
            self.events.append(ReferAnswered(call, status))

        self._send_in_dialog(call, "REFER", now, extra, answered)
        return True

    def accept_modify(self, call: ServerCall, sdp: bytes, now: float) -> bool:
        """Answer the pending re-INVITE/UPDATE offer with 200 and our SDP."""
        if call._modify is None or call.dialog.state is CallState.ENDED:
            return False
        request, tx = call._modify
        call._modify = None
        if isinstance(tx, ServerInviteTransaction):
            self._send_ok(call, request, tx, sdp, now)
        else:
            response = self._ok_response(request, call, sdp)
            tx.respond(response, bytes(response), now)
        return True

    def reject_modify(self, call: ServerCall, status: int, now: float) -> bool:
        if call._modify is None:
            return False
        request, tx = call._modify
        call._modify = None
        response = self._response(request, status, None, call.source, to_tag=call.dialog.local_tag)
        tx.respond(response, bytes(response), now)
        return True

    # ---------------------------------------------------------------- requests
    def _on_request(self, request: Request, source: Addr, now: float) -> None:
        headers = request.headers
        top = headers.first("Via")
        if top is None:
            raise SipParseError("no Via")
        via = Via.parse(top)
        method = request.method
        branch = via.branch or ""
        tx_method = "INVITE" if method == "ACK" else method
        if branch.startswith(MAGIC_COOKIE):
            key: tuple[str, ...] = (branch, via.host, str(via.port or 5060), tx_method)
        else:  # RFC 2543 peer: match on the request's identity instead
            key = (request.call_id, (headers.get("CSeq") or "").split(" ", 1)[0], top, tx_method)
        tx = self._server_txs.get(key)
        if method == "ACK":
            if isinstance(tx, ServerInviteTransaction) and tx.state is TxState.COMPLETED:
                tx.on_ack(now)
            else:
                self._on_ack(request, now)
            return
        if tx is not None:
            self.stats.retransmissions += 1
            tx.on_retransmitted_request()
            return
        if method == "CANCEL":
            self._on_cancel(request, key, source, now)
            return
        to_tag = NameAddr.parse(headers.get("To") or "").tag
        if to_tag:
            self._on_in_dialog(request, key, to_tag, source, now)
            return
        if method == "INVITE":
            self._on_invite(request, key, source, now)
        elif method == "OPTIONS":
            self._answer_non_invite(request, key, 200, source, now, self._capabilities())
        elif method in ("BYE", "INFO", "UPDATE"):
            self._answer_non_invite(request, key, 481, source, now)
        elif method in KNOWN_UNSUPPORTED:
            self._answer_non_invite(request, key, 405, source, now, (("Allow", ALLOW),))
        else:
            self._answer_non_invite(request, key, 501, source, now, (("Allow", ALLOW),))

    def _on_invite(self, request: Request, key: tuple[str, ...], source: Addr, now: float) -> None:
        headers = request.headers
        refusal = self._precheck_invite(request)
        if refusal is None and self.shedding:
            # overloaded: the cheapest honest answer, before any dialog or SDP work
            self.stats.shed += 1
            refusal = 503, (("Retry-After", str(self.config.retry_after)),)
        if refusal is not None:
            status, extra = refusal
            tx = self._new_invite_tx(key, source)
            response = self._response(
                request, status, None, source, to_tag=self._token(), extra=extra
            )
            tx.respond(response, bytes(response), now)
            self.stats.rejected_new += 1
            reason = "overload" if status == 503 else f"invite-{status}"
            self.events.append(InviteRefused(request, source, status, reason))
            return
        from_tag = NameAddr.parse(headers.get("From") or "").tag or ""
        loop_key = ("loop", request.call_id, from_tag, headers.get("CSeq") or "")
        if loop_key in self._pending_by_tx:  # same INVITE, other branch: merged (§8.2.2.2)
            self._answer_plain_tx(request, key, 482, source, now)
            return
        tx = self._new_invite_tx(key, source)
        trying = self._response(request, 100, None, source)
        tx.respond(trying, bytes(trying), now)
        dialog = Dialog.from_invite(request, self._token(), source)
        call = ServerCall(invite=request, dialog=dialog, invite_tx=tx)
        self._dialogs[dialog.key] = call
        self._pending_by_tx[key] = call
        self._pending_by_tx[loop_key] = call
        self.events.append(IncomingCall(call))

    def _precheck_invite(self, request: Request) -> tuple[int, tuple[tuple[str, str], ...]] | None:
        headers = request.headers
        max_forwards = headers.get("Max-Forwards")
        if max_forwards is not None and max_forwards.strip() == "0":
            return 483, ()
        required = [r.lower() for r in headers.values("Require")]
        unsupported = [r for r in required if r not in SUPPORTED_EXTENSIONS]
        if unsupported:
            return 420, (("Unsupported", ", ".join(unsupported)),)
        if request.body:
            content_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if content_type != "application/sdp":
                return 415, (("Accept", "application/sdp"),)
        else:
            # Offerless INVITE (offer in 2xx, answer in ACK) is not supported: a peer trunk
            # from a PBX always offers. Say so plainly rather than guessing.
            return 488, (("Warning", '399 frontdesk "INVITE without SDP offer not supported"'),)
        return None

    def _on_cancel(self, request: Request, key: tuple[str, ...], source: Addr, now: float) -> None:
        invite_key = (*key[:-1], "INVITE")
        call = self._pending_by_tx.get(invite_key)
        invite_tx = self._server_txs.get(invite_key)
        if invite_tx is None:
            self._answer_non_invite(request, key, 481, source, now)
            return
        self._answer_non_invite(request, key, 200, source, now)
        if call is not None and call.dialog.state is CallState.PENDING:
            self.reject(call, 487, now)
            self.stats.rejected_new -= 1  # a cancel is not a refusal of ours
            self.events.append(CallCancelled(call))

    def _on_in_dialog(
        self, request: Request, key: tuple[str, ...], to_tag: str, source: Addr, now: float
    ) -> None:
        from_tag = NameAddr.parse(request.headers.get("From") or "").tag or ""
        call = self._dialogs.get((request.call_id, to_tag, from_tag))
        method = request.method
        if call is None:
            if method == "OPTIONS":
                self._answer_non_invite(request, key, 200, source, now, self._capabilities())
            else:
                self._answer_plain_tx(request, key, 481, source, now)
            return
        cseq = CSeq.parse(request.headers.get("CSeq") or "")
        dialog = call.dialog
        if cseq.seq < dialog.remote_cseq or (cseq.seq == dialog.remote_cseq and method != "BYE"):
            self._answer_plain_tx(request, key, 500, source, now, (("Retry-After", "1"),))
            return
        dialog.remote_cseq = cseq.seq
        if method == "BYE":
            self._answer_non_invite(request, key, 200, source, now)
            if dialog.state is not CallState.ENDED:
                self._stop_ok(call)
                if dialog.state is CallState.PENDING:  # BYE before our answer: end it all
                    call.invite_tx.respond(
                        r := self._response(
                            call.invite, 487, None, source, to_tag=dialog.local_tag
                        ),
                        bytes(r),
                        now,
                    )
                dialog.state = CallState.ENDED
                self._forget(call)
                self.events.append(CallEnded(call, "remote-bye"))
        elif method in ("INVITE", "UPDATE"):
            self._on_modify(call, request, key, source, now)
        elif method == "NOTIFY":
            self._on_notify(call, request, key, source, now)
        elif method == "INFO":
            info = read_info_dtmf(request.headers.get("Content-Type"), request.body)
            self._answer_non_invite(request, key, info.status, source, now)
            if info.key is not None:
                self.events.append(KeyPressed(call, info.key))
        elif method == "OPTIONS":
            self._answer_non_invite(request, key, 200, source, now, self._capabilities())
        elif method in KNOWN_UNSUPPORTED:
            self._answer_non_invite(request, key, 405, source, now, (("Allow", ALLOW),))
        else:
            self._answer_non_invite(request, key, 501, source, now, (("Allow", ALLOW),))

    def _on_modify(
        self, call: ServerCall, request: Request, key: tuple[str, ...], source: Addr, now: float
    ) -> None:
        tx: ServerTx
        if request.method == "INVITE":
            tx = self._new_invite_tx(key, source)
        else:
            tx = self._new_non_invite_tx(key, source)
        if call._modify is not None or (
            call._ok_data is not None and call.state is CallState.ANSWERED
        ):
            response = self._response(request, 491, None, source, to_tag=call.dialog.local_tag)
            tx.respond(response, bytes(response), now)
            return
        contact = request.headers.first("Contact")
        if contact:  # a target refresh (§12.2.2)
            call.dialog.remote_target = NameAddr.parse(contact).uri
        if not request.body:
            # no offer: answer with our current session (the application's last SDP)
            body = call.dialog.local_sdp
            if isinstance(tx, ServerInviteTransaction):
                self._send_ok(call, request, tx, body, now)
            else:
                response = self._ok_response(request, call, body)
                tx.respond(response, bytes(response), now)
            return
        if isinstance(tx, ServerInviteTransaction):
            trying = self._response(request, 100, None, source)
            tx.respond(trying, bytes(trying), now)
        call._modify = (request, tx)
        self.events.append(SessionModified(call, request))

    def _on_notify(
        self, call: ServerCall, request: Request, key: tuple[str, ...], source: Addr, now: float
    ) -> None:
        """A NOTIFY of our REFER's implicit subscription (RFC 3515 §2.4.5)."""
        event = (request.headers.get("Event") or request.headers.get("o") or "").strip()
        if not call.refer_pending or event.split(";", 1)[0].strip().lower() != "refer":
            self._answer_non_invite(request, key, 481, source, now)
            return
        self._answer_non_invite(request, key, 200, source, now)
        state = (request.headers.get("Subscription-State") or "").strip().lower()
        terminated = state.startswith("terminated")
        if terminated:
            call.refer_pending = False
        self.events.append(TransferProgress(call, sipfrag_status(request.body), terminated))

    def _on_ack(self, request: Request, now: float) -> None:
        headers = request.headers
        to_tag = NameAddr.parse(headers.get("To") or "").tag or ""
        from_tag = NameAddr.parse(headers.get("From") or "").tag or ""
        call = self._dialogs.get((request.call_id, to_tag, from_tag))
        if call is None:
            return  # ACKs are never answered
        cseq = CSeq.parse(headers.get("CSeq") or "")
        if call._ok_data is not None and cseq.seq == call._ok_cseq:
            self._stop_ok(call)
            if call.dialog.state is CallState.ANSWERED:
                call.dialog.state = CallState.CONFIRMED
                self.events.append(CallConfirmed(call))

    # ---------------------------------------------------------------- responses
    def _on_response(self, response: Response, now: float) -> None:
        top = response.headers.first("Via")
        if top is None:
            return
        try:
            branch = Via.parse(top).branch
        except SipParseError:
            return
        tx = self._client_txs.get(branch or "")
        if tx is not None:
            tx.on_response(response, now)

    # ---------------------------------------------------------------- 2xx handling
    def _send_ok(
        self,
        call: ServerCall,
        request: Request,
        tx: ServerInviteTransaction,
        sdp: bytes,
        now: float,
    ) -> None:
        response = self._ok_response(request, call, sdp)
        data = bytes(response)
        tx.respond(response, data, now)
        call.dialog.local_sdp = sdp
        self._stop_ok(call)
        call._ok_data = data
        call._ok_cseq = CSeq.parse(request.headers.get("CSeq") or "").seq
        call._ok_interval = self.timers.t1
        call._ok_give_up = now + self.timers.timeout_64t1
        call._ok_timer = self.deadlines.schedule(
            now + self.timers.t1, lambda t: self._retransmit_ok(call, t)
        )

    def _retransmit_ok(self, call: ServerCall, now: float) -> None:
        if call._ok_data is None or call.dialog.state is CallState.ENDED:
            return
        if now >= call._ok_give_up:
            call._ok_data = None
            self.hangup(call, now, reason="ack-timeout")
            return
        self._send(call._ok_data, call.source)
        call._ok_interval = min(2 * call._ok_interval, self.timers.t2)
        due = min(now + call._ok_interval, call._ok_give_up)
        call._ok_timer = self.deadlines.schedule(due, lambda t: self._retransmit_ok(call, t))

    def _stop_ok(self, call: ServerCall) -> None:
        call._ok_data = None
        if call._ok_timer is not None:
            call._ok_timer.cancel()
            call._ok_timer = None

    def _ok_response(self, request: Request, call: ServerCall, sdp: bytes) -> Response:
        extra: list[tuple[str, str]] = [
            ("Record-Route", rr) for rr in request.headers.get_all("Record-Route")
        ]
        extra.append(("Contact", self._contact))
        extra.extend(self._capabilities())
        if sdp:
            extra.append(("Content-Type", "application/sdp"))
        return self._response(
            request, 200, None, call.source, to_tag=call.dialog.local_tag, extra=extra, body=sdp
        )

    # ---------------------------------------------------------------- plumbing
    def _send_in_dialog(
        self,
        call: ServerCall,
        method: str,
        now: float,
        extra: Iterable[tuple[str, str]] = (),
        on_answer: Callable[[Response | None], None] | None = None,
    ) -> None:
        branch = MAGIC_COOKIE + self._token()
        hostport = f"{self._contact_hostport}:{self.config.contact_port}"
        via = f"SIP/2.0/{call.dialog.transport} {hostport};branch={branch};rport"
        request = call.dialog.build_request(method, via, b"", ("Contact", self._contact), *extra)
        peer = call.source

        def send(data: bytes) -> None:
            self._send(data, peer)

        def done(tx: ClientNonInviteTransaction, response: Response | None) -> None:
            self._client_txs.pop(tx.key, None)
            if on_answer is not None:
                on_answer(response)

        tx = ClientNonInviteTransaction(
            branch, bytes(request), send, self.deadlines, self.timers, done
        )
        self._client_txs[branch] = tx
        tx.start(now)

    def _new_invite_tx(self, key: tuple[str, ...], source: Addr) -> ServerInviteTransaction:
        tx = ServerInviteTransaction(
            key, self._sender(source), self.deadlines, self.timers, self._invite_tx_done
        )
        self._server_txs[key] = tx
        return tx

    def _new_non_invite_tx(self, key: tuple[str, ...], source: Addr) -> ServerNonInviteTransaction:
        tx = ServerNonInviteTransaction(
            key, self._sender(source), self.deadlines, self.timers, self._tx_done
        )
        self._server_txs[key] = tx
        return tx

    def _invite_tx_done(self, tx: ServerInviteTransaction, ack_timed_out: bool) -> None:
        self._server_txs.pop(tx.key, None)
        self._pending_by_tx.pop(tx.key, None)

    def _tx_done(self, tx: ServerNonInviteTransaction) -> None:
        self._server_txs.pop(tx.key, None)

    def _forget(self, call: ServerCall) -> None:
        self._dialogs.pop(call.dialog.key, None)
        invite = call.invite
        from_tag = call.dialog.remote_tag
        self._pending_by_tx.pop(
            ("loop", invite.call_id, from_tag, invite.headers.get("CSeq") or ""), None
        )

    def _answer_non_invite(
        self,
        request: Request,
        key: tuple[str, ...],
        status: int,
        source: Addr,
        now: float,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        tx = self._new_non_invite_tx(key, source)
        to_tag = (
            None
            if status == 100
            else (NameAddr.parse(request.headers.get("To") or "").tag or self._token())
        )
        response = self._response(request, status, None, source, to_tag=to_tag, extra=extra)
        tx.respond(response, bytes(response), now)

    def _answer_plain_tx(
        self,
        request: Request,
        key: tuple[str, ...],
        status: int,
        source: Addr,
        now: float,
        extra: Iterable[tuple[str, str]] = (),
    ) -> None:
        if request.method == "INVITE":
            tx: ServerTx = self._new_invite_tx(key, source)
            to_tag = NameAddr.parse(request.headers.get("To") or "").tag or self._token()
            response = self._response(request, status, None, source, to_tag=to_tag, extra=extra)
            tx.respond(response, bytes(response), now)
        else:
            self._answer_non_invite(request, key, status, source, now, extra)

    def _capabilities(self) -> tuple[tuple[str, str], ...]:
        return (("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", ""))

    def _send_plain(self, request: Request, status: int, reason: str | None, source: Addr) -> None:
        """A stateless answer to a request too broken for a transaction."""
        try:
            response = self._response(request, status, reason, source, to_tag=self._token())
        except SipParseError:
            return  # cannot even address a response: drop
        self._send(bytes(response), source)

    def _response(
        self,
        request: Request,
        status: int,
        reason: str | None,
        source: Addr,
        *,
        to_tag: str | None = None,
        extra: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> Response:
        """A response per §8.2.6.2: Via, From, To (+tag), Call-ID and CSeq copied."""
        req = request.headers
        items: list[tuple[str, str]] = []
        first_via = True
        for name, value in req.items():
            if name == "Via":
                items.append((name, _stamp_via(value, source) if first_via else value))
                first_via = False
        if first_via:
            raise SipParseError("no Via to answer")
        from_value = req.get("From")
        to_value = req.get("To")
        call_id = req.get("Call-ID")
        cseq = req.get("CSeq")
        if from_value is None or to_value is None or call_id is None or cseq is None:
            raise SipParseError("missing From, To, Call-ID or CSeq")
        if to_tag is not None and ";tag=" not in to_value.replace(" ", "").lower():
            to_value = f"{to_value};tag={to_tag}"
        items.append(("From", from_value))
        items.append(("To", to_value))
        items.append(("Call-ID", call_id))
        items.append(("CSeq", cseq))
        items.append(("Server", self.config.server_name))
        items.extend((name, value) for name, value in extra if value != "" or name == "Supported")
        return Response(status, reason or reason_for(status), Headers._trusted(tuple(items)), body)

    def _sender(self, address: Addr) -> Callable[[bytes], None]:
        def send(data: bytes) -> None:
            self.outbox.append((data, address))

        return send

    def _send(self, data: bytes, address: Addr) -> None:
        self.outbox.append((data, address))


def sipfrag_status(body: bytes) -> int:
    """The status code of a message/sipfrag body ("SIP/2.0 200 OK"); 0 when unreadable."""
    first = body.split(b"\n", 1)[0].strip().split()
    if len(first) >= 2 and first[0].upper().startswith(b"SIP/") and first[1].isdigit():
        return int(first[1])
    return 0


def _stamp_via(value: str, source: Addr) -> str:
    """Add received= and fill rport= on the top Via element (RFC 3261 §18.2.1, RFC 3581)."""
    elements = split_list(value) if "," in value else [value]
    top = elements[0]
    host, port = source
    parts = top.split(";")
    sent_by_host = parts[0].rsplit(" ", 1)[-1]
    if sent_by_host.startswith("["):
        sent_by_host = sent_by_host[1 : sent_by_host.find("]")]
    else:
        sent_by_host = sent_by_host.split(":", 1)[0]
    has_rport = False
    out = [parts[0]]
    for part in parts[1:]:
        name = part.split("=", 1)[0].strip().lower()
        if name == "rport":
            has_rport = True
            out.append(f"rport={port}")
        elif name == "received":
            continue
        else:
            out.append(part)
    if has_rport or sent_by_host != host:
        out.append(f"received={host}")
    elements[0] = ";".join(out)
    return ", ".join(elements)
