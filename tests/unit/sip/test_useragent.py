"""The sans-IO user agent, driven with bytes and a fake clock: no sockets, no sleeping."""

from __future__ import annotations

import itertools

import pytest
from tests.support.messages import invite, request, sdp_offer

from frontdesk.sip.headers import CSeq, NameAddr, Via
from frontdesk.sip.message import Request, Response
from frontdesk.sip.parser import parse_message
from frontdesk.sip.timers import TimerValues
from frontdesk.sip.useragent import (
    CallCancelled,
    CallConfirmed,
    CallEnded,
    IncomingCall,
    InviteRefused,
    KeyPressed,
    SessionModified,
    UaConfig,
    UserAgent,
)

PBX = ("127.0.0.1", 5070)
T = TimerValues()
ANSWER_SDP = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 10000 RTP/AVP 0\r\n"
)


@pytest.fixture
def ua() -> UserAgent:
    counter = itertools.count(1)
    return UserAgent(UaConfig("192.0.2.10", 15060, T), token=lambda: f"tok{next(counter)}")


def sent(ua: UserAgent) -> list[Response | Request]:
    out = [parse_message(data) for data, _ in ua.outbox]
    ua.outbox = []  # a new list, as a draining adapter may do: nothing may keep the old one
    return out


def statuses(messages: list[Response | Request]) -> list[int | str]:
    return [m.status if isinstance(m, Response) else m.method for m in messages]


def events(ua: UserAgent) -> list[object]:
    out, ua.events = ua.events, []
    return list(out)


def incoming(ua: UserAgent, now: float = 0.0, **kwargs: object) -> IncomingCall:
    ua.receive(invite(**kwargs), PBX, now)
    (event,) = events(ua)
    assert isinstance(event, IncomingCall)
    return event


def test_invite_gets_100_trying_at_once_then_an_event(ua: UserAgent) -> None:
    ua.receive(invite(), PBX, 0.0)
    (trying,) = sent(ua)
    assert isinstance(trying, Response) and trying.status == 100
    assert NameAddr.parse(trying.headers.get("To") or "").tag is None
    (event,) = events(ua)
    assert isinstance(event, IncomingCall)
    assert event.call.call_id == "call-1"
    assert event.call.source == PBX


def test_top_via_gets_received_and_rport(ua: UserAgent) -> None:
    ua.receive(invite(host="10.9.9.9", port=5080), ("127.0.0.1", 40000), 0.0)
    (trying,) = sent(ua)
    via = Via.parse(trying.headers.first("Via") or "")
    assert via.params[-1] == ("received", "127.0.0.1")
    assert ("rport", "40000") in via.params
    assert ua.outbox == []


def test_answer_retransmits_200_until_ack(ua: UserAgent) -> None:
    call = incoming(ua).call
    sent(ua)
    assert ua.answer(call, ANSWER_SDP, 0.0)
    (ok,) = sent(ua)
    assert isinstance(ok, Response) and ok.status == 200
    assert ok.body == ANSWER_SDP
    assert ok.headers.get("Content-Type") == "application/sdp"
    assert ok.headers.get("Contact") == "<sip:192.0.2.10:15060>"
    to_tag = NameAddr.parse(ok.headers.get("To") or "").tag
    assert to_tag == call.dialog.local_tag
    # T1, then 2*T1 later: retransmissions of the same bytes
    ua.advance(0.5)
    ua.advance(1.5)
    assert statuses(sent(ua)) == [200, 200]
    ua.receive(request("ACK", cseq=1, to_tag=to_tag, branch="z9hG4bK-ack"), PBX, 1.6)
    assert [type(e) for e in events(ua)] == [CallConfirmed]
    ua.advance(10.0)
    assert sent(ua) == []


