"""`/api/v1/organization` and the settings page's forms over HTTP, against the real app.

Owners change their organization's receptionist, members only read, another organization
is not reachable, operators name one with ?org=, a bad field saves nothing (not even the
good fields beside it), forms need the CSRF token, and the voice sample is real audio.
"""

from __future__ import annotations

import io
import wave
from contextlib import closing

import httpx
import pytest
from tests.integration.store.support import run_async
from tests.web.conftest import (
    ALPHA_MEMBER,
    ALPHA_NUMBERS,
    ALPHA_OWNER,
    BETA_OWNER,
    OPERATOR,
    WebApp,
)
from tests.web.test_api import login_client

from frontdesk.store.engine import open_pool
from frontdesk.store.numbers import update_number
from frontdesk.store.tx import operator_tx

pytestmark = pytest.mark.integration

FAQ = [{"question": "Is there parking?", "answer": "Free parking behind the restaurant."}]


def session(web: WebApp, email: str) -> tuple[httpx.Client, str]:
    """A logged-in browser-like client and its session's CSRF token."""
    return login_client(web, email)


def test_owner_reads_and_changes_everything_in_one_patch(web: WebApp) -> None:
    with web.client(web.tokens[ALPHA_OWNER]) as client:
        before = client.get("/api/v1/organization").json()
        assert before["organization"] == "alpha" and before["editable"] is True
        assert before["system_prompt_used"] is False  # the offline responder
        assert [v["value"] for v in before["voices"]] == ["default"]
        answer = client.patch(
            "/api/v1/organization",
            json={
                "greeting": "Alpha Pizzeria, good evening!",
                "transfer_target": "201",
                "knowledge_base": FAQ,
                "knowledge_text": "Open 6 pm to 11 pm.",
            },
        )
        assert answer.status_code == 200, answer.text
        after = client.get("/api/v1/organization").json()
    assert after["greeting"] == "Alpha Pizzeria, good evening!"
    assert after["transfer_target"] == "201"
    assert after["knowledge_base"] == FAQ
    assert after["knowledge_text"] == "Open 6 pm to 11 pm."
    assert after["language"] == before["language"]  # not named: unchanged


def test_a_bad_field_saves_nothing_and_names_each_field(web: WebApp) -> None:
    with web.client(web.tokens[ALPHA_OWNER]) as client:
        answer = client.patch(
            "/api/v1/organization",
            json={
                "greeting": "Should not be saved",
                "language": "not a language",
                "knowledge_base": [{"question": "", "answer": "x"}],
            },
        )
        assert answer.status_code == 422, answer.text
        fields = {e["field"] for e in answer.json()["errors"]}
        assert fields == {"language", "knowledge_base.0.question"}
        assert client.get("/api/v1/organization").json()["greeting"] != "Should not be saved"
        unknown = client.patch("/api/v1/organization", json={"stt": "openai"})
        assert unknown.status_code == 422  # not an organization setting of this API


def test_member_reads_but_cannot_change(web: WebApp) -> None:
    with web.client(web.tokens[ALPHA_MEMBER]) as client:
        assert client.get("/api/v1/organization").json()["editable"] is False
        answer = client.patch("/api/v1/organization", json={"greeting": "Hijacked"})
        assert answer.status_code == 403
    client, csrf = session(web, ALPHA_MEMBER)
    with closing(client):
        form = client.post("/organization", data={"csrf_token": csrf, "greeting": "Hijacked"})
        assert form.status_code == 403
        kb = client.post(
            "/organization/knowledge",
            data={"csrf_token": csrf, "position": "", "question": "Q?", "answer": "A"},
        )
        assert kb.status_code == 403
    with web.client(web.tokens[ALPHA_OWNER]) as owner:
        assert owner.get("/api/v1/organization").json()["greeting"] != "Hijacked"


