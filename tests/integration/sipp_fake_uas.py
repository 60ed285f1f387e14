"""A small scripted UAS on loopback that plays the far end for the sipp scenario tests.

It is not frontdesk's edge and must not grow into one: it answers just well enough (RFC 3261
responses copied from the request, 2xx/non-2xx retransmission until ACK, CANCEL → 487,
re-INVITE, its own BYE) to prove that each scenario in tests/data/sipp runs to its end,
and it records every RTP packet it receives so the tests can state what a scenario really
sends (payload type, packet size, spacing).
"""

from __future__ import annotations

import itertools
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_T1 = 0.5
_CODECS = {"0": "PCMU/8000", "8": "PCMA/8000"}


@dataclass
class UasBehaviour:
    """How the fake UAS answers an INVITE."""

    final: int = 200
    ringing: bool = True
    #: wait this long before the final answer (a CANCEL in that window gets 487)
    answer_delay_s: float = 0.0
    limit_header: str | None = None
    #: hang up (send BYE) this long after the ACK
    bye_after_s: float | None = None
    #: no ACK: retransmit the 200 this long, then send BYE (RFC 3261 13.3.1.4)
    ack_giveup_s: float = 3.0


@dataclass(frozen=True)
class RtpSeen:
    """One RTP packet as it arrived."""

    at: float
    payload_type: int
    marker: bool
    seq: int
    timestamp: int
    payload: bytes
    source: tuple[str, int]


@dataclass
class _Dialog:
    invite: _Msg
    addr: tuple[str, int]
    tag: str
    acked: bool = False
    final_sent: bool = False
    cancelled: bool = False
    cseq: int = 0


@dataclass
class _Msg:
    first: str
    headers: list[tuple[str, str]]
    body: str

    def get(self, name: str) -> str:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return ""

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def method(self) -> str:
        return self.first.split(" ", 1)[0]

    @property
    def is_response(self) -> bool:
        return self.first.startswith("SIP/2.0")


def _parse(data: bytes) -> _Msg:
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers.append((key.strip(), value.strip()))
    return _Msg(lines[0], headers, body)


