"""The pool of RTP ports of this node: one even port per call, RTCP on the next odd one.

Owns: which ports are free. Released ports go to the back of the queue, so a port is
reused as late as possible and stray packets of an ended call do not reach a new one.
Must not: bind sockets (the edge does, and hands back a port it could not bind).
"""

from __future__ import annotations

from collections import deque

from frontdesk.errors import PortsExhausted


def even_ports(low: int, high: int) -> list[int]:
    """Every even port p in [low, high] whose RTCP partner p+1 is in range too."""
    start = low if low % 2 == 0 else low + 1
    return list(range(start, high, 2))


class RtpPortPool:
    def __init__(self, low: int, high: int) -> None:
        self._free: deque[int] = deque(even_ports(low, high))
        self._used: set[int] = set()
        self.capacity = len(self._free)

    def allocate(self) -> int:
        if not self._free:
            raise PortsExhausted(f"all {self.capacity} RTP ports are in use")
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.remove(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)