def test_another_organization_is_not_reachable(web: WebApp) -> None:
    with web.client(web.tokens[BETA_OWNER]) as client:
        assert client.get("/api/v1/organization?org=alpha").status_code == 404
        assert (
            client.patch("/api/v1/organization?org=alpha", json={"greeting": "x"}).status_code
            == 404
        )
        assert client.get("/api/v1/organization").json()["organization"] == "beta"
    client, _ = session(web, BETA_OWNER)
    with closing(client):
        assert client.get("/organization?org=alpha").status_code == 404
        assert client.get("/organization/voice-sample?org=alpha").status_code == 404


def test_operator_names_the_organization(web: WebApp) -> None:
    with web.client(web.tokens[OPERATOR]) as client:
        assert client.get("/api/v1/organization").status_code == 400
        assert client.get("/api/v1/organization?org=nope").status_code == 404
        answer = client.patch("/api/v1/organization?org=beta", json={"greeting": "Beta Legal."})
        assert answer.status_code == 200, answer.text
    with web.client(web.tokens[BETA_OWNER]) as client:
        assert client.get("/api/v1/organization").json()["greeting"] == "Beta Legal."


def test_forms_need_the_csrf_token_and_show_errors_next_to_the_field(web: WebApp) -> None:
    client, csrf = session(web, ALPHA_OWNER)
    with closing(client):
        assert client.post("/organization", data={"greeting": "x"}).status_code == 403
        bad = client.post(
            "/organization",
            data={"csrf_token": csrf, "greeting": "Kept in the form", "language": "xx yy"},
        )
        assert bad.status_code == 422
        assert 'id="error-language"' in bad.text and "Kept in the form" in bad.text
        saved = client.post(
            "/organization",
            data={"csrf_token": csrf, "greeting": "Hello from Alpha.", "language": "en",
                  "voice": "default", "system_prompt": "Be brief.", "transfer_target": ""},
        )  # fmt: skip
        assert saved.status_code == 303
        assert "done=settings-saved" in saved.headers["location"]
        # knowledge base: add two, then reorder and delete in one save
        client.post(
            "/organization/knowledge",
            data={"csrf_token": csrf, "position": ["", ""], "question": ["A?", "B?"],
                  "answer": ["a", "b"], "knowledge_text": ""},
        )  # fmt: skip
        client.post(
            "/organization/knowledge",
            data={"csrf_token": csrf, "position": ["2", "1", ""], "question": ["A?", "B?", "C?"],
                  "answer": ["a", "b", "c"], "delete": ["0"], "knowledge_text": "Notes."},
        )  # fmt: skip
        wrong = client.post(
            "/organization/knowledge",
            data={"csrf_token": csrf, "position": ["1", "x"], "question": ["B?", "D?"],
                  "answer": ["b", ""], "knowledge_text": ""},
        )  # fmt: skip
        assert wrong.status_code == 422
        assert 'id="error-row-1"' in wrong.text
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        got = api.get("/api/v1/organization").json()
    assert got["greeting"] == "Hello from Alpha." and got["transfer_target"] is None
    assert [e["question"] for e in got["knowledge_base"]] == ["B?", "C?"]
    assert got["knowledge_text"] == "Notes."


def test_import_previews_then_appends_on_confirm(web: WebApp) -> None:
    client, csrf = session(web, ALPHA_OWNER)
    with closing(client):
        preview = client.post(
            "/organization/knowledge/import",
            data={"csrf_token": csrf},
            files={"file": ("faq.csv", b"question,answer\nDo you deliver?,Within 5 km.\n")},
        )
        assert preview.status_code == 200, preview.text
        assert 'id="import-preview"' in preview.text and "Within 5 km." in preview.text
        with web.client(web.tokens[ALPHA_OWNER]) as api:
            assert api.get("/api/v1/organization").json()["knowledge_base"] == []
        bad = client.post(
            "/organization/knowledge/import",
            data={"csrf_token": csrf},
            files={"file": ("faq.docx", b"x")},
        )
        assert bad.status_code == 422 and 'id="error-import"' in bad.text
        confirmed = client.post(
            "/organization/knowledge/import/confirm",
            data={"csrf_token": csrf, "question": ["Do you deliver?"], "answer": ["Within 5 km."]},
        )
        assert confirmed.status_code == 303
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        assert api.get("/api/v1/organization").json()["knowledge_base"] == [
            {"question": "Do you deliver?", "answer": "Within 5 km."}
        ]


