"""One live call at the edge: its SIP side, its media's handle, audio and tasks.

Owns: the call's `RemoteMedia` (its RTP is carried by a media worker process: see
`frontdesk.edge.media_pool`), the `CallAudio` handed to the responder/agent (frames and
keys from the worker feed it; what it plays goes to the worker), the responder task, and
the rule that the call is finished exactly once (`finish`), whatever ends it. It is the
edge's `MediaCallHandle` (frontdesk.calls.handle): what the agent host and tools see.
Must not: speak SIP itself (hang-ups and transfers go to the server, which owns the user
agent, through the two callables it is given), or touch RTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from frontdesk.calls.audio import CallAudio
from frontdesk.calls.decision import Admitted, InviteFacts
from frontdesk.calls.record import TranscriptLine
from frontdesk.edge.media_pool import RemoteMedia

if TYPE_CHECKING:
    from frontdesk.sip.useragent import ServerCall

log = logging.getLogger(__name__)

Addr = tuple[str, int]
Hangup = Callable[["EdgeCall", str], None]
Transfer = Callable[["EdgeCall", str], "asyncio.Future[int]"]


class EdgeCall:
    def __init__(
        self,
        server_call: ServerCall,
        facts: InviteFacts,
        admitted: Admitted,
        media: RemoteMedia,
        port: int,
        now: float,
        on_hangup: Hangup,
        on_transfer: Transfer,
    ) -> None:
        self.server_call = server_call
        self.facts = facts
        self.admitted = admitted
        self.media = media  # carried by a media worker; counters as it last reported
        self.port = port
        self.answered_at = now
        self.on_hold_since: float | None = None
        self.codec = ""
        self.ptime_ms = 0
        self._on_hangup = on_hangup
        self._on_transfer = on_transfer
        self.audio = CallAudio(media, self.hangup)
        self.responder: asyncio.Task[Any] | None = None
        self.dtmf: list[str] = []
        self.finished = False
        self.confirmed = False
        # what the agent and the caller said, in order: stored on the session row at the end
        self.transcript: list[TranscriptLine] = []
        # a blind transfer in progress: resolved with the final status (200 = transferred)
        self.transfer_pending: asyncio.Future[int] | None = None
        # set when the call is recorded (by its media worker): the file's relative path
        self.recording_path: str | None = None
        media.on_frame = self.audio.feed_frame
        media.on_key = self.key_pressed

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
        return self.recording_path is not None

    # -- media ----------------------------------------------------------------------
    @property
    def rtp_rejected(self) -> int:
        """RTP datagrams from sources the call's latch refused (as last reported)."""
        return self.media.state.rtp_rejected

    @property
    def remote(self) -> Addr | None:
        """Where our RTP goes now (None: waiting for the PBX's first packet)."""
        return self.media.remote

    def key_pressed(self, key: str) -> None:
        """A DTMF key, from RFC 4733 telephone-events or a SIP INFO."""
        if not self.finished:
            self.dtmf.append(key)
            self.audio.feed_dtmf(key)

    # -- the end ----------------------------------------------------------------------
    def finish(self) -> bool:
        """Close the media and audio, cancel the responder. True only the first time."""
        if self.finished:
            return False
        self.finished = True
        self.audio.close()
        self.media.close()
        pending = self.transfer_pending
        if pending is not None and not pending.done():
            pending.set_result(487)  # the call ended before the transfer did
        if self.responder is not None and not self.responder.done():
            self.responder.cancel()
        return True
