"""`ControlChannel`: framed messages and handed-over sockets, over a real socketpair."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from frontdesk.edge.media_channel import ControlChannel
from frontdesk.media.control import Kind
from frontdesk.media.wire import Message


class End:
    def __init__(self, sock: socket.socket) -> None:
        self.messages: list[Message[Kind]] = []
        self.sockets: list[socket.socket] = []
        self.lost = asyncio.Event()
        self.channel = ControlChannel(sock, self._on_message, self.lost.set)
        self.channel.start()

    def _on_message(self, message: Message[Kind]) -> None:
        self.messages.append(message)
        if message.kind is Kind.OPEN:  # as the worker does: two sockets per OPEN
            self.sockets += [self.channel.take_socket(), self.channel.take_socket()]


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 (polls what the loop's callbacks fill)
            await asyncio.sleep(0.005)


async def test_sockets_ride_with_their_message_in_order() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    edge, worker = End(a), End(b)
    opened = [(udp(), udp()) for _ in range(3)]
    names = [(r.getsockname(), c.getsockname()) for r, c in opened]
    for slot, (rtp, rtcp) in enumerate(opened, 1):
        edge.channel.send(Kind.AUDIO, slot, b"before")
        edge.channel.send(Kind.OPEN, slot, b"{}", (rtp, rtcp))
        edge.channel.send(Kind.AUDIO, slot, b"after")
    await until(lambda: len(worker.messages) == 9)
    assert [(m.kind, m.slot) for m in worker.messages[:3]] == [
        (Kind.AUDIO, 1), (Kind.OPEN, 1), (Kind.AUDIO, 1)
    ]  # fmt: skip
    assert all(rtp.fileno() == -1 for rtp, _ in opened)  # the edge's copies are closed
    rtps, rtcps = worker.sockets[0::2], worker.sockets[1::2]
    got = [(r.getsockname(), c.getsockname()) for r, c in zip(rtps, rtcps, strict=True)]
    assert got == names
    # the handed-over socket is the same socket: a datagram to it arrives there
    sender = udp()
    sender.sendto(b"rtp", names[1][0])
    worker.sockets[2].settimeout(1)
    assert worker.sockets[2].recv(10) == b"rtp"
    for sock in [*worker.sockets, sender]:
        sock.close()
    edge.channel.close()
    await asyncio.wait_for(worker.lost.wait(), 2)  # the peer sees the end


async def test_a_slow_reader_queues_writes_instead_of_blocking() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    edge = End(a)
    b.setblocking(False)
    frame = bytes(640)
    count = 30_000  # ~19 MB, far above both socket buffers
    for slot in range(count):
        edge.channel.send(Kind.FRAMES, slot, frame[: slot % 640])  # odd sizes: partial writes
    await asyncio.sleep(0.05)
    assert edge.channel.sent_bytes < count * 9 + sum(range(640)) * (count // 640)  # it filled
    worker = End(b)  # now someone reads
    await until(lambda: len(worker.messages) == count, 10)
    assert [m.slot for m in worker.messages] == list(range(count))
    assert all(len(m.payload) == m.slot % 640 for m in worker.messages)
    edge.channel.close()
    worker.channel.close()
