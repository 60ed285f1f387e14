"""The SIP edge of one node: the only place with SIP/RTP sockets and the SIP timer.

Owns: wiring the edge's parts together and the call's way through them, and the
one mapping from decisions and failures to SIP answers:

    edge/sip_transport.py  SIP in and out (UDP, TCP), the allowlist gate, the user agent
    edge/call_setup.py     the offer checked, the call's RTP ports bound, the answer SDP
    edge/media_pool.py     the media worker processes that carry every call's RTP
                           (edge/media_worker.py), and each call's `RemoteMedia`
    edge/media_watch.py    the RTP watchdog, load shedding
    edge/teardown.py       records closed once, media freed, slots released once

Here: a new INVITE's setup (offer → decider → media → 200 OK), refusals, in-call
re-INVITEs, transfers (REFER), hang-ups asked for by the responder/agent, and graceful
stop.

Must not: decide who may call (the `CallDecider` does) or talk to the caller (the
responder/agent does, through `CallAudio`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable

from frontdesk.calls.decision import (
    CallDecider,
    RefusalReason,
    Refused,
    invite_facts,
)
from frontdesk.calls.handle import MediaCallHandle
from frontdesk.calls.record import CallRecord
from frontdesk.calls.responder import greeting_prompt, run_echo_responder
from frontdesk.calls.rtp_ports import RtpPortPool
from frontdesk.calls.watchdog import WatchdogLimits
from frontdesk.config import Settings
from frontdesk.edge.allowlist import Allowlist
from frontdesk.edge.answers import AnswerPolicy, sip_answer
from frontdesk.edge.call import EdgeCall
from frontdesk.edge.call_setup import CallSetup
from frontdesk.edge.media_pool import MediaPool, RemoteMedia
from frontdesk.edge.media_watch import MediaWatch
from frontdesk.edge.sip_stream import StreamConnections
from frontdesk.edge.sip_transport import SipTransport
from frontdesk.edge.stats import EdgeStats
from frontdesk.edge.teardown import Teardown
from frontdesk.errors import PortsExhausted, SdpError
from frontdesk.recordings.writer import relative_path
from frontdesk.sip.headers import SipUri
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
    UserAgent,
)
from frontdesk.tasks import TaskOwner

log = logging.getLogger(__name__)

Addr = tuple[str, int]
#: what talks to an answered caller until the call ends: the agent host, or the echo
Responder = Callable[[MediaCallHandle], Awaitable[None]]

__all__ = ["EdgeServer", "EdgeStats", "Responder"]


async def _echo(call: MediaCallHandle) -> None:
    await run_echo_responder(call.audio, greeting_prompt())


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
        recordings: bool = False,
    ) -> None:
        self.settings = settings
        # whether calls whose number says so are recorded (under settings.recordings_path)
        self.recordings = recordings
        self.decider = decider
        self.answers = AnswerPolicy.from_settings(settings)
        self.on_setup = on_setup  # seconds from INVITE to 200 OK, per answered call
        self.timers = timers or TimerValues()
        self.responder = responder or _echo
        self.stats = EdgeStats()
        self.ports = RtpPortPool(*settings.rtp_port_range)
        self.calls: dict[str, EdgeCall] = {}  # by Call-ID, answered and live
        self.sip = SipTransport(settings, self.timers, self.stats, self._on_event)
        self.media = MediaPool(settings, self._media_lost)
        self.setup = CallSetup(settings, self.sip.allowlist, self.ports, self.media)
        self.watch = MediaWatch(
            self.sip,
            self.calls,
            WatchdogLimits(
                settings.media_timeout, settings.hold_timeout, settings.max_call_duration
            ),
            self.media,
        )
        self.teardown = Teardown(decider, self.ports, self.stats, on_record)
        self._setups = TaskOwner("call setup")
        self._call_tasks = TaskOwner("call responders")
        self._background = TaskOwner("edge background")
        self._draining = False

    # ------------------------------------------------------------------ views
    @property
    def ua(self) -> UserAgent | None:
        return self.sip.ua

    @property
    def sip_address(self) -> Addr | None:
        return self.sip.sip_address

    @property
    def allowlist(self) -> Allowlist:
        return self.sip.allowlist

    @property
    def streams(self) -> StreamConnections:
        return self.sip.streams

    @property
    def history(self) -> deque[CallRecord]:
        return self.teardown.history

    @property
    def attempts(self) -> Counter[tuple[str, str]]:
        return self.teardown.attempts

    @property
    def tick_late_ms(self) -> deque[float]:
        """How late the media workers' ticks started (the last ~10 minutes)."""
        return self.media.tick_late_ms

    @property
    def tick_work_ms(self) -> deque[float]:
        """How long the media workers' ticks worked."""
        return self.media.tick_work_ms

    def record(self, call_id: str) -> CallRecord | None:
        return self.teardown.record(call_id)

    async def settled(self, wait_s: float = 5.0) -> None:
        """Until the calls that have ended have their records closed and slots released
        (each waits for its media worker's last counters: a round trip, not at once)."""
        await self.teardown.settled(wait_s)

    # ------------------------------------------------------------------ life cycle
    async def start(self, media_ready_s: float = 30.0) -> None:
        """Start the media workers, wait (up to `media_ready_s`) until they run, listen."""
        await self.media.start(media_ready_s)
        address = await self.sip.start()
        for codec in ("PCMU", "PCMA"):  # prepare the greeting before the first call needs it
            for ptime in (20, 30):
                greeting_prompt().payloads(codec, ptime)
                greeting_prompt().pcm_frames(ptime)  # for G.722 calls
        # Objects made at start-up live for the whole process: moving them out of the
        # collector's sight keeps a full collection from stalling the loop for tens of ms
        # while calls are being set up (measured: a 25 ms stall at 200 calls/s without it).
        gc.collect()
        gc.freeze()
        self._background.spawn(self.watch.run(), name="media watch")
        log.info("SIP edge listening on %s:%s (udp)", *address)

    async def stop(self, grace: float = 1.0) -> None:
        """Stop admitting, end every call with BYE, then close everything."""
        self._draining = True
        ua = self.ua
        loop = asyncio.get_running_loop()
        if ua is not None:
            for call in list(self.calls.values()):
                ua.hangup(call.server_call, loop.time(), reason="shutdown")
            self.sip.process()
        await self._setups.close()
        if ua is not None and grace > 0:  # let BYEs be answered or retransmitted a little
            deadline = loop.time() + grace
            while ua.pending_requests and loop.time() < deadline:  # noqa: ASYNC110 (polls the core)
                await asyncio.sleep(0.05)
        await self._call_tasks.close()
        await self.teardown.close(wait_s=5.0)  # every ended call's slot is freed
        await self._background.close()
        await self.media.stop()
        await self.sip.close()
        gc.unfreeze()

    # ------------------------------------------------------------------ SIP events
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
                self.teardown.cancelled(server_call.call_id)
            case CallEnded(call=server_call, reason=reason):
                call = self.calls.pop(server_call.call_id, None)
                now = asyncio.get_running_loop().time()
                self.teardown.end(server_call.call_id, call, reason, now)
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
            case InviteRefused(request=request, source=source, status=status):
                # answered by the SIP core before any decision: shed (503) or a protocol
                # error; recorded with the status that went out
                self.stats.rejected += 1
                facts = invite_facts(request, source)
                record = CallRecord(
                    facts.call_id, facts.called, facts.caller, "", "", 0, time.time()
                )
                why = RefusalReason.OVERLOAD if status == 503 else RefusalReason.BAD_INVITE
                self.teardown.close_record(record, "rejected", why, status)

    # ------------------------------------------------------------------ call setup
    async def _setup(self, server_call: ServerCall) -> None:
        ua = self.ua
        loop = asyncio.get_running_loop()
        assert ua is not None
        setup_started = time.perf_counter()
        facts = invite_facts(server_call.invite, server_call.source)
        record = self.teardown.open_record(facts)
        # 1. what the offer allows: a call we cannot carry is refused before admission
        try:
            _, negotiated = self.setup.check_offer(server_call.invite.body)
        except SdpError as exc:
            log.info("call %s: offer refused: %s", facts.call_id, exc)
            bad = RefusalReason.BAD_SDP if exc.status == 400 else RefusalReason.UNACCEPTABLE_MEDIA
            self._refuse(server_call, record, Refused(bad))
            return
        if self._draining:
            self._refuse(server_call, record, Refused(RefusalReason.SHUTTING_DOWN))
            return
        # 2. routing and admission
        try:
            decision = await self.decider.decide(facts)
        except Exception:
            log.exception("decider failed for call %s", facts.call_id)
            decision = Refused(RefusalReason.DECIDER_ERROR)
        if isinstance(decision, Refused):
            self._refuse(server_call, record, decision)
            return
        record.greeting = decision.greeting
        record.owner = decision.owner  # what the session row links to
        record.session_id = decision.session_id
        # 3. the call's media, and the answer
        try:
            call, answer_sdp = self.setup.open_media(
                server_call,
                facts,
                decision,
                negotiated,
                loop.time(),
                self._agent_hangup,
                self.transfer,
            )
        except PortsExhausted:
            refusal = Refused(RefusalReason.RTP_PORTS_EXHAUSTED, decision.owner)
            self._refuse(server_call, record, refusal)
            await self.decider.release(facts, RefusalReason.RTP_PORTS_EXHAUSTED)
            return
        now = loop.time()
        if not ua.answer(server_call, answer_sdp, now):  # cancelled (or BYE) meanwhile
            self.teardown.release_media(call)
            await self.decider.release(facts, "cancelled")
            self.sip.process()
            return
        call.answered_at = now
        self._start_recording(call)
        if self.on_setup is not None:
            self.on_setup(time.perf_counter() - setup_started)
        self.calls[facts.call_id] = call
        server_call.app = call
        record.outcome = "answered"
        record.status = 200
        record.answered_at = time.time()
        self.stats.answered += 1
        call.responder = self._call_tasks.spawn(
            self._run_responder(call), name=f"responder {facts.call_id}"
        )
        self.sip.process()

    def _start_recording(self, call: EdgeCall) -> None:
        """Record the call when its number's config says so (and admission opened a row)."""
        route, session_id = call.admitted.route, call.admitted.session_id
        if not self.recordings or route is None or session_id is None:
            return
        if route.config.record_calls:
            org_id = str(route.entry.org_id)
            call.media.record(org_id, str(session_id))
            call.recording_path = relative_path(org_id, session_id)

    def _refuse(self, server_call: ServerCall, record: CallRecord, refusal: Refused) -> None:
        ua, loop = self.ua, asyncio.get_running_loop()
        assert ua is not None
        record.owner = refusal.owner  # a known number's org sees it refused
        answer = sip_answer(refusal.reason, self.answers)
        now = loop.time()
        if ua.reject(server_call, answer.status, now, answer.phrase, answer.headers):
            self.stats.rejected += 1
            self.teardown.pending.pop(record.call_id, None)
            self.teardown.close_record(record, "rejected", refusal.reason, answer.status)
        self.sip.process()

    async def _run_responder(self, call: EdgeCall) -> None:
        try:
            await self.responder(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("responder of call %s failed", call.call_id)
            self._agent_hangup(call, "responder-error")

    # ------------------------------------------------------------------ in-call
    def transfer(self, call: EdgeCall, target: str) -> asyncio.Future[int]:
        """Blind-transfer the caller to `target` (a PBX extension or number) with REFER.

        The future resolves with the transfer's final status: 200 when the PBX reports
        the new call answered (our leg is then ended with BYE, reason `transferred`),
        else the failure status (0 when the PBX said nothing we could read). At most one
        transfer runs per call.
        """
        ua, loop = self.ua, asyncio.get_running_loop()
        assert ua is not None
        future: asyncio.Future[int] = loop.create_future()
        if call.finished or call.transfer_pending is not None:
            future.set_result(491 if call.transfer_pending is not None else 481)
            return future
        host = SipUri.parse(call.server_call.dialog.remote_target).host
        peer_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        target_uri = f"sip:{target}@{peer_host}"
        referred_by = f"sip:{call.facts.called or 'frontdesk'}@{self.settings.advertised_ip}"
        if not ua.refer(call.server_call, target_uri, loop.time(), referred_by=referred_by):
            future.set_result(481)
            return future
        call.transfer_pending = future
        self.sip.process()
        return future

    def _transfer_done(self, server_call: ServerCall, status: int) -> None:
        call = self.calls.get(server_call.call_id)
        if call is None or call.transfer_pending is None or call.transfer_pending.done():
            return
        call.transfer_pending.set_result(status)
        call.transfer_pending = None
        if 200 <= status < 300:
            self._agent_hangup(call, "transferred")

    def _media_lost(self, media: RemoteMedia) -> None:
        """A media worker died: its calls cannot be heard any more, so they end."""
        for call in list(self.calls.values()):
            if call.media is media:
                self._agent_hangup(call, "media-lost")

    def _agent_hangup(self, call: EdgeCall, reason: str) -> None:
        ua = self.ua
        if ua is not None and not call.finished:
            ua.hangup(call.server_call, asyncio.get_running_loop().time(), reason=reason)
            self.sip.process()

    def _modify(self, server_call: ServerCall, body: bytes) -> None:
        ua, loop = self.ua, asyncio.get_running_loop()
        assert ua is not None
        call = self.calls.get(server_call.call_id)
        now = loop.time()
        if call is None:
            ua.reject_modify(server_call, 481, now)
            return
        try:
            _, answer = self.setup.check_offer(body, call.port)
        except SdpError as exc:
            ua.reject_modify(server_call, exc.status, now)
            return
        if answer.on_hold:
            if call.on_hold_since is None:
                call.on_hold_since = now
        else:
            call.on_hold_since = None
        call.media.reoffer(answer.remote_address, answer.remote_port)
        ua.accept_modify(server_call, answer.sdp, now)
