"""A media worker process: the RTP of its share of the node's calls, on a core of its own.

    python -m frontdesk.edge.media_worker --fd N     (started by `MediaPool`, never by hand)

Owns: for every call the edge gives it (OPEN, with the call's RTP and RTCP sockets), the
whole media path: receiving RTP and RTCP (only from the source the call's `RtpLatch`
accepts: symmetric RTP), the `MediaSession` (jitter buffer, G.711/G.722, resampling,
DTMF, the absolute send schedule), pacing our RTP with one 5 ms media clock for all its
calls, and the call's recording (a `RecordingWriter` thread of this process). The caller's
audio goes back to the edge one frame per message as the jitter buffer plays it out;
the edge sends the agent's speech (AUDIO, PROMPT, CLEAR) the other way.

Why a process: with SIP and every call's RTP on one event loop, the RTP send interval
jittered by tens of milliseconds at 500 calls, and call setup waited behind media ticks
(docs/benchmarks.md). Here the media clock shares its loop with nothing but RTP.

Must not: speak SIP, decide anything about a call (the edge ends calls; the worker only
reports `silent_s`, and the edge's watchdog decides), or outlive the edge: when the
control socket closes, the worker closes its calls, finishes their recordings and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import logging
import math
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from frontdesk.calls.media_schedule import SlotSchedule
from frontdesk.calls.rtp_latch import RtpLatch
from frontdesk.edge.allowlist import Allowlist
from frontdesk.edge.media_channel import ControlChannel
from frontdesk.errors import MediaError
from frontdesk.media.control import (
    CallState,
    ClockReport,
    Kind,
    OpenCall,
    WorkerSettings,
    pack_state,
)
from frontdesk.media.prompt import Prompt
from frontdesk.media.session import MediaSession
from frontdesk.media.wire import HEADER, Message

if TYPE_CHECKING:
    from frontdesk.recordings.writer import CallRecording, RecordingWriter

log = logging.getLogger(__name__)

# A call with 20 ms packets is due every fourth tick, so each tick sends a quarter of the
# calls' packets: the later ones in a tick wait less behind the earlier (measured at 250
# calls: |Δt − 20 ms| p99 13.4 ms with 10 ms ticks, 6.8 ms with 5 ms ones)
MEDIA_TICK = 0.005
STATES_EVERY = 0.1  # every call's counters to the edge (its watchdog reads `silent_s`)
CLOCK_EVERY = 0.25  # the media clock's lag and tick samples to the edge
_RTP_READ = 2048
#: the worker's one clock for media times. Not the loop's: uvloop's `loop.time()` is
#: cached once per loop turn in whole milliseconds, so a tick after a burst of RTP
#: callbacks would read a stale time, find its packet not yet due, and send two at the
#: next tick (measured: |Δt − 20 ms| spikes of exactly 20 ms at 100 calls).
clock = time.monotonic
_REALTIME_PRIORITY = 10  # SCHED_RR, low among realtime priorities (the kernel's own are 50+)


class WorkerCall:
    """One call's media in this worker."""

    __slots__ = (
        "closed",
        "codec",
        "latch",
        "media",
        "recording",
        "rtcp",
        "rtcp_packets",
        "rtp",
        "rtp_rejected",
        "sent_remote",
        "slot",
        "started",
    )

    def __init__(
        self,
        slot: int,
        media: MediaSession,
        latch: RtpLatch,
        rtp: socket.socket,
        rtcp: socket.socket,
        codec: str,
        now: float,
    ) -> None:
        self.slot = slot
        self.codec = codec
        self.media = media
        self.latch = latch
        self.rtp = rtp
        self.rtcp = rtcp
        self.recording: CallRecording | None = None  # RECORD opens it
        self.rtp_rejected = 0
        self.rtcp_packets = 0
        self.sent_remote: tuple[str, int] | None = latch.remote
        self.closed = False
        self.started = now

    def state(self, now: float) -> bytes:
        """The call's counters, packed as a `CallState` (without building one)."""
        media, latch = self.media, self.latch
        return pack_state(
            self.slot,
            media.rx_packets,
            media.tx_packets,
            media.lost,
            self.rtp_rejected,
            self.rtcp_packets,
            latch.moves,
            latch.latching,
            latch.learning,
            max(0.0, now - media.last_rx_time),
        )


