"""`RecordingWriter`: the node's recorded calls written to disk by one thread, never by the loop.

Owns: the recordings directory's files while calls are live. The edge's media clock hands
each recorded call's audio to its `CallRecording` (`agent_sent`: the RTP packets it just
sent, as they went out; `caller_heard`: the 16 kHz frames the jitter buffer just played
out to the agent). That costs the loop one `deque.append` per tick and call: decoding
what was sent, aligning the two channels (`StereoAligner`), Opus encoding and disk
writes all happen on the writer thread (libsndfile runs without the GIL). Each call's
queue is bounded (`max_queued_s` of audio): if the thread falls that far behind, new
audio is dropped and counted rather than growing memory or slowing the media.

Files: `<dir>/<org id>/<session id>.ogg`, Ogg Opus, 16 kHz stereo, caller left and agent
right. The file is flushed every `flush_every_s`, so whatever happens to the process
(kill -9 included) the file decodes up to about that long before the end.

Must not: block the event loop (no file or codec work in `CallRecording`'s methods),
decide which calls are recorded, or touch the database.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from pathlib import Path

import soundfile

from frontdesk.errors import RtpParseError
from frontdesk.media import g711
from frontdesk.media.g722 import G722Codec
from frontdesk.media.resample import Resampler
from frontdesk.media.rtp import RtpPacket
from frontdesk.recordings.stereo import AGENT, CALLER, StereoAligner

log = logging.getLogger(__name__)

RATE = 16000
SUFFIX = ".ogg"
MEDIA_TYPE = "audio/ogg"
_CLOSE = object()


def relative_path(org_id: str | uuid.UUID, session_id: str | uuid.UUID) -> str:
    """Where a session's recording lives, relative to the recordings directory."""
    return f"{uuid.UUID(str(org_id))}/{uuid.UUID(str(session_id))}{SUFFIX}"


class _AgentDecoder:
    """Our sent RTP packets back to 16 kHz PCM (G.711 is sent at 8 kHz, G.722 at 16)."""

    def __init__(self, codec: str) -> None:
        self._g722 = G722Codec() if codec.upper() == "G722" else None
        self._law: g711.Codec = "PCMU" if self._g722 is not None else g711.parse_codec(codec)
        self._upsample = None if self._g722 is not None else Resampler(g711.CLOCK_RATE, RATE)

    def decode(self, packet: bytes) -> bytes:
        try:
            payload = RtpPacket.parse(packet).payload
        except RtpParseError:
            return b""
        if self._g722 is not None:
            return self._g722.decode(payload)
        assert self._upsample is not None
        return self._upsample.process(g711.decode(self._law, payload))


class CallRecording:
    """One call's recording as the media clock sees it: two cheap appends and a close."""

    def __init__(self, path: Path, relative: str, codec: str, start: float, max_items: int) -> None:
        self.path = path
        self.relative_path = relative
        self.codec = codec
        self.start = start
        self._items: deque[tuple[int, float, object]] = deque()
        self._max_items = max_items
        self.dropped = 0  # chunks dropped because the writer fell behind
        self.closed = False

    # -- the media clock (event loop) ---------------------------------------------------
    def agent_sent(self, now: float, packets: list[bytes]) -> None:
        if packets and not self.closed:
            self._put((AGENT, now, packets))

    def caller_heard(self, now: float, frames: list[bytes]) -> None:
        if frames and not self.closed:
            self._put((CALLER, now, frames))

    def close(self) -> None:
        """The call ended: the writer finishes the file with what is queued."""
        if not self.closed:
            self.closed = True
            self._items.append((CALLER, 0.0, _CLOSE))

    def _put(self, item: tuple[int, float, object]) -> None:
        if len(self._items) >= self._max_items:
            self.dropped += 1
            return
        self._items.append(item)  # deque.append is atomic: the thread pops the other end

    # -- the writer thread --------------------------------------------------------------
    def drain(self) -> tuple[list[tuple[int, float, object]], bool]:
        items: list[tuple[int, float, object]] = []
        pop = self._items.popleft
        while self._items:
            item = pop()
            if item[2] is _CLOSE:
                return items, True
            items.append(item)
        return items, False


