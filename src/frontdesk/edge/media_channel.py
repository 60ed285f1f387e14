"""`ControlChannel`: one end of the socket between the SIP edge and a media worker.

Owns: a non-blocking Unix stream socket read and written straight from the event loop
(`add_reader`/`add_writer`): framed messages (`frontdesk.media.wire`, kinds from
`frontdesk.media.control`) both ways, and sockets passed along with a message
(SCM_RIGHTS). Writes made in one turn of the loop leave in one `send`; a peer that reads
slowly makes the queue grow rather than blocking the loop.

Why not asyncio streams: they cannot carry file descriptors, and a call's RTP sockets
are bound in the edge (so a port that is taken is found before the 200 OK, with no round
trip to the worker) and then handed to the worker that carries the call's media.

Must not: know what the messages mean (the pool and the worker do).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import logging
import socket
from collections import deque
from collections.abc import Callable

from frontdesk.media.control import Kind
from frontdesk.media.wire import HEADER, FrameError, FrameReader, Message

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 18
_FDS_PER_READ = 64  # more than any one write carries (two per OPEN)
_ANCILLARY = socket.CMSG_SPACE(_FDS_PER_READ * array.array("i").itemsize)
_IOV_MAX = 1024  # buffers per sendmsg (Linux's UIO_MAXIOV)
_SOCKET_BUFFER = 4 * 1024 * 1024  # ~0.25 s of 500 calls' frames: fewer, larger writes


class _Segment:
    """Messages that leave together; sockets handed over ride with its first byte."""

    __slots__ = ("buffers", "socks")

    def __init__(self, socks: tuple[socket.socket, ...] = ()) -> None:
        self.buffers: deque[bytes | memoryview] = deque()
        self.socks = socks


class ControlChannel:
    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[Message[Kind]], None],
        on_lost: Callable[[], None],
    ) -> None:
        sock.setblocking(False)
        for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
            with contextlib.suppress(OSError):  # capped by net.core.*mem_max; fine
                sock.setsockopt(socket.SOL_SOCKET, option, _SOCKET_BUFFER)
        self._sock = sock
        self._on_message = on_message
        self._on_lost = on_lost
        self._reader: FrameReader[Kind] = FrameReader(Kind)
        self._fds: deque[int] = deque()
        self._out: deque[_Segment] = deque()
        self._flush_scheduled = False
        self._writing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.sent_bytes = 0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._sock.fileno(), self._readable)

    # -- out ----------------------------------------------------------------------------
    def send(
        self, kind: Kind, slot: int, payload: bytes = b"", socks: tuple[socket.socket, ...] = ()
    ) -> None:
        """Queue a message (and sockets to hand over); it leaves at the end of this turn."""
        if self.closed:
            for sock in socks:
                sock.close()
            return
        if socks or not self._out:
            self._out.append(_Segment(socks))
        buffers = self._out[-1].buffers
        buffers.append(HEADER.pack(len(payload) + 5, kind, slot))
        if payload:
            buffers.append(payload)
        if not self._flush_scheduled and not self._writing and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued, as far as the socket takes it now.

        Gathered writes (`sendmsg` of up to `_IOV_MAX` buffers): nothing is copied into
        one big buffer, and a partial write costs only the bytes it wrote, so a backlog
        (the peer was slow for a moment) drains in linear time.
        """
        self._flush_scheduled = False
        out = self._out
        sock = self._sock
        while out and not self.closed:
            segment = out[0]
            buffers = segment.buffers
            if not buffers:
                out.popleft()
                continue
            batch = list(itertools.islice(buffers, _IOV_MAX))
            try:
                if segment.socks:
                    fds = array.array("i", [s.fileno() for s in segment.socks])
                    sent = sock.sendmsg(batch, [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    for handed in segment.socks:  # the worker has its own copies now
                        handed.close()
                    segment.socks = ()
                else:
                    sent = sock.sendmsg(batch)
            except (BlockingIOError, InterruptedError):
                self._want_writable(True)
                return
            except OSError as exc:
                log.warning("media control socket failed: %s", exc)
                self._lost()
                return
            self.sent_bytes += sent
            while sent:
                head = buffers[0]
                if len(head) <= sent:
                    sent -= len(head)
                    buffers.popleft()
                else:
                    buffers[0] = memoryview(head)[sent:]
                    sent = 0
        self._want_writable(False)

    def _want_writable(self, wanted: bool) -> None:
        if wanted == self._writing or self._loop is None or self.closed:
            return
        self._writing = wanted
        if wanted:
            self._loop.add_writer(self._sock.fileno(), self.flush)
        else:
            self._loop.remove_writer(self._sock.fileno())

    # -- in -----------------------------------------------------------------------------
    def take_socket(self) -> socket.socket:
        """The next socket the peer handed over (in the order they were sent)."""
        return socket.socket(fileno=self._fds.popleft())

    def _readable(self) -> None:
        try:
            data, ancillary, _flags, _addr = self._sock.recvmsg(_READ_SIZE, _ANCILLARY)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.warning("media control socket failed: %s", exc)
            self._lost()
            return
        for level, kind, cdata in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds = array.array("i")
                fds.frombytes(cdata[: len(cdata) - len(cdata) % fds.itemsize])
                self._fds.extend(fds)
        if not data:
            self._lost()
            return
        try:
            messages = self._reader.feed(data)
        except FrameError as exc:
            log.error("media control stream corrupt: %s", exc)
            self._lost()
            return
        for message in messages:
            try:
                self._on_message(message)
            except Exception:
                log.exception("media control message %s failed", message.kind.name)

    # -- the end ------------------------------------------------------------------------
    def _lost(self) -> None:
        if self.closed:
            return
        self.close()
        self._on_lost()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            if self._writing:
                self._loop.remove_writer(self._sock.fileno())
        for segment in self._out:
            for sock in segment.socks:
                sock.close()
        self._out.clear()
        while self._fds:
            socket.socket(fileno=self._fds.popleft()).close()
        self._sock.close()