def test_number_reset_returns_to_the_organization_value(web: WebApp) -> None:
    number = web.numbers[ALPHA_NUMBERS[0]]
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        api.patch(f"/api/v1/numbers/{number}", json={"greeting": "Number's own"})
    client, csrf = session(web, ALPHA_OWNER)
    with closing(client):
        page = client.get(f"/numbers/{number}").text
        assert 'id="origin-greeting" data-origin="overridden"' in page
        assert 'id="origin-language" data-origin="inherited"' in page
        reset = client.post(
            f"/numbers/{number}/reset", data={"csrf_token": csrf, "field": "greeting"}
        )
        assert reset.status_code == 303
        assert (
            'id="origin-greeting" data-origin="inherited"' in client.get(f"/numbers/{number}").text
        )
        bad = client.post(
            f"/numbers/{number}/reset", data={"csrf_token": csrf, "field": "no_such_setting"}
        )
        assert bad.status_code == 422
    member, member_csrf = session(web, ALPHA_MEMBER)
    with closing(member):
        refused = member.post(
            f"/numbers/{number}/reset", data={"csrf_token": member_csrf, "field": "greeting"}
        )
        assert refused.status_code == 403


@pytest.mark.slow
def test_voice_sample_is_the_greeting_as_audio(web: WebApp) -> None:
    client, _ = session(web, ALPHA_MEMBER)
    with closing(client):
        answer = client.get("/organization/voice-sample", timeout=60)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(answer.content)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert seconds > 0.8  # "Hello, how can I help you?"


async def _override_from_the_cli(conninfo: str, number: str, changes: dict[str, object]) -> None:
    pool = await open_pool(conninfo, max_size=1)
    try:
        async with operator_tx(pool, actor="test") as conn:
            await update_number(conn, number, default_country="IT", override_changes=changes)
    finally:
        await pool.close()


def test_number_page_shows_and_resets_hours_and_other_cli_overrides(web: WebApp) -> None:
    """Business hours (and keys only the CLI sets, like recording) overridden on a number
    are shown as overridden on its page, and "reset" returns them to the organization's."""
    phone = ALPHA_NUMBERS[1]
    number = web.numbers[phone]
    hours = {"timezone": "Europe/Rome", "weekly": {"mon": [{"opens": "09:00", "closes": "13:00"}]}}
    run_async(
        _override_from_the_cli(web.conninfo, phone, {"business_hours": hours, "record_calls": True})
    )
    client, csrf = session(web, ALPHA_OWNER)
    with closing(client):
        page = client.get(f"/numbers/{number}").text
        assert 'id="origin-business_hours" data-origin="overridden"' in page
        assert 'id="origin-record_calls" data-origin="overridden"' in page
        assert 'form="reset-business_hours"' in page and 'id="reset-record_calls"' in page
        for field in ("business_hours", "record_calls"):
            reset = client.post(
                f"/numbers/{number}/reset", data={"csrf_token": csrf, "field": field}
            )
            assert reset.status_code == 303, reset.text
        page = client.get(f"/numbers/{number}").text
        assert 'id="origin-business_hours" data-origin="inherited"' in page
        assert "origin-record_calls" not in page
    with web.client(web.tokens[ALPHA_OWNER]) as api:
        shown = api.get(f"/api/v1/numbers/{number}").json()
    assert "business_hours" not in str(shown.get("config_override", {})), shown