def test_missing_ack_ends_the_call_with_bye(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    sent(ua)
    now = 0.0
    out: list[Response | Request] = []
    while now < T.timeout_64t1 + 1:
        now += 0.25
        ua.advance(now)
        out.extend(sent(ua))
        if any(isinstance(e, CallEnded) for e in ua.events):
            break
    retransmissions = sum(1 for m in out if isinstance(m, Response))
    (ended,) = events(ua)
    assert isinstance(ended, CallEnded) and ended.reason == "ack-timeout"
    assert now == pytest.approx(T.timeout_64t1, abs=0.3)
    assert retransmissions >= 9  # 0.5, 1.5, 3.5, 7.5, then every 4 s up to 32 s
    # the BYE went out with the dialog's identity
    bye = out[-1]
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert NameAddr.parse(bye.headers.get("From") or "").tag == call.dialog.local_tag
    assert CSeq.parse(bye.headers.get("CSeq") or "").method == "BYE"


def test_peer_bye_is_answered_and_retransmission_absorbed(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    tag = call.dialog.local_tag
    ua.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PBX, 0.1)
    sent(ua)
    events(ua)
    bye = request("BYE", cseq=2, to_tag=tag, branch="z9hG4bK-bye")
    ua.receive(bye, PBX, 1.0)
    ua.receive(bye, PBX, 1.5)
    assert statuses(sent(ua)) == [200, 200]
    (ended,) = events(ua)
    assert isinstance(ended, CallEnded) and ended.reason == "remote-bye"
    assert ua.active_calls == 0


def test_cancel_before_answer(ua: UserAgent) -> None:
    call = incoming(ua).call
    sent(ua)
    ua.receive(request("CANCEL", branch="z9hG4bK-b1"), PBX, 0.2)
    assert statuses(sent(ua)) == [200, 487]
    assert [type(e) for e in events(ua)] == [CallCancelled]
    assert not ua.answer(call, ANSWER_SDP, 0.3)  # too late: nothing is sent
    assert sent(ua) == []
    ua.advance(0.7)  # Timer G: the 487 again until ACKed
    assert statuses(sent(ua)) == [487]
    ua.receive(request("ACK", branch="z9hG4bK-b1", cseq_method="ACK"), PBX, 0.8)
    ua.advance(5.0)
    assert sent(ua) == []


def test_cancel_of_unknown_transaction_is_481(ua: UserAgent) -> None:
    ua.receive(request("CANCEL", branch="z9hG4bK-nope"), PBX, 0.0)
    assert statuses(sent(ua)) == [481]


def test_reject_with_headers_and_timer_h(ua: UserAgent) -> None:
    call = incoming(ua).call
    sent(ua)
    assert ua.reject(call, 486, 0.0, headers=[("X-Frontdesk-Limit", "number")])
    (busy,) = sent(ua)
    assert isinstance(busy, Response) and busy.status == 486 and busy.reason == "Busy Here"
    assert busy.headers.get("X-Frontdesk-Limit") == "number"
    ua.advance(T.timeout_64t1 + 1)  # never ACKed: G retransmits, H gives up
    assert set(statuses(sent(ua))) == {486}
    ua.advance(T.timeout_64t1 + 60)
    assert sent(ua) == []


def test_retransmitted_invite_gets_100_again_then_is_absorbed(ua: UserAgent) -> None:
    call = incoming(ua).call
    sent(ua)
    ua.receive(invite(), PBX, 0.1)
    assert statuses(sent(ua)) == [100]
    assert events(ua) == []
    ua.answer(call, ANSWER_SDP, 0.2)
    sent(ua)
    ua.receive(invite(), PBX, 0.3)  # RFC 6026 Accepted: absorbed
    assert sent(ua) == []


def test_options_unknown_and_unsupported_methods(ua: UserAgent) -> None:
    ua.receive(request("OPTIONS", branch="z9hG4bK-o"), PBX, 0.0)
    ua.receive(request("FOO", branch="z9hG4bK-f"), PBX, 0.0)
    ua.receive(request("REGISTER", branch="z9hG4bK-r"), PBX, 0.0)
    ua.receive(request("BYE", branch="z9hG4bK-x", to_tag="nobody"), PBX, 0.0)
    options, foo, register, bye = sent(ua)
    assert isinstance(options, Response) and options.status == 200
    assert "INVITE" in (options.headers.get("Allow") or "")
    assert statuses([foo, register, bye]) == [501, 405, 481]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"body": b""}, 488),
        ({"extra": (("Require", "100rel"),)}, 420),
        ({"content_type": "text/plain"}, 415),
    ],
)
def test_invites_we_refuse_up_front(ua: UserAgent, kwargs: dict[str, object], status: int) -> None:
    ua.receive(invite(**kwargs), PBX, 0.0)
    assert statuses(sent(ua)) == [status]
    (refused,) = events(ua)  # recorded, but never offered to the application as a call
    assert isinstance(refused, InviteRefused) and refused.status == status


def test_max_forwards_zero_is_483(ua: UserAgent) -> None:
    data = invite().replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    ua.receive(data, PBX, 0.0)
    assert statuses(sent(ua)) == [483]


def test_reinvite_hold_offer_is_handed_to_the_application(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    tag = call.dialog.local_tag
    ua.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PBX, 0.1)
    sent(ua)
    events(ua)
    hold = invite(cseq=2, to_tag=tag, branch="z9hG4bK-h", body=sdp_offer(direction="sendonly"))
    ua.receive(hold, PBX, 1.0)
    assert statuses(sent(ua)) == [100]
    (modified,) = events(ua)
    assert isinstance(modified, SessionModified) and b"sendonly" in modified.request.body
    assert ua.accept_modify(call, ANSWER_SDP, 1.1)
    assert statuses(sent(ua)) == [200]
    ua.receive(request("ACK", cseq=2, to_tag=tag, branch="z9hG4bK-a2"), PBX, 1.2)
    ua.advance(5.0)
    assert sent(ua) == []
    assert events(ua) == []  # a re-INVITE's ACK is not a new confirmation


