"""FRONTDESK_CODECS: which codecs the edge answers with, best first."""

from __future__ import annotations

import pytest

from frontdesk.calls.decision import AcceptAll
from frontdesk.config import load_settings
from frontdesk.edge.server import EdgeServer
from frontdesk.errors import ConfigError
from frontdesk.sip.sdp import SessionDescription, negotiate

OFFER_9_0_8 = (
    b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    b"m=audio 4000 RTP/AVP 9 0 8\r\n"
)


def test_default_prefers_g722() -> None:
    settings = load_settings(None, pbx_addresses=["127.0.0.1"])
    assert settings.codecs == ["G722", "PCMU", "PCMA"]


def test_environment_list_and_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_CODECS", "pcma, pcmu")
    assert load_settings(None).codecs == ["PCMA", "PCMU"]


@pytest.mark.parametrize("bad", ["", "G729", "PCMU,PCMU"])
def test_bad_codec_lists_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="G722, PCMU, PCMA"):
        load_settings(None, codecs=bad)


def test_the_edge_answers_with_the_configured_codecs() -> None:
    offer = SessionDescription.parse(OFFER_9_0_8)
    for codecs, expected in ((["G722", "PCMU"], "G722"), (["PCMU", "PCMA"], "PCMU")):
        edge = EdgeServer(load_settings(None, codecs=codecs), AcceptAll())
        assert negotiate(offer, edge.setup.local_media(10000)).codec == expected