@dataclass
class FakeUas:
    """The fake far end. Use as a context manager; `port` is its SIP port on 127.0.0.1."""

    behaviour: UasBehaviour = field(default_factory=UasBehaviour)
    host: str = "127.0.0.1"
    events: list[str] = field(default_factory=list)
    #: (time.monotonic(), event) for every event, in order
    timeline: list[tuple[float, str]] = field(default_factory=list)
    rtp: list[RtpSeen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sip.bind((self.host, 0))
        self._rtp = self._bind_even()
        self.port = int(self._sip.getsockname()[1])
        self.rtp_port = int(self._rtp.getsockname()[1])
        self._dialogs: dict[str, _Dialog] = {}
        self._timers: list[tuple[float, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-uas", daemon=True)
        self._tags = itertools.count(1)
        self._lock = threading.Lock()

    def _bind_even(self) -> socket.socket:
        for _ in range(50):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((self.host, 0))
            if sock.getsockname()[1] % 2 == 0:
                return sock
            sock.close()
        raise RuntimeError("no even UDP port for RTP")

    def __enter__(self) -> FakeUas:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sip.close()
        self._rtp.close()

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def saw(self, event: str) -> int:
        """How many times `event` was logged."""
        with self._lock:
            return self.events.count(event)

    def first(self, event: str) -> float:
        """When `event` was first logged (time.monotonic())."""
        with self._lock:
            for at, seen in self.timeline:
                if seen == event:
                    return at
        raise KeyError(event)

    def wait_for(self, event: str, timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.saw(event):
                return True
            time.sleep(0.02)
        return False

    # ------------------------------------------------------------------ loop

    def _log(self, event: str) -> None:
        with self._lock:
            self.events.append(event)
            self.timeline.append((time.monotonic(), event))

    def _later(self, delay: float, action: Callable[[], None]) -> None:
        self._timers.append((time.monotonic() + delay, action))

    def _loop(self) -> None:
        while not self._stop.is_set():
            readable, _, _ = select.select([self._sip, self._rtp], [], [], 0.01)
            for sock in readable:
                data, addr = sock.recvfrom(65535)
                if sock is self._rtp:
                    self._on_rtp(data, addr)
                else:
                    self._on_sip(_parse(data), addr)
            now = time.monotonic()
            due = [t for t in self._timers if t[0] <= now]
            self._timers = [t for t in self._timers if t[0] > now]
            for _, action in due:
                action()

    def _on_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        _, mpt, seq, ts = struct.unpack("!BBHI", data[:8])
        seen = RtpSeen(time.monotonic(), mpt & 0x7F, bool(mpt & 0x80), seq, ts, data[12:], addr)
        with self._lock:
            self.rtp.append(seen)

    def _send(self, text: str, addr: tuple[str, int]) -> None:
        self._sip.sendto(text.encode(), addr)

    # ------------------------------------------------------------------ SIP

    def _response(self, req: _Msg, code: int, reason: str, tag: str, extra: str = "") -> str:
        vias = "".join(f"Via: {v}\r\n" for v in req.all("Via"))
        to = req.get("To")
        if ";tag=" not in to:
            to += f";tag={tag}"
        body = ""
        if code == 200 and req.method == "INVITE":
            body = self._sdp(req.body)
            extra += "Content-Type: application/sdp\r\n"
        return (
            f"SIP/2.0 {code} {reason}\r\n{vias}From: {req.get('From')}\r\nTo: {to}\r\n"
            f"Call-ID: {req.get('Call-ID')}\r\nCSeq: {req.get('CSeq')}\r\n"
            f"Contact: <sip:uas@{self.host}:{self.port}>\r\n{extra}"
            f"Content-Length: {len(body)}\r\n\r\n{body}"
        )

    def _offered(self, sdp: str) -> list[str]:
        match = re.search(r"^m=audio \d+ RTP/AVP ([\d ]+)", sdp, re.M)
        return match.group(1).split() if match else []

    def _sdp(self, offer: str) -> str:
        offered = self._offered(offer)
        pts = [pt for pt in offered if pt in _CODECS] + [
            pt for pt in offered if f"a=rtpmap:{pt} telephone-event" in offer
        ]
        direction = "sendrecv"
        if "a=sendonly" in offer:
            direction = "recvonly"
        elif "a=inactive" in offer:
            direction = "inactive"
        lines = [
            "v=0",
            f"o=uas 1 1 IN IP4 {self.host}",
            "s=-",
            f"c=IN IP4 {self.host}",
            "t=0 0",
            f"m=audio {self.rtp_port} RTP/AVP {' '.join(pts)}",
        ]
        for pt in pts:
            lines.append(f"a=rtpmap:{pt} {_CODECS.get(pt, 'telephone-event/8000')}")
        lines.append(f"a={direction}")
        return "\r\n".join(lines) + "\r\n"

    def _on_sip(self, msg: _Msg, addr: tuple[str, int]) -> None:
        call_id = msg.get("Call-ID")
        if msg.is_response:
            code = msg.first.split(" ")[1]
            self._log(f"recv {code} {msg.get('CSeq').split()[-1]}")
            if code == "200" and msg.get("CSeq").endswith("BYE"):
                dialog = self._dialogs.get(call_id)
                if dialog is not None:
                    dialog.cseq = -1  # stop retransmitting our BYE
            return
        method = msg.method
        self._log(f"recv {method}")
        dialog = self._dialogs.get(call_id)
        if method == "OPTIONS":
            self._send(self._response(msg, 200, "OK", "opt", "Allow: INVITE, ACK, BYE\r\n"), addr)
            self._log("sent 200 OPTIONS")
        elif method == "INVITE" and ";tag=" in msg.get("To") and dialog is not None:
            self._reinvite(dialog, msg, addr)
        elif method == "INVITE":
            if dialog is not None:  # retransmission
                return
            dialog = _Dialog(msg, addr, f"uas{next(self._tags)}")
            self._dialogs[call_id] = dialog
            self._send(self._response(msg, 100, "Trying", dialog.tag), addr)
            if self.behaviour.ringing:
                self._send(self._response(msg, 180, "Ringing", dialog.tag), addr)
            self._later(self.behaviour.answer_delay_s, lambda: self._answer(dialog))
        elif method == "ACK" and dialog is not None:
            if not dialog.acked:
                dialog.acked = True
                if dialog.final_sent and self.behaviour.bye_after_s is not None:
                    self._later(self.behaviour.bye_after_s, lambda: self._bye(dialog))
        elif method == "CANCEL" and dialog is not None:
            self._send(self._response(msg, 200, "OK", dialog.tag), addr)
            self._log("sent 200 CANCEL")
            if not dialog.final_sent:
                dialog.cancelled = True
                dialog.final_sent = True
                self._final(dialog, 487, "Request Terminated")
        elif method == "BYE":
            self._send(self._response(msg, 200, "OK", dialog.tag if dialog else "x"), addr)
            self._log("sent 200 BYE")

    def _answer(self, dialog: _Dialog) -> None:
        if dialog.final_sent:
            return
        dialog.final_sent = True
        offered = self._offered(dialog.invite.body)
        code = self.behaviour.final
        if code == 200 and not any(pt in _CODECS for pt in offered):
            code = 488
        reasons = {200: "OK", 486: "Busy Here", 488: "Not Acceptable Here"}
        self._final(dialog, code, reasons.get(code, "Error"))

    def _final(self, dialog: _Dialog, code: int, reason: str) -> None:
        extra = ""
        if code == 486 and self.behaviour.limit_header:
            extra = f"X-Frontdesk-Limit: {self.behaviour.limit_header}\r\n"
        text = self._response(dialog.invite, code, reason, dialog.tag, extra)
        self._send(text, dialog.addr)
        self._log(f"sent {code}")
        giveup = time.monotonic() + (self.behaviour.ack_giveup_s if code == 200 else 4.0)

        def retransmit(interval: float) -> None:
            if dialog.acked:
                return
            if time.monotonic() >= giveup:
                self._log(f"no ACK for {code}")
                if code == 200:
                    self._bye(dialog)
                return
            self._send(text, dialog.addr)
            self._log(f"retrans {code}")
            self._later(min(interval * 2, 4.0), lambda: retransmit(min(interval * 2, 4.0)))

        self._later(_T1, lambda: retransmit(_T1))

    def _reinvite(self, dialog: _Dialog, msg: _Msg, addr: tuple[str, int]) -> None:
        if "a=sendonly" in msg.body:
            self._log("hold sendonly")
        elif "a=inactive" in msg.body:
            self._log("hold inactive")
        else:
            self._log("resume")
        self._send(self._response(msg, 200, "OK", dialog.tag), addr)
        self._log("sent 200 re-INVITE")

    def _bye(self, dialog: _Dialog) -> None:
        if dialog.cseq < 0:
            return
        invite = dialog.invite
        contact = re.search(r"<([^>]+)>", invite.get("Contact"))
        uri = contact.group(1) if contact else f"sip:{dialog.addr[0]}:{dialog.addr[1]}"
        to = invite.get("To")
        if ";tag=" not in to:
            to += f";tag={dialog.tag}"
        text = (
            f"BYE {uri} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch=z9hG4bK{dialog.tag}bye\r\n"
            f"From: {to}\r\nTo: {invite.get('From')}\r\nCall-ID: {invite.get('Call-ID')}\r\n"
            f"CSeq: 1 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        dialog.cseq = 1
        self._log("sent BYE")
        deadline = time.monotonic() + 4.0

        def send(interval: float) -> None:
            if dialog.cseq < 0 or time.monotonic() > deadline:
                return
            self._send(text, dialog.addr)
            self._later(interval, lambda: send(min(interval * 2, 4.0)))

        send(_T1)
