"""Every refusal reason has its answer on both fronts and its history label.

`RefusalReason` is the one list of reasons; adding one without its SIP answer
(`edge.answers.sip_answer`), its LiveKit answer (`livekit.answers.livekit_answer`) or its
dashboard group (`store.history.REFUSAL_GROUPS`) fails here. (Its SQL name is checked
against the database in tests/integration/store/test_refusal_reasons_sql.py.)
"""

from __future__ import annotations

import pytest

from frontdesk.calls.decision import RefusalReason
from frontdesk.edge.answers import AnswerPolicy, sip_answer
from frontdesk.livekit.answers import livekit_answer
from frontdesk.store.history import HISTORY_REASONS, REFUSAL_GROUP_ORDER, REFUSAL_GROUPS

POLICIES = (AnswerPolicy(), AnswerPolicy(node_busy_503=True, retry_after=7))


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_every_reason_has_a_sip_answer(reason: RefusalReason) -> None:
    for policy in POLICIES:
        answer = sip_answer(reason, policy)  # raises (assert_never) for a forgotten reason
        assert 400 <= answer.status < 700 and answer.phrase
        headers = dict(answer.headers)
        if answer.status == 503:  # DESIGN §2: a PBX may fail over, and knows when to retry
            assert headers["Retry-After"] == str(policy.retry_after)
        if answer.status == 486:
            assert headers["X-Frontdesk-Limit"] in ("number", "org", "node")


@pytest.mark.parametrize("reason", list(RefusalReason))
def test_every_reason_has_a_livekit_answer(reason: RefusalReason) -> None:
    answer = livekit_answer(reason)
    # what livekit/sip answers when the room goes before the agent's track (pkg/sip/types.go)
    assert (answer.status, answer.phrase) == (486, "Rejected")


def test_every_reason_has_a_history_label_and_a_filter_entry() -> None:
    assert set(REFUSAL_GROUPS) == set(RefusalReason)
    assert set(REFUSAL_GROUPS.values()) <= set(REFUSAL_GROUP_ORDER)
    assert {r.value for r in RefusalReason} <= set(HISTORY_REASONS)


def test_the_answers_of_design_section_2() -> None:
    default, failover = POLICIES
    R = RefusalReason
    assert sip_answer(R.UNKNOWN_NUMBER, default).status == 404
    assert {sip_answer(r, default).status for r in (R.NUMBER_INACTIVE, R.ORG_SUSPENDED)} == {480}
    for level in ("number", "org", "node"):
        answer = sip_answer(R(f"limit-{level}"), default)
        assert (answer.status, answer.headers) == (486, (("X-Frontdesk-Limit", level),))
    assert sip_answer(R.LIMIT_NODE, failover).headers == (("Retry-After", "7"),)
    assert sip_answer(R.LIMIT_NUMBER, failover).status == 486  # only the node's limit fails over
    assert sip_answer(R.DATABASE_UNAVAILABLE, default).status == 503
    assert sip_answer(R.UNACCEPTABLE_MEDIA, default).status == 488


def test_a_forgotten_reason_fails_the_mappings() -> None:
    """What the tests above rely on: an unmapped value is refused, not answered 'somehow'."""
    stranger = "not-a-reason"
    with pytest.raises(AssertionError):
        sip_answer(stranger, AnswerPolicy())  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        livekit_answer(stranger)  # type: ignore[arg-type]
