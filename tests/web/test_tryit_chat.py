"""The text chat with a number's receptionist: the knowledge base answers, RLS and CSRF hold.

Runs the real app on the embedded Postgres; the number's receptionist uses the offline
knowledge-base LLM in a text-only LiveKit AgentSession (no model download, no network).
"""

from __future__ import annotations

from tests.integration.store.support import run_async
from tests.web.conftest import ALPHA_MEMBER, ALPHA_NUMBERS, BETA_OWNER, WebApp

from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

NUMBER = ALPHA_NUMBERS[0]


async def _knowledge(conninfo: str) -> None:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(
                conn, NUMBER, default_country="IT",
                override_changes={"knowledge_base": [
                    {"question": "Do you deliver?", "answer": "Yes, within 5 km, for 2 euros."},
                    {"question": "When are you open?", "answer": "Every day from 6 pm to 11 pm."},
                ]},
            )  # fmt: skip
    finally:
        await pool.close()


def test_a_member_chats_with_the_receptionist_and_hears_the_knowledge_base(web: WebApp) -> None:
    run_async(_knowledge(web.conninfo))
    number_id = web.numbers[NUMBER]
    with web.client(web.tokens[ALPHA_MEMBER]) as client:
        first = client.post(f"/numbers/{number_id}/chat", json={"text": "Do you deliver?"})
        assert first.status_code == 200, first.text
        assert "within 5 km" in first.json()["reply"]
        history = [
            {"role": "user", "text": "Do you deliver?"},
            {"role": "assistant", "text": first.json()["reply"]},
        ]
        second = client.post(
            f"/numbers/{number_id}/chat",
            json={"text": "What are your opening hours?", "history": history},
        )
        assert second.status_code == 200, second.text
        assert "6 pm to 11 pm" in second.json()["reply"]
        empty = client.post(f"/numbers/{number_id}/chat", json={"text": ""})
        assert empty.status_code == 422
    with web.client(web.tokens[BETA_OWNER]) as other:  # another organization's number
        refused = other.post(f"/numbers/{number_id}/chat", json={"text": "Do you deliver?"})
        assert refused.status_code == 404
    with web.client() as anonymous:
        assert anonymous.post(
            f"/numbers/{number_id}/chat", json={"text": "Do you deliver?"}
        ).status_code in (401, 303)


def test_a_call_without_a_node_says_so(web: WebApp) -> None:
    # the web app alone (no agent, no browser front): a clear 503, nothing half-placed
    with web.client(web.tokens[ALPHA_MEMBER]) as client:
        answer = client.post(
            f"/numbers/{web.numbers[NUMBER]}/call", json={"sdp": "v=0\r\nm=audio 9 UDP\r\n"}
        )
    assert answer.status_code == 503
    assert "frontdesk run" in answer.json()["detail"]