class MediaWorker:
    def __init__(self, settings: WorkerSettings, control: socket.socket) -> None:
        self.settings = settings
        self.allowlist = Allowlist(
            ipaddress.ip_network(network, strict=False) for network in settings.pbx_networks
        )
        self.calls: dict[int, WorkerCall] = {}
        self.prompts: dict[int, Prompt] = {}
        self.channel = ControlChannel(control, self._on_message, self._on_lost)
        self._due: SlotSchedule[WorkerCall] = SlotSchedule(MEDIA_TICK)
        self._recordings: RecordingWriter | None = None
        self._lost = asyncio.Event()
        self._has_calls = asyncio.Event()
        self._late: list[float] = []
        self._work: list[float] = []
        self._lag = 0.0
        self.send_errors = 0

    async def run(self) -> None:
        self.channel.start()
        self.channel.send(Kind.READY, 0, f'{{"pid":{os.getpid()}}}'.encode())
        gc.collect()
        gc.freeze()  # what start-up made lives for the whole process
        ticking = asyncio.create_task(self._clock(), name="media clock")
        try:
            await self._lost.wait()
        finally:
            ticking.cancel()
            for call in list(self.calls.values()):
                self._close(call, clock())
            if self._recordings is not None:
                await asyncio.to_thread(self._recordings.stop)

    # -- the media clock ----------------------------------------------------------------
    async def _clock(self) -> None:
        next_tick = math.ceil(clock() / MEDIA_TICK) * MEDIA_TICK  # on the slot grid
        next_states = next_tick + STATES_EVERY
        next_report = next_tick + CLOCK_EVERY
        due = self._due
        send = self.channel.send
        while True:
            if not self.calls:  # idle: no ticks until a call comes (OPEN sets it)
                self._lag = 0.0
                send(Kind.CLOCK, 0, ClockReport(0.0, (), ()).pack())
                self.channel.flush()
                self._has_calls.clear()
                await self._has_calls.wait()
                next_tick = math.ceil(clock() / MEDIA_TICK) * MEDIA_TICK
            next_tick += MEDIA_TICK
            delay = next_tick - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            else:  # we fell behind: do not try to catch up tick by tick
                next_tick = clock()
                await asyncio.sleep(0)
            now = clock()
            started = time.perf_counter()
            late = now - next_tick
            self._lag = 0.9 * self._lag + 0.1 * late
            for call in due.pop_due(now):
                if call.closed:
                    continue
                try:
                    self._tick(call, now)
                except Exception:
                    log.exception("media tick of call slot %d failed", call.slot)
                due.add(call, call.media.next_deadline())
            if now >= next_states:
                next_states = now + STATES_EVERY
                states = b"".join([c.state(now) for c in self.calls.values()])
                if states:
                    send(Kind.STATES, 0, states)
            self.channel.flush()  # this tick's frames leave now, not after other callbacks
            self._late.append(late * 1000)
            self._work.append((time.perf_counter() - started) * 1000)
            if now >= next_report:
                next_report = now + CLOCK_EVERY
                report = ClockReport(self._lag, tuple(self._late), tuple(self._work))
                self._late, self._work = [], []
                send(Kind.CLOCK, 0, report.pack())

    def _tick(self, call: WorkerCall, now: float) -> None:
        media, recording = call.media, call.recording
        remote = call.latch.remote
        if remote is not None:  # latching and no RTP yet: send nothing, keep the greeting
            packets = media.tick(now)
            sendto = call.rtp.sendto
            for packet in packets:
                try:
                    sendto(packet, remote)
                except OSError:  # a full socket buffer or an unreachable peer: RTP is lossy
                    self.send_errors += 1
            if recording is not None:
                recording.agent_sent(now, packets)
        frames = media.pull_audio(now)
        if frames:
            send, slot = self.channel.send, call.slot
            for frame in frames:
                send(Kind.FRAMES, slot, frame)
            if recording is not None:
                recording.caller_heard(now, frames)

    # -- RTP in ---------------------------------------------------------------------------
    def _rtp_readable(self, call: WorkerCall) -> None:
        """One datagram per readiness callback: the loop polls level-triggered, so more
        waiting means another callback, and no call's port can starve the others."""
        try:
            data, addr = call.rtp.recvfrom(_RTP_READ)
        except OSError:  # nothing after all, or an ICMP error queued on the socket
            return
        latch = call.latch
        if call.closed or not latch.accept(addr[0], addr[1]):
            call.rtp_rejected += 1
            return
        digits = call.media.receive(data, clock())
        for digit in digits:
            self.channel.send(Kind.DTMF, call.slot, digit.digit.encode())
        if latch.remote != call.sent_remote:
            self._send_remote(call)

    def _rtcp_readable(self, call: WorkerCall) -> None:
        try:
            _data, addr = call.rtcp.recvfrom(_RTP_READ)
        except OSError:
            return
        if not call.closed and call.latch.accepts_rtcp_from(addr[0]):
            call.rtcp_packets += 1

    def _send_remote(self, call: WorkerCall) -> None:
        call.sent_remote = remote = call.latch.remote
        value = b"null" if remote is None else f'["{remote[0]}",{remote[1]}]'.encode()
        self.channel.send(Kind.REMOTE, call.slot, value)

    # -- the edge's messages ------------------------------------------------------------
    def _on_message(self, message: Message[Kind]) -> None:
        kind, slot = message.kind, message.slot
        if kind is Kind.OPEN:
            self._open(slot, OpenCall.from_json(message.payload))
            return
        if kind is Kind.PROMPT_DEFINE:
            self.prompts[slot] = Prompt(message.payload)
            return
        call = self.calls.get(slot)
        if call is None:
            return
        if kind is Kind.AUDIO:
            call.media.push_audio(message.payload)
        elif kind is Kind.PROMPT:
            (number,) = struct.unpack("!I", message.payload)
            prompt = self.prompts.get(number)
            if prompt is not None:
                call.media.play_prompt(prompt)
        elif kind is Kind.CLEAR:
            call.media.clear_audio()
        elif kind is Kind.REOFFER:
            host, port = message.json()
            call.latch.reoffered(str(host), int(port))
            if call.latch.remote != call.sent_remote:
                self._send_remote(call)
        elif kind is Kind.RECORD:
            org_id, session_id = message.json()
            if call.recording is None:
                now = clock()
                call.recording = self._recorder().open(org_id, session_id, call.codec, now)
        elif kind is Kind.CLOSE:
            self._close(call, clock())

    def _open(self, slot: int, spec: OpenCall) -> None:
        loop = asyncio.get_running_loop()
        rtp, rtcp = self.channel.take_socket(), self.channel.take_socket()
        now = clock()
        try:
            media = MediaSession(
                codec=spec.codec,
                payload_type=spec.payload_type,
                telephone_event_pt=spec.telephone_event_pt,
                ptime_ms=spec.ptime_ms,
                now=now,
            )
        except MediaError as exc:  # the edge negotiated it, so this is a bug: end the media
            log.error("call slot %d: cannot carry its media: %s", slot, exc)
            rtp.close()
            rtcp.close()
            self.channel.send(Kind.CLOSED, slot, CallState(slot).pack())
            return
        latch = RtpLatch.for_offer(spec.remote_host, spec.remote_port, self.allowlist.allows)
        call = WorkerCall(slot, media, latch, rtp, rtcp, spec.codec, now)
        self.calls[slot] = call
        loop.add_reader(rtp.fileno(), self._rtp_readable, call)
        loop.add_reader(rtcp.fileno(), self._rtcp_readable, call)
        self._due.add(call, media.next_deadline())
        self._has_calls.set()

    def _recorder(self) -> RecordingWriter:
        if self._recordings is None:
            from frontdesk.recordings.writer import RecordingWriter  # only if a call is recorded

            self._recordings = RecordingWriter(Path(self.settings.recordings_path))
            self._recordings.start()
        return self._recordings

    def _close(self, call: WorkerCall, now: float) -> None:
        if call.closed:
            return
        call.closed = True
        self.calls.pop(call.slot, None)
        loop = asyncio.get_running_loop()
        for sock in (call.rtp, call.rtcp):
            loop.remove_reader(sock.fileno())
            sock.close()
        if call.recording is not None:
            call.recording.close()
        self.channel.send(Kind.CLOSED, call.slot, call.state(now))

    def _on_lost(self) -> None:
        self._lost.set()


