"""The SIP edge of one node: the only place with SIP/RTP sockets and the SIP timer.

Owns: the UDP SIP socket and its allowlist gate, the sans-IO `UserAgent` (fed with
datagrams and time, drained of datagrams and events), the one mapping from decisions
and failures to SIP answers, the RTP port pool, the node's media clock (one 10 ms tick
sends and plays out every call's audio, instead of a timer per call), the watchdog
sweep, and graceful stop.

Must not: decide who may call (the `CallDecider` does) or talk to the caller (the
responder/agent does, through `CallAudio`).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import math
import socket
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from frontdesk.calls.audio import CallAudio
from frontdesk.calls.decision import (
    Accept,
    CallDecider,
    InviteFacts,
    Reject,
    invite_facts,
    refusal_owner,
)
from frontdesk.calls.media_schedule import SlotSchedule
from frontdesk.calls.record import CallRecord
from frontdesk.calls.responder import greeting_prompt, run_echo_responder
from frontdesk.calls.routing import Route
from frontdesk.calls.rtp_latch import RtpLatch
from frontdesk.calls.rtp_ports import RtpPortPool
from frontdesk.calls.watchdog import WatchdogLimits, expired
from frontdesk.config import Settings
from frontdesk.edge.allowlist import Allowlist
from frontdesk.edge.call import EdgeCall, RtcpProtocol, RtpProtocol
from frontdesk.edge.sip_stream import StreamConnections
from frontdesk.edge.tasks import TaskOwner
from frontdesk.errors import PortsExhausted, SdpError, SipParseError
from frontdesk.media.session import MediaSession
from frontdesk.sip.dialog import CallState
from frontdesk.sip.headers import SipUri
from frontdesk.sip.message import Request, Response
from frontdesk.sip.sdp import LocalMedia, SessionDescription, negotiate
from frontdesk.sip.timers import TimerValues
from frontdesk.sip.useragent import (
    CallCancelled,
    CallConfirmed,
    CallEnded,
    IncomingCall,
    InviteRefused,
    KeyPressed,
    ReferAnswered,
    ServerCall,
    SessionModified,
    TransferProgress,
    UaConfig,
    UserAgent,
)

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Responder = Callable[[CallAudio, EdgeCall], Awaitable[None]]

MEDIA_TICK = 0.010
OVERLOAD_LAG = 0.050  # media clock this late: the node sheds new calls
WATCHDOG_EVERY = 0.25
_HISTORY = 10_000


@dataclass(slots=True)
class EdgeStats:
    stranger_sip: int = 0
    stranger_rtp: int = 0
    internal_errors: int = 0
    answered: int = 0
    rejected: int = 0
    cancelled: int = 0
    media_timeouts: int = 0
    rtp_rejected: int = 0  # RTP from sources the call's latch refused (not its PBX peer)
    rtp_latched: int = 0  # calls whose SDP address was not the PBX's: RTP sent to its source


def _bound_udp(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class _SipProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: EdgeServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._server._on_sip_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP socket error: %s", exc)


async def _echo(audio: CallAudio, call: EdgeCall) -> None:
    await run_echo_responder(audio, greeting_prompt())


class EdgeServer:
    def __init__(
        self,
        settings: Settings,
        decider: CallDecider,
        *,
        timers: TimerValues | None = None,
        responder: Responder | None = None,
        on_record: Callable[[CallRecord], None] | None = None,
        on_setup: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.decider = decider
        self.on_record = on_record  # every finished call attempt (the session recorder)
        self.on_setup = on_setup  # seconds from INVITE to 200 OK, per answered call
        self.attempts: Counter[tuple[str, str]] = Counter()  # (outcome, reason)
        self.allowlist = Allowlist(settings.pbx_networks)
        self.timers = timers or TimerValues()
        self.responder = responder or _echo
        self.limits = WatchdogLimits(
            settings.media_timeout, settings.hold_timeout, settings.max_call_duration
        )
        self.stats = EdgeStats()
        self.ports = RtpPortPool(*settings.rtp_port_range)
        self.calls: dict[str, EdgeCall] = {}  # by Call-ID, answered and live
        self.history: deque[CallRecord] = deque(maxlen=_HISTORY)
        self.ua: UserAgent | None = None
        self.sip_address: Addr | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0
        self._setups = TaskOwner("call setup")
        self._call_tasks = TaskOwner("call responders")
        self._background = TaskOwner("edge background")
        self._releases = TaskOwner("slot releases")
        self._records: dict[str, CallRecord] = {}
        self._media_due: SlotSchedule[EdgeCall] = SlotSchedule(MEDIA_TICK)
        # how late each media tick started and how long it worked (the last ~10 minutes)
        self.tick_late_ms: deque[float] = deque(maxlen=60_000)
        self.tick_work_ms: deque[float] = deque(maxlen=60_000)
        self._draining = False
        self._lag = 0.0
        self.streams = StreamConnections(
            self.allowlist, self._on_stream_message, self._on_stream_malformed, self._stranger
        )
        self._tcp_server: asyncio.Server | None = None

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        settings = self.settings
        family = socket.AF_INET6 if ":" in settings.sip_host else socket.AF_INET
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipProtocol(self),
            local_addr=(settings.sip_host, settings.sip_port),
            family=family,
        )
        self._transport = transport
        bound = transport.get_extra_info("sockname")
        self.sip_address = (bound[0], bound[1])
        # SIP over TCP on the same port as UDP
        self._tcp_server = await loop.create_server(
            self.streams.protocol, settings.sip_host, bound[1], family=family
        )
        self.ua = UserAgent(
            UaConfig(
                contact_host=settings.advertised_ip,
                contact_port=bound[1],
                timers=self.timers,
                retry_after=settings.retry_after,
            )
        )
        for codec in ("PCMU", "PCMA"):  # prepare the greeting before the first call needs it
            for ptime in (20, 30):
                greeting_prompt().payloads(codec, ptime)
                greeting_prompt().pcm_frames(ptime)  # for G.722 calls
        # Objects made at start-up live for the whole process: moving them out of the
        # collector's sight keeps a full collection from stalling the loop for tens of ms
        # while calls are being set up (measured: a 25 ms stall at 200 calls/s without it).
        gc.collect()
        gc.freeze()
        self._background.spawn(self._media_clock(), name="media clock")
        log.info("SIP edge listening on %s:%s (udp)", *self.sip_address)

    async def stop(self, grace: float = 1.0) -> None:
        """Stop admitting, end every call with BYE, then close everything."""
        self._draining = True
        ua = self.ua
        loop = asyncio.get_running_loop()
        if ua is not None:
            for call in list(self.calls.values()):
                ua.hangup(call.server_call, loop.time(), reason="shutdown")
            self._process()
        await self._setups.close()
        if ua is not None and grace > 0:  # let BYEs be answered or retransmitted a little
            deadline = loop.time() + grace
            while ua.pending_requests and loop.time() < deadline:  # noqa: ASYNC110 (polls the core)
                await asyncio.sleep(0.05)
        await self._call_tasks.close()
        await self._releases.drain(wait_s=5.0)  # every ended call's slot is freed
        await self._releases.close()
        await self._background.close()
        if self._timer is not None:
            self._timer.cancel()
        if self._transport is not None:
            self._transport.close()
        if self._tcp_server is not None:
            self._tcp_server.close()
            self.streams.close_all()
            await self._tcp_server.wait_closed()
        gc.unfreeze()

    # ------------------------------------------------------------------ SIP in
    def _stranger(self) -> None:
        self.stats.stranger_sip += 1

    def _on_stream_message(self, message: Request | Response, source: Addr) -> None:
        ua, loop = self.ua, self._loop
        assert ua is not None and loop is not None
        try:
            ua.receive_message(message, source, loop.time())
        except Exception:
            self.stats.internal_errors += 1
            log.exception("SIP core failed on a stream message")
        self._process()

    def _on_stream_malformed(self, exc: SipParseError, source: Addr) -> None:
        if self.ua is not None:
            self.ua.report_malformed(exc, source)
            self._process()

    def _on_sip_datagram(self, data: bytes, addr: tuple[Any, ...]) -> None:
        host = addr[0]
        if not self.allowlist.allows(host):
            self.stats.stranger_sip += 1
            return
        ua = self.ua
        assert ua is not None and self._loop is not None
        try:
            ua.receive(data, (host, addr[1]), self._loop.time())
        except Exception:  # a bug of ours must never kill the edge
            self.stats.internal_errors += 1
            log.exception("SIP core failed on a datagram")
        self._process()

    def _process(self) -> None:
        """Carry out what the user agent asked for: events, datagrams, the next timer."""
        ua = self.ua
        if ua is None:
            return
        while ua.events:
            events = ua.events[:]
            ua.events.clear()
            for event in events:
                try:
                    self._on_event(event)
                except Exception:
                    self.stats.internal_errors += 1
                    log.exception("handling %s failed", type(event).__name__)
        transport = self._transport
        if ua.outbox and transport is not None:
            outbox = ua.outbox[:]
            ua.outbox.clear()
            streams = self.streams
            for data, address in outbox:
                if not (streams.open and streams.send(data, address)):
                    transport.sendto(data, address)
        self._arm_timer()

    def _arm_timer(self) -> None:
        ua, loop = self.ua, self._loop
        if ua is None or loop is None:
            return
        when = ua.next_deadline()
        if when is None:
            return
        if self._timer is not None and not self._timer.cancelled() and self._timer_when <= when:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_when = when
        self._timer = loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        ua, loop = self.ua, self._loop
        if ua is None or loop is None:
            return
        try:
            ua.advance(loop.time())
        except Exception:
            self.stats.internal_errors += 1
            log.exception("SIP timer handling failed")
        self._process()

    def _on_event(self, event: object) -> None:
        match event:
            case IncomingCall(call=server_call):
                self._setups.spawn(self._setup(server_call), name=f"setup {server_call.call_id}")
            case CallConfirmed(call=server_call):
                call = self.calls.get(server_call.call_id)
                if call is not None:
                    call.confirmed = True
            case CallCancelled(call=server_call):
                self.stats.cancelled += 1
                record = self._records.pop(server_call.call_id, None)
                if record is not None:
                    self._close_record(record, "cancelled", "cancel", 487)
            case CallEnded(call=server_call, reason=reason):
                self._end(server_call, reason)
            case KeyPressed(call=server_call, key=key):  # SIP INFO DTMF
                call = self.calls.get(server_call.call_id)
                if call is not None:
                    call.key_pressed(key)
            case SessionModified(call=server_call, request=request):
                self._modify(server_call, request.body)
            case ReferAnswered(call=server_call, status=status):
                if status >= 300:
                    self._transfer_done(server_call, status)
            case TransferProgress(call=server_call, status=status, terminated=terminated):
                if status >= 200 or terminated:
                    self._transfer_done(server_call, status if status >= 200 else 0)
            case InviteRefused(request=request, source=source, status=status, reason=reason):
                self.stats.rejected += 1
                facts = invite_facts(request, source)
                record = CallRecord(
                    facts.call_id, facts.called, facts.caller, "", "", 0, time.time()
                )
                self._close_record(record, "rejected", reason, status)

    # ------------------------------------------------------------------ call setup
    async def _setup(self, server_call: ServerCall) -> None:
        ua = self.ua
        loop = asyncio.get_running_loop()
        assert ua is not None
        setup_started = time.perf_counter()
        facts = invite_facts(server_call.invite, server_call.source)
        record = CallRecord(
            facts.call_id, facts.called, facts.caller, "pending", "", 0, time.time()
        )
        self._records[facts.call_id] = record
        # 1. what the offer allows: a call we cannot carry is refused before admission
        try:
            offer = SessionDescription.parse(server_call.invite.body)
            self._check_media(offer)
        except SdpError as exc:
            self._refuse(server_call, record, Reject(exc.status, f"sdp: {exc}"))
            return
        if self._draining:
            self._refuse(server_call, record, self._unavailable("shutting-down"))
            return
        # 2. routing and admission
        try:
            decision = await self.decider.decide(facts)
        except Exception:
            log.exception("decider failed for call %s", facts.call_id)
            decision = self._unavailable("decider-error")
        if isinstance(decision, Reject):
            self._refuse(server_call, record, decision)
            return
        record.greeting = decision.greeting
        route = decision.context.get("route")
        if isinstance(route, Route):  # what the session row links to
            record.extra.update(
                org_id=route.entry.org_id,
                number_id=route.entry.number_id,
                called_e164=route.called,
                session_id=decision.context.get("session_id"),
            )
        try:
            call = await self._open_media(server_call, facts, decision, offer, loop.time())
        except PortsExhausted:
            self._refuse(server_call, record, self._unavailable("rtp-ports-exhausted"))
            await self.decider.release(facts, "rtp-ports-exhausted")
            return
        answer_sdp = server_call.dialog.extra.pop("answer_sdp")
        assert isinstance(answer_sdp, bytes)
        now = loop.time()
        if not ua.answer(server_call, answer_sdp, now):  # cancelled (or BYE) meanwhile
            self._release_media(call)
            await self.decider.release(facts, "cancelled")
            self._process()
            return
        call.answered_at = now
        if self.on_setup is not None:
            self.on_setup(time.perf_counter() - setup_started)
        self.calls[facts.call_id] = call
        self._media_due.add(call, call.media.next_deadline())
        server_call.app = call
        record.outcome = "answered"
        record.status = 200
        record.answered_at = time.time()
        self.stats.answered += 1
        call.responder = self._call_tasks.spawn(
            self._run_responder(call), name=f"responder {facts.call_id}"
        )
        self._process()

    async def _open_media(
        self,
        server_call: ServerCall,
        facts: InviteFacts,
        decision: Accept,
        offer: SessionDescription,
        now: float,
    ) -> EdgeCall:
        loop = asyncio.get_running_loop()
        for _attempt in range(8):
            port = self.ports.allocate()
            answer = negotiate(offer, self._local_media(port))
            media = MediaSession(
                codec=answer.codec,
                payload_type=answer.payload_type,
                telephone_event_pt=answer.telephone_event_pt,
                ptime_ms=answer.ptime_ms,
                now=now,
            )
            latch = RtpLatch.for_offer(
                answer.remote_address, answer.remote_port, self.allowlist.allows
            )
            call = EdgeCall(
                server_call, facts, decision, media, latch, port, now, self._agent_hangup
            )
            call.codec, call.ptime_ms = answer.codec, answer.ptime_ms
            if answer.on_hold:
                call.on_hold_since = now
            host = self._rtp_bind_host(answer.remote_address)
            rtp_sock: socket.socket | None = None
            try:
                # bound here, not by create_datagram_endpoint(local_addr=...), which would
                # resolve the address in the thread pool and put a thread hop in call setup
                rtp_sock = _bound_udp(host, port)
                rtcp_sock = _bound_udp(host, port + 1)
            except OSError:  # taken by someone else: put it back at the end, try another
                if rtp_sock is not None:
                    rtp_sock.close()
                call.finish()
                self.ports.release(port)
                continue
            rtp, _ = await loop.create_datagram_endpoint(
                functools.partial(RtpProtocol, call), sock=rtp_sock
            )
            call.rtp = rtp
            rtcp, _ = await loop.create_datagram_endpoint(
                functools.partial(RtcpProtocol, call), sock=rtcp_sock
            )
            call.rtcp = rtcp
            server_call.dialog.extra["answer_sdp"] = answer.sdp
            return call
        raise PortsExhausted("no bindable RTP port found")

    def _rtp_bind_host(self, remote_host: str) -> str:
        host = self.settings.sip_host
        if host in ("0.0.0.0", "::", ""):
            return "::" if ":" in remote_host else "0.0.0.0"
        return host

    def _check_media(self, offer: SessionDescription) -> None:
        """Refuse (488) an offer we cannot answer. Any `c=` address is fine: one that is
        not the PBX's gets symmetric RTP (`RtpLatch`), never RTP of ours."""
        negotiate(offer, self._local_media(0))

    def _local_media(self, port: int) -> LocalMedia:
        settings = self.settings
        return LocalMedia(address=settings.advertised_ip, port=port, codecs=tuple(settings.codecs))

    def _unavailable(self, reason: str) -> Reject:
        return Reject(503, reason, (("Retry-After", str(self.settings.retry_after)),))

    def _refuse(self, server_call: ServerCall, record: CallRecord, decision: Reject) -> None:
        ua, loop = self.ua, self._loop
        assert ua is not None and loop is not None
        record.extra.update(refusal_owner(decision))  # a known number's org sees it refused
        if ua.reject(server_call, decision.status, loop.time(), headers=decision.headers):
            self.stats.rejected += 1
            self._records.pop(record.call_id, None)
            self._close_record(record, "rejected", decision.reason, decision.status)
        self._process()

    async def _run_responder(self, call: EdgeCall) -> None:
        try:
            await self.responder(call.audio, call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("responder of call %s failed", call.call_id)
            self._agent_hangup(call, "responder-error")

    def transfer(self, call: EdgeCall, target: str) -> asyncio.Future[int]:
        """Blind-transfer the caller to `target` (a PBX extension or number) with REFER.

        The future resolves with the transfer's final status: 200 when the PBX reports
        the new call answered (our leg is then ended with BYE, reason `transferred`),
        else the failure status (0 when the PBX said nothing we could read). At most one
        transfer runs per call.
        """
        ua, loop = self.ua, self._loop
        assert ua is not None and loop is not None
        future: asyncio.Future[int] = loop.create_future()
        if call.finished or call.transfer is not None:
            future.set_result(491 if call.transfer is not None else 481)
            return future
        host = SipUri.parse(call.server_call.dialog.remote_target).host
        peer_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        target_uri = f"sip:{target}@{peer_host}"
        referred_by = f"sip:{call.facts.called or 'frontdesk'}@{self.settings.advertised_ip}"
        if not ua.refer(call.server_call, target_uri, loop.time(), referred_by=referred_by):
            future.set_result(481)
            return future
        call.transfer = future
        self._process()
        return future

    def _transfer_done(self, server_call: ServerCall, status: int) -> None:
        call = self.calls.get(server_call.call_id)
        if call is None or call.transfer is None or call.transfer.done():
            return
        call.transfer.set_result(status)
        call.transfer = None
        if 200 <= status < 300:
            self._agent_hangup(call, "transferred")

    def _agent_hangup(self, call: EdgeCall, reason: str) -> None:
        ua, loop = self.ua, self._loop
        if ua is not None and loop is not None and not call.finished:
            ua.hangup(call.server_call, loop.time(), reason=reason)
            self._process()

    # ------------------------------------------------------------------ in-call
    def _modify(self, server_call: ServerCall, body: bytes) -> None:
        ua, loop = self.ua, self._loop
        assert ua is not None and loop is not None
        call = self.calls.get(server_call.call_id)
        now = loop.time()
        if call is None:
            ua.reject_modify(server_call, 481, now)
            return
        try:
            offer = SessionDescription.parse(body)
            answer = negotiate(offer, self._local_media(call.port))
        except SdpError as exc:
            ua.reject_modify(server_call, exc.status, now)
            return
        if answer.on_hold:
            if call.on_hold_since is None:
                call.on_hold_since = now
        else:
            call.on_hold_since = None
        call.latch.reoffered(answer.remote_address, answer.remote_port)
        ua.accept_modify(server_call, answer.sdp, now)

    def _end(self, server_call: ServerCall, reason: str) -> None:
        call = self.calls.pop(server_call.call_id, None)
        record = self._records.pop(server_call.call_id, None)
        if call is None:
            if record is not None:  # ended (BYE) during setup: setup will release
                self._close_record(record, "cancelled", reason, 487)
            return
        if reason == "media-timeout":
            self.stats.media_timeouts += 1
        self._release_media(call)
        if record is not None:
            record.rx_packets = call.media.rx_packets
            record.tx_packets = call.media.tx_packets
            record.dtmf = "".join(call.dtmf)
            record.transcript = list(call.transcript)
            loop_now = self._loop.time() if self._loop is not None else 0.0
            record.extra.update(
                codec=call.codec,
                ptime_ms=call.ptime_ms,
                lost=call.media.lost,
                rtp_rejected=call.rtp_rejected,
                rtp_latch_moves=call.latch.moves,
                silence_s=loop_now - call.media.last_rx_time,
                duration_s=loop_now - call.answered_at,
            )
            self._close_record(record, "answered", reason, 200)
        self._releases.spawn(self.decider.release(call.facts, reason), name="release")

    def _release_media(self, call: EdgeCall) -> None:
        if call.finish():
            self.ports.release(call.port)
            self.stats.rtp_rejected += call.rtp_rejected
            self.stats.rtp_latched += call.latch.latching

    def _close_record(self, record: CallRecord, outcome: str, reason: str, status: int) -> None:
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

    # ------------------------------------------------------------------ media clock
    async def _media_clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = math.ceil(loop.time() / MEDIA_TICK) * MEDIA_TICK  # on the slot grid
        next_sweep = next_tick + WATCHDOG_EVERY
        due = self._media_due
        while True:
            next_tick += MEDIA_TICK
            delay = next_tick - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # we fell behind: do not try to catch up tick by tick
                next_tick = loop.time()
                await asyncio.sleep(0)
            now = loop.time()
            started = time.perf_counter()
            late = now - next_tick
            self.tick_late_ms.append(late * 1000)
            self._note_lag(late)
            for call in due.pop_due(now):
                if call.finished:
                    continue
                try:
                    call.tick(now)
                except Exception:
                    self.stats.internal_errors += 1
                    log.exception("media tick of call %s failed", call.call_id)
                due.add(call, call.media.next_deadline())
            self.tick_work_ms.append((time.perf_counter() - started) * 1000)
            if now >= next_sweep:
                next_sweep = now + WATCHDOG_EVERY
                self._sweep(now)

    def _note_lag(self, late: float) -> None:
        """Shed new calls while the loop runs late: live calls' media comes first.

        The lag estimate is a moving average over ~10 ticks, so one late tick (a burst,
        a collection) does not refuse calls the node can carry, while sustained lateness
        answers new INVITEs 503 + Retry-After instead of queueing them until every call
        in the queue times out (measured without it: 1,500 calls/s offered collapsed to
        412/s answered with 5,276 failures).
        """
        self._lag = 0.9 * self._lag + 0.1 * late
        ua = self.ua
        if ua is not None:
            ua.shedding = self._lag > OVERLOAD_LAG

    def _sweep(self, now: float) -> None:
        ua = self.ua
        if ua is None:
            return
        for call in list(self.calls.values()):
            if call.server_call.state is CallState.ENDED:
                continue
            reason = expired(
                now,
                answered_at=call.answered_at,
                last_rx=call.media.last_rx_time or call.answered_at,
                on_hold_since=call.on_hold_since,
                limits=self.limits,
            )
            if reason is not None:
                ua.hangup(call.server_call, now, reason=reason)
        self._process()

    # ------------------------------------------------------------------ views
    def record(self, call_id: str) -> CallRecord | None:
        for record in reversed(self.history):
            if record.call_id == call_id:
                return record
        return self._records.get(call_id)
