"""Micro-benchmarks of the sans-IO hot paths (no sockets), best of several runs.

    python -m bench.micro

- SIP: parse a Yeastar-style INVITE with SDP; the 100 + 200 answer path of the user agent
  (INVITE in, 100 Trying and 200 OK out, ACK and BYE in, 200 out) per call.
- SDP: parse an offer and negotiate the answer.
- Media: one packet each way through a `MediaSession` (receive + pull_audio + tick) with
  speech queued, as the media clock drives it.
"""

from __future__ import annotations

import itertools
import platform
import time
import timeit
from collections.abc import Callable

from tests.support.messages import invite, request, sdp_offer

from frontdesk.media.session import MediaSession
from frontdesk.sip.parser import parse_message
from frontdesk.sip.sdp import LocalMedia, SessionDescription, negotiate
from frontdesk.sip.useragent import UaConfig, UserAgent

PBX = ("127.0.0.1", 5070)


def best_us(fn: Callable[[], object], number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def sip_call_path() -> Callable[[], object]:
    counter = itertools.count()
    ua = UserAgent(UaConfig("127.0.0.1", 15060), token=lambda: f"t{next(counter)}")
    answer = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"

    def one_call() -> None:
        n = next(counter)
        call_id = f"c{n}"
        ua.receive(invite(call_id=call_id, branch=f"z9hG4bK{n}"), PBX, 0.0)
        event = ua.events.pop()
        call = event.call  # type: ignore[union-attr]
        ua.answer(call, answer, 0.0)
        tag = call.dialog.local_tag
        ua.receive(request("ACK", call_id=call_id, to_tag=tag, branch=f"z9hG4bKa{n}"), PBX, 0.0)
        bye = request("BYE", call_id=call_id, cseq=2, to_tag=tag, branch=f"z9hG4bKb{n}")
        ua.receive(bye, PBX, 0.0)
        ua.events.clear()
        ua.outbox.clear()

    return one_call


def media_packet() -> Callable[[], object]:
    session = MediaSession(codec="PCMU", payload_type=0, telephone_event_pt=101, now=0.0)
    rtp = [
        bytes([0x80, 0x00])
        + (k & 0xFFFF).to_bytes(2, "big")
        + (k * 160).to_bytes(4, "big")
        + b"\x12\x34\x56\x78"
        + b"\xff" * 160
        for k in range(50_000)
    ]
    speech = b"\x10\x00" * 320
    state = {"k": 0}

    def one_packet() -> None:
        k = state["k"]
        state["k"] = k + 1
        now = k * 0.02 + 0.001
        session.receive(rtp[k % 50_000], now)
        session.push_audio(speech)
        session.pull_audio(now + 0.05)
        session.tick(now)

    return one_packet


def main() -> None:
    data = invite(body=sdp_offer())
    offer = sdp_offer()
    local = LocalMedia(address="127.0.0.1", port=10000)
    parse_us = best_us(lambda: parse_message(data), 20_000)
    sdp_us = best_us(lambda: negotiate(SessionDescription.parse(offer), local), 5_000)
    call_us = best_us(sip_call_path(), 2_000)
    media_us = best_us(media_packet(), 20_000)
    print(
        f"### Micro-benchmarks — {time.strftime('%Y-%m-%d %H:%M')}, Python "
        f"{platform.python_version()}\nCommand: `python -m bench.micro`\n"
    )
    print("| path | cost | per second on one core |")
    print("|---|---|---|")
    size = len(data)
    print(
        f"| parse an INVITE with SDP ({size} bytes) | {parse_us:.1f} µs | {1e6 / parse_us:,.0f} |"
    )
    print(f"| SDP parse + negotiate | {sdp_us:.1f} µs | {1e6 / sdp_us:,.0f} |")
    print(
        f"| SIP core per answered call (INVITE/100/200/ACK/BYE/200) | {call_us:.1f} µs | "
        f"{1e6 / call_us:,.0f} calls |"
    )
    print(
        f"| media, one packet each way (receive + pull + tick) | {media_us:.1f} µs | "
        f"{1e6 / media_us:,.0f} packets |"
    )


if __name__ == "__main__":
    main()