def _realtime() -> None:
    """Ask for SCHED_RR for this (the media clock's) thread; normal priority if refused.

    Threads started later inherit it: the recording writer puts itself back to normal.
    The kernel keeps 5 % of every second for normal tasks (sched_rt_runtime_us), and a
    worker that cannot keep up sheds new calls (`MediaWatch`) long before it would spin.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(_REALTIME_PRIORITY))
    except OSError as exc:  # no CAP_SYS_NICE (a container, a normal user)
        log.info("media worker runs at normal priority (realtime refused: %s)", exc.strerror)
    else:
        log.info("media worker runs with realtime priority (SCHED_RR %d)", _REALTIME_PRIORITY)


def _read_hello(control: socket.socket) -> WorkerSettings:
    """The first message, read on its own: the node's settings."""

    def exactly(size: int) -> bytes:
        data = control.recv(size, socket.MSG_WAITALL)
        if len(data) != size:
            raise SystemExit("media worker: the edge closed the control socket")
        return data

    length, kind, _slot = HEADER.unpack(exactly(HEADER.size))
    if kind != Kind.HELLO:
        raise SystemExit(f"media worker: expected HELLO, got kind {kind}")
    return WorkerSettings.from_json(exactly(length - 5))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="frontdesk media worker (started by the edge)")
    parser.add_argument("--fd", type=int, required=True, help="the control socket's descriptor")
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal, or a service manager's SIGTERM to the whole group, must not
    # end the media before the edge has said BYE to its calls: the edge stops gracefully,
    # then closes the control socket, and that is what ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    control = socket.socket(fileno=args.fd)
    settings = _read_hello(control)
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s media-worker %(message)s"
    )
    if settings.realtime:
        _realtime()
    # the recording thread's Python parts (decoding, aligning) hold the GIL; a waiting
    # media clock gets it back within 1 ms instead of the default 5 ms
    sys.setswitchinterval(0.001)
    worker = MediaWorker(settings, control)
    run: Callable[[Any], Any] = asyncio.run
    if settings.use_uvloop:
        import uvloop

        run = uvloop.run
    run(worker.run())


if __name__ == "__main__":
    main()