class _OpenFile:
    def __init__(self, recording: CallRecording) -> None:
        recording.path.parent.mkdir(parents=True, exist_ok=True)
        self.recording = recording
        self.file = soundfile.SoundFile(
            recording.path, "w", samplerate=RATE, channels=2, format="OGG", subtype="OPUS"
        )
        self.aligner = StereoAligner(RATE, recording.start)
        self.decoder = _AgentDecoder(recording.codec)
        self.flushed_at = time.monotonic()
        self.frames = 0


def _normal_priority() -> None:
    """Encoding and disk writes never compete with the media clock at its priority (a
    realtime media worker's threads inherit realtime): this thread goes back to normal."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            log.warning("the recording writer could not leave realtime priority")


class RecordingWriter:
    """The node's recording thread; `open` one `CallRecording` per recorded call."""

    def __init__(
        self,
        directory: Path,
        *,
        flush_every_s: float = 1.0,
        poll_s: float = 0.1,
        max_queued_s: float = 10.0,
    ) -> None:
        self.directory = directory
        self._flush_every = flush_every_s
        self._poll = poll_s
        self._max_items = max(1, round(max_queued_s / 0.01))  # at most one item per 10 ms tick
        self._new: queue.SimpleQueue[CallRecording] = queue.SimpleQueue()
        self._open: list[_OpenFile] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written_files = 0
        self.failures = 0

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="recording writer", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish every open file (calls still live are closed as they are) and stop."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def open(
        self, org_id: str | uuid.UUID, session_id: str | uuid.UUID, codec: str, start: float
    ) -> CallRecording:
        """A new recording for a call answered at `start` (media clock seconds)."""
        relative = relative_path(org_id, session_id)
        recording = CallRecording(
            self.directory / relative, relative, codec, start, self._max_items
        )
        self._new.put(recording)
        return recording

    @property
    def live(self) -> int:
        return len(self._open) + self._new.qsize()

    def _run(self) -> None:
        _normal_priority()
        while True:
            stopping = self._stop.wait(self._poll)
            while not self._new.empty():
                recording = self._new.get_nowait()
                try:
                    self._open.append(_OpenFile(recording))
                except (OSError, RuntimeError, soundfile.LibsndfileError):
                    self.failures += 1
                    recording.close()
                    log.exception("cannot create recording %s", recording.relative_path)
            for open_file in list(self._open):
                try:
                    finished = self._write(open_file, stopping)
                except Exception:  # one bad file must not stop the others' recording
                    self.failures += 1
                    log.exception("recording %s failed", open_file.recording.relative_path)
                    finished = True
                if finished:
                    self._open.remove(open_file)
                    self._finish(open_file)
            if stopping:
                return

    def _write(self, open_file: _OpenFile, stopping: bool) -> bool:
        items, closed = open_file.recording.drain()
        aligner, decoder = open_file.aligner, open_file.decoder
        for channel, now, chunks in items:
            assert isinstance(chunks, list)
            if channel == AGENT:
                aligner.feed(AGENT, now, b"".join(decoder.decode(p) for p in chunks))
            else:
                aligner.feed(CALLER, now, b"".join(chunks))
        finished = closed or stopping
        frames = aligner.take(final=finished)
        if len(frames):
            open_file.file.write(frames)
            open_file.frames += len(frames)
        clock = time.monotonic()
        if not finished and clock - open_file.flushed_at >= self._flush_every:
            open_file.file.flush()  # Ogg pages out to the file: a crash keeps what came before
            open_file.flushed_at = clock
        return finished

    def _finish(self, open_file: _OpenFile) -> None:
        try:
            open_file.file.close()
            self.written_files += 1
        except Exception:
            self.failures += 1
            log.exception("closing recording %s failed", open_file.recording.relative_path)