def test_hangup_sends_bye_retransmitted_until_answered(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    ua.receive(request("ACK", to_tag=call.dialog.local_tag, branch="z9hG4bK-a"), PBX, 0.1)
    sent(ua)
    events(ua)
    assert ua.hangup(call, 1.0, reason="media-timeout")
    (bye,) = sent(ua)
    assert isinstance(bye, Request) and bye.method == "BYE"
    assert bye.uri == "sip:caller@127.0.0.1:5070"
    (ended,) = events(ua)
    assert isinstance(ended, CallEnded) and ended.reason == "media-timeout"
    ua.advance(1.5)
    assert statuses(sent(ua)) == ["BYE"]
    ok = bytes(Response(200, "OK", bye.headers))
    ua.receive(ok, PBX, 1.6)
    ua.advance(10.0)
    assert sent(ua) == []
    assert not ua.hangup(call, 11.0)


def test_malformed_request_with_readable_headers_gets_400(ua: UserAgent) -> None:
    data = invite().replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
    ua.receive(data, PBX, 0.0)
    ((raw, address),) = ua.outbox  # it echoes the bad CSeq, so read the status line only
    assert raw.startswith(b"SIP/2.0 400 ") and address == PBX
    assert b"Call-ID: call-1" in raw
    ua.outbox.clear()
    ua.receive(b"\x00\x01garbage that is not SIP", PBX, 0.0)
    assert sent(ua) == []
    assert ua.stats.malformed == 2


def test_second_invite_on_another_branch_is_a_loop(ua: UserAgent) -> None:
    incoming(ua)
    sent(ua)
    ua.receive(invite(branch="z9hG4bK-other"), PBX, 0.1)
    assert statuses(sent(ua)) == [482]


def test_update_with_offer_is_answered_without_ack(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    tag = call.dialog.local_tag
    ua.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PBX, 0.1)
    sent(ua)
    events(ua)
    update = request(
        "UPDATE", cseq=2, to_tag=tag, branch="z9hG4bK-u", body=sdp_offer(direction="inactive")
    )
    ua.receive(update, PBX, 1.0)
    (modified,) = events(ua)
    assert isinstance(modified, SessionModified) and modified.request.method == "UPDATE"
    assert sent(ua) == []  # no 100 Trying for a non-INVITE
    assert ua.accept_modify(call, ANSWER_SDP, 1.1)
    (ok,) = sent(ua)
    assert isinstance(ok, Response) and ok.status == 200 and ok.body == ANSWER_SDP
    ua.advance(10.0)
    assert sent(ua) == []  # a non-INVITE 200 is not retransmitted
    ua.receive(update, PBX, 10.5)  # ...but a retransmitted UPDATE gets it again
    assert statuses(sent(ua)) == [200]


def test_shedding_answers_new_invites_503_but_keeps_calls(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    sent(ua)
    ua.shedding = True
    ua.receive(invite(call_id="call-2", branch="z9hG4bK-2"), PBX, 0.1)
    (busy,) = sent(ua)
    assert isinstance(busy, Response) and busy.status == 503
    assert busy.headers.get("Retry-After") == "30"
    (refused,) = events(ua)
    assert isinstance(refused, InviteRefused) and refused.reason == "overload"
    # the live call goes on: its ACK and BYE are handled as usual
    tag = call.dialog.local_tag
    ua.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PBX, 0.2)
    ua.receive(request("BYE", cseq=2, to_tag=tag, branch="z9hG4bK-bye"), PBX, 0.3)
    assert statuses(sent(ua)) == [200]
    assert [type(e) for e in events(ua)] == [CallConfirmed, CallEnded]
    assert ua.stats.shed == 1


def test_info_dtmf_keys_become_events(ua: UserAgent) -> None:
    call = incoming(ua).call
    ua.answer(call, ANSWER_SDP, 0.0)
    tag = call.dialog.local_tag
    ua.receive(request("ACK", to_tag=tag, branch="z9hG4bK-a"), PBX, 0.1)
    sent(ua)
    events(ua)
    infos = [
        (b"Signal=5\r\nDuration=160\r\n", "application/dtmf-relay", 200, "5"),
        (b"Signal=11\r\nDuration=160\r\n", "application/dtmf-relay", 200, "#"),
        (b"*", "application/dtmf", 200, "*"),
        (b"Signal=Z\r\n", "application/dtmf-relay", 400, None),  # a DTMF body we can't read
        (b"hello", "application/x-keepalive", 200, None),  # not DTMF: accepted, ignored
    ]
    for cseq, (body, content_type, status, key) in enumerate(infos, start=2):
        info = request(
            "INFO", cseq=cseq, to_tag=tag, branch=f"z9hG4bK-i{cseq}", body=body,
            content_type=content_type,
        )  # fmt: skip
        ua.receive(info, PBX, 1.0 + cseq)
        ua.receive(info, PBX, 1.2 + cseq)  # a retransmission: answered again, no second key
        assert statuses(sent(ua)) == [status, status]
        got = events(ua)
        if key is None:
            assert got == []
        else:
            assert len(got) == 1 and isinstance(got[0], KeyPressed)
            assert got[0].key == key and got[0].call is call
