"""SIP INFO DTMF bodies (sip/dtmf_info.py): what Yeastar, Cisco and others send."""

from __future__ import annotations

import pytest

from frontdesk.sip.dtmf_info import InfoDtmf, read_info_dtmf


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", InfoDtmf(200, "5")),
        (
            "Application/DTMF-Relay; charset=us-ascii",
            b"Signal= #\nDuration=250",
            InfoDtmf(200, "#"),
        ),
        ("application/dtmf-relay", b"Duration=160\r\nSignal=*\r\n", InfoDtmf(200, "*")),
        ("application/dtmf-relay", b"Signal=10\r\n", InfoDtmf(200, "*")),  # event codes
        ("application/dtmf-relay", b"Signal=11\r\n", InfoDtmf(200, "#")),
        ("application/dtmf-relay", b"signal=a\r\n", InfoDtmf(200, "A")),
        ("application/dtmf", b"7", InfoDtmf(200, "7")),
        ("application/dtmf", b" 0\r\n", InfoDtmf(200, "0")),
        ("application/dtmf", b"11", InfoDtmf(200, "#")),
        # DTMF bodies without a readable key: 400
        ("application/dtmf-relay", b"Duration=160\r\n", InfoDtmf(400)),
        ("application/dtmf-relay", b"Signal=16\r\n", InfoDtmf(400)),  # flash: not a key
        ("application/dtmf-relay", b"Signal=55\r\n", InfoDtmf(400)),
        ("application/dtmf", b"", InfoDtmf(400)),
        ("application/dtmf", b"\xff", InfoDtmf(400)),
        # not DTMF at all: accepted and ignored, as before
        (None, b"", InfoDtmf(200)),
        ("application/media_control+xml", b"<media_control/>", InfoDtmf(200)),
    ],
)
def test_info_bodies(content_type: str | None, body: bytes, expected: InfoDtmf) -> None:
    assert read_info_dtmf(content_type, body) == expected
