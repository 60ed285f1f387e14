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
import logging
import socket
from collections import deque
from collections.abc import Callable

from frontdesk.media.control import Kind
from frontdesk.media.wire import FrameError, FrameReader, Message, encode

log = logging.getLogger(__name__)

_READ_SIZE = 1 << 18
_FDS_PER_READ = 64  # more than any one write carries (two per OPEN)
_ANCILLARY = socket.CMSG_SPACE(_FDS_PER_READ * array.array("i").itemsize)


class _Chunk:
    __slots__ = ("data", "socks")

    def __init__(self, data: bytes, socks: tuple[socket.socket, ...] = ()) -> None:
        self.data = bytearray(data)
        self.socks = socks  # sent (and then closed here) with the chunk's first byte


class ControlChannel:
    def __init__(
        self,
        sock: socket.socket,
        on_message: Callable[[Message[Kind]], None],
        on_lost: Callable[[], None],
    ) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._on_message = on_message
        self._on_lost = on_lost
        self._reader: FrameReader[Kind] = FrameReader(Kind)
        self._fds: deque[int] = deque()
        self._out: deque[_Chunk] = deque()
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
        data = encode(kind, slot, payload)
        if socks or not self._out:
            self._out.append(_Chunk(data, socks))
        else:
            self._out[-1].data += data
        if not self._flush_scheduled and not self._writing and self._loop is not None:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what is queued, as far as the socket takes it now."""
        self._flush_scheduled = False
        out = self._out
        sock = self._sock
        while out and not self.closed:
            chunk = out[0]
            try:
                if chunk.socks:
                    fds = array.array("i", [s.fileno() for s in chunk.socks])
                    sent = sock.sendmsg([chunk.data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                    for handed in chunk.socks:  # the worker has its own copies now
                        handed.close()
                    chunk.socks = ()
                else:
                    sent = sock.send(chunk.data)
            except (BlockingIOError, InterruptedError):
                self._want_writable(True)
                return
            except OSError as exc:
                log.warning("media control socket failed: %s", exc)
                self._lost()
                return
            self.sent_bytes += sent
            del chunk.data[:sent]
            if not chunk.data:
                out.popleft()
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
        for chunk in self._out:
            for sock in chunk.socks:
                sock.close()
        self._out.clear()
        while self._fds:
            socket.socket(fileno=self._fds.popleft()).close()
        self._sock.close()
