"""One live call at the edge: its SIP side, RTP sockets, media engine, audio and tasks.

Owns: the call's two UDP sockets (RTP on an even port, RTCP on the next), the per-call
`MediaSession`, the `CallAudio` handed to the responder/agent, the responder task, and
the rule that the call is finished exactly once (`finish`), whatever ends it. It is the
edge's `MediaCallHandle` (frontdesk.calls.handle): what the agent host and tools see.
Must not: speak SIP itself (hang-ups and transfers go to the server, which owns the user
agent, through the two callables it is given).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frontdesk.calls.audio import CallAudio
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.record import TranscriptLine
from frontdesk.calls.rtp_latch import RtpLatch
from frontdesk.media.session import MediaSession

if TYPE_CHECKING:
    from frontdesk.recordings.writer import CallRecording
    from frontdesk.sip.useragent import ServerCall

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Hangup = Callable[["EdgeCall", str], None]
Transfer = Callable[["EdgeCall", str], "asyncio.Future[int]"]


class RtpProtocol(asyncio.DatagramProtocol):
    """RTP for one call: only the source its `RtpLatch` accepts gets in."""

    def __init__(self, call: EdgeCall) -> None:
        self._call = call

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._call.on_rtp(data, addr[0], addr[1])

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error on call %s: %s", self._call.call_id, exc)


class RtcpProtocol(RtpProtocol):
    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self._call.on_rtcp(data, addr[0], addr[1])


class EdgeCall:
    def __init__(
        self,
        server_call: ServerCall,
        facts: InviteFacts,
        admitted: Admitted,
        media: MediaSession,
        latch: RtpLatch,
        port: int,
        now: float,
        on_hangup: Hangup,
        on_transfer: Transfer,
    ) -> None:
        self.server_call = server_call
        self.facts = facts
        self.admitted = admitted
        self.media = media
        self.latch = latch  # where our RTP goes, whose RTP gets in (symmetric RTP)
        self.port = port
        self.answered_at = now
        self.on_hold_since: float | None = None
        self.codec = ""
        self.ptime_ms = 0
        self.rtp: asyncio.DatagramTransport | None = None
        self.rtcp: asyncio.DatagramTransport | None = None
        self._on_hangup = on_hangup
        self._on_transfer = on_transfer
        self.audio = CallAudio(media, self.hangup)
        self.responder: asyncio.Task[Any] | None = None
        self.rtp_rejected = 0
        self.rtcp_packets = 0
        self.dtmf: list[str] = []
        self.finished = False
        self.confirmed = False
        # what the agent and the caller said, in order: stored on the session row at the end
        self.transcript: list[TranscriptLine] = []
        # a blind transfer in progress: resolved with the final status (200 = transferred)
        self.transfer_pending: asyncio.Future[int] | None = None
        # set when the call is recorded: fed what we send and what the agent hears
        self.recording: CallRecording | None = None

    @property
    def call_id(self) -> str:
        return self.facts.call_id

    # -- MediaCallHandle ----------------------------------------------------------------
    def hangup(self, reason: str = "agent-hangup") -> None:
        if not self.finished:
            self._on_hangup(self, reason)

    async def transfer(self, target: str) -> int:
        """REFER the caller to `target`; see `EdgeServer.transfer` for the statuses."""
        return await asyncio.shield(self._on_transfer(self, target))

    def add_transcript(self, line: TranscriptLine) -> None:
        self.transcript.append(line)

    @property
    def recorded(self) -> bool:
        """Whether this call is being recorded (`RecordedCall`)."""
        return self.recording is not None

    # -- media in ---------------------------------------------------------------------
    def on_rtp(self, data: bytes, host: str, port: int) -> None:
        if self.finished or not self.latch.accept(host, port):
            self.rtp_rejected += 1
            return
        now = asyncio.get_running_loop().time()
        for digit in self.media.receive(data, now):
            self.key_pressed(digit.digit)

    def key_pressed(self, key: str) -> None:
        """A DTMF key, from RFC 4733 telephone-events or a SIP INFO."""
        if not self.finished:
            self.dtmf.append(key)
            self.audio.feed_dtmf(key)

    def on_rtcp(self, data: bytes, host: str, port: int) -> None:
        if not self.finished and self.latch.accepts_rtcp_from(host):
            self.rtcp_packets += 1

    # -- media clock ------------------------------------------------------------------
    def tick(self, now: float) -> None:
        transport = self.rtp
        if transport is None or self.finished:
            return
        remote = self.latch.remote
        recording = self.recording
        if remote is not None:  # latching and no RTP yet: send nothing, keep the greeting
            packets = self.media.tick(now)
            for packet in packets:
                transport.sendto(packet, remote)
            if recording is not None:
                recording.agent_sent(now, packets)
        frames = self.media.pull_audio(now)
        for frame in frames:
            self.audio.feed_frame(frame)
        if recording is not None:
            recording.caller_heard(now, frames)

    @property
    def remote(self) -> Addr | None:
        """Where our RTP goes now (None: waiting for the PBX's first packet)."""
        return self.latch.remote

    # -- the end ----------------------------------------------------------------------
    def finish(self) -> bool:
        """Close sockets and audio, cancel the responder. True only the first time."""
        if self.finished:
            return False
        self.finished = True
        self.audio.close()
        if self.recording is not None:
            self.recording.close()
        pending = self.transfer_pending
        if pending is not None and not pending.done():
            pending.set_result(487)  # the call ended before the transfer did
        if self.responder is not None and not self.responder.done():
            self.responder.cancel()
        for transport in (self.rtp, self.rtcp):
            if transport is not None:
                transport.close()
        return True
