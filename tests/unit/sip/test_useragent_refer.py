"""Blind transfer from our side (RFC 3515): REFER out, NOTIFY sipfrags in, all sans-IO."""

from __future__ import annotations

import itertools

import pytest
from tests.support.messages import invite, request

from frontdesk.sip.message import Request, Response
from frontdesk.sip.parser import parse_message
from frontdesk.sip.timers import TimerValues
from frontdesk.sip.useragent import (
    IncomingCall,
    ReferAnswered,
    ServerCall,
    TransferProgress,
    UaConfig,
    UserAgent,
    sipfrag_status,
)

PBX = ("127.0.0.1", 5070)
ANSWER_SDP = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


@pytest.fixture
def ua() -> UserAgent:
    counter = itertools.count(1)
    return UserAgent(
        UaConfig("192.0.2.10", 15060, TimerValues()), token=lambda: f"t{next(counter)}"
    )


def drain(ua: UserAgent) -> list[Request | Response]:
    out = [parse_message(data) for data, _ in ua.outbox]
    ua.outbox = []
    return out


def confirmed_call(ua: UserAgent) -> ServerCall:
    ua.receive(invite(), PBX, 0.0)
    (event,) = ua.events
    assert isinstance(event, IncomingCall)
    call = event.call
    ua.answer(call, ANSWER_SDP, 0.0)
    ua.receive(request("ACK", to_tag=call.dialog.local_tag, branch="z9hG4bK-a"), PBX, 0.1)
    drain(ua)
    ua.events.clear()
    return call


def notify(call: ServerCall, cseq: int, frag: bytes, state: str, event: str = "refer") -> bytes:
    return request(
        "NOTIFY",
        to_tag=call.dialog.local_tag,
        branch=f"z9hG4bK-n{cseq}",
        cseq=cseq,
        body=frag,
        content_type="message/sipfrag;version=2.0",
        extra=(("Event", event), ("Subscription-State", state)),
    )


def test_refer_carries_refer_to_and_reports_success(ua: UserAgent) -> None:
    call = confirmed_call(ua)
    assert ua.refer(call, "sip:200@127.0.0.1", 1.0, referred_by="sip:frontdesk@192.0.2.10")
    (refer,) = drain(ua)
    assert isinstance(refer, Request) and refer.method == "REFER"
    assert refer.headers.get("Refer-To") == "<sip:200@127.0.0.1>"
    assert refer.headers.get("Referred-By") == "<sip:frontdesk@192.0.2.10>"
    assert refer.uri == "sip:caller@127.0.0.1:5070"  # the dialog's remote target
    assert not ua.refer(call, "sip:201@127.0.0.1", 1.0)  # one transfer at a time
    ua.receive(bytes(Response(202, "Accepted", refer.headers)), PBX, 1.1)
    assert ua.events == [ReferAnswered(call, 202)]
    ua.events.clear()
    ua.receive(notify(call, 2, b"SIP/2.0 100 Trying\r\n", "active;expires=60"), PBX, 1.2)
    ua.receive(notify(call, 3, b"SIP/2.0 200 OK\r\n", "terminated;reason=noresource"), PBX, 2.0)
    answers = drain(ua)
    assert [m.status for m in answers if isinstance(m, Response)] == [200, 200]
    assert ua.events == [
        TransferProgress(call, 100, terminated=False),
        TransferProgress(call, 200, terminated=True),
    ]
    assert not call.refer_pending


def test_refused_refer_ends_the_subscription(ua: UserAgent) -> None:
    call = confirmed_call(ua)
    assert ua.refer(call, "sip:200@127.0.0.1", 1.0)
    (refer,) = drain(ua)
    ua.receive(bytes(Response(603, "Decline", refer.headers)), PBX, 1.1)
    assert ua.events == [ReferAnswered(call, 603)]
    assert not call.refer_pending
    ua.events.clear()
    ua.receive(notify(call, 2, b"SIP/2.0 200 OK\r\n", "terminated"), PBX, 1.2)
    (answer,) = drain(ua)
    assert isinstance(answer, Response) and answer.status == 481  # no subscription now
    assert ua.events == []


def test_unanswered_refer_times_out_as_408(ua: UserAgent) -> None:
    call = confirmed_call(ua)
    assert ua.refer(call, "sip:200@127.0.0.1", 1.0)
    ua.advance(1.0 + 64 * 0.5 + 0.1)
    assert ReferAnswered(call, 408) in ua.events


def test_notify_without_our_refer_or_for_another_event_is_481(ua: UserAgent) -> None:
    call = confirmed_call(ua)
    ua.receive(notify(call, 2, b"SIP/2.0 200 OK\r\n", "terminated"), PBX, 1.0)
    assert ua.refer(call, "sip:200@127.0.0.1", 1.0)
    out = drain(ua)
    ua.receive(notify(call, 3, b"SIP/2.0 200 OK\r\n", "active", event="dialog"), PBX, 1.1)
    out += drain(ua)
    statuses = [m.status if isinstance(m, Response) else m.method for m in out]
    assert statuses == [481, "REFER", 481]
    assert ua.events == []


def test_refer_needs_a_confirmed_call(ua: UserAgent) -> None:
    ua.receive(invite(), PBX, 0.0)
    (event,) = ua.events
    assert isinstance(event, IncomingCall)
    assert not ua.refer(event.call, "sip:200@127.0.0.1", 0.1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"SIP/2.0 200 OK\r\n", 200),
        (b"SIP/2.0 486 Busy Here", 486),
        (b"sip/2.0 180 Ringing\r\nVia: x\r\n", 180),
        (b"", 0),
        (b"garbage", 0),
        (b"SIP/2.0 OK", 0),
    ],
)
def test_sipfrag_status(body: bytes, status: int) -> None:
    assert sipfrag_status(body) == status
