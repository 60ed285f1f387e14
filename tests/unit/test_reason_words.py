"""Every refusal reason a tenant can meet in history has plain words (issue 15: people's words)."""

from frontdesk.calls.decision import RefusalReason
from frontdesk.web.words import REASON_WORDS, reason_words


def test_every_refusal_reason_has_plain_words() -> None:
    missing = [r.value for r in RefusalReason if r.value not in REASON_WORDS]
    assert missing == []


def test_no_plain_word_is_a_sip_code() -> None:
    for reason in RefusalReason:
        words = reason_words(reason.value)
        assert words != "other"
        assert not any(ch.isdigit() for ch in words), words
