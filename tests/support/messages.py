"""Builders of SIP requests as a PBX would send them, for tests of the sans-IO core."""

from __future__ import annotations

import random

SDP_OFFER = (
    "v=0\r\n"
    "o=pbx 1 1 IN IP4 {ip}\r\n"
    "s=call\r\n"
    "c=IN IP4 {ip}\r\n"
    "t=0 0\r\n"
    "m=audio {port} RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-16\r\n"
    "a=ptime:20\r\n"
    "a={direction}\r\n"
)


def sdp_offer(ip: str = "127.0.0.1", port: int = 6000, direction: str = "sendrecv") -> bytes:
    return SDP_OFFER.format(ip=ip, port=port, direction=direction).encode()


def request(
    method: str,
    *,
    call_id: str = "call-1",
    branch: str = "z9hG4bK-b1",
    cseq: int = 1,
    cseq_method: str | None = None,
    from_tag: str = "pbx-tag",
    to_tag: str | None = None,
    user: str = "1000",
    host: str = "127.0.0.1",
    port: int = 5070,
    body: bytes = b"",
    content_type: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
) -> bytes:
    to = f"<sip:{user}@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    lines = [
        f"{method} sip:{user}@127.0.0.1:15060 SIP/2.0",
        f"Via: SIP/2.0/UDP {host}:{port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:caller@{host}:{port}>;tag={from_tag}",
        f"To: {to}",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} {cseq_method or method}",
        f"Contact: <sip:caller@{host}:{port}>",
    ]
    if body:
        lines.append(f"Content-Type: {content_type or 'application/sdp'}")
    lines.extend(f"{name}: {value}" for name, value in extra)
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def invite(**kwargs: object) -> bytes:
    kwargs.setdefault("body", sdp_offer())
    return request("INVITE", **kwargs)  # type: ignore[arg-type]


def rtp_range_avoiding(port: int, size: int = 400) -> str:
    """A random even RTP port range of `size` ports in 20000-60000 that excludes `port`."""
    while True:
        base = random.randrange(20000, 60000 - size, 2)
        if not base <= port <= base + size:
            return f"{base}-{base + size}"
