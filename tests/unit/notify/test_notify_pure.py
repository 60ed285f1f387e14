"""The pure parts of notifications: signatures, bodies, emails, backoff, the offline summary,
and the TenantConfig keys that say where notifications go."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from frontdesk.agent.summary import TicketFacts, summarise_offline
from frontdesk.config import load_settings
from frontdesk.errors import ConfigError
from frontdesk.notify.message import (
    email_message,
    signature,
    subject,
    verify_signature,
    webhook_body,
    webhook_headers,
)
from frontdesk.notify.policy import RetryPolicy
from frontdesk.notify.senders import SmtpServer
from frontdesk.tenancy.config import (
    ConfigOverrideError,
    TenantConfig,
    merge,
    public_view,
    validate_override,
)

DELIVERY = uuid.UUID("00000000-0000-4000-8000-000000000001")
PAYLOAD = {
    "event": "ticket.created",
    "occurred_at": "2026-12-03T10:00:00+00:00",
    "organization": {"id": "o", "slug": "pizzeria", "name": "Pizzeria Da Mario"},
    "number": {"id": "n", "phone_number": "+390551234567", "label": "Orders"},
    "call": {"caller": "+393331112222", "called": "+390551234567"},
    "ticket": {"id": "t", "kind": "order", "subject": "two pizzas <b>for</b> delivery"},
}


def test_signature_is_hmac_sha256_of_timestamp_dot_body_and_verifies() -> None:
    body = webhook_body(DELIVERY, PAYLOAD)
    expected = hmac.new(b"secret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("secret", 1700000000, body) == f"sha256={expected}"
    headers = webhook_headers(DELIVERY, "ticket.created", body, "secret", 1700000000)
    assert headers["X-Frontdesk-Delivery"] == str(DELIVERY)
    assert headers["X-Frontdesk-Event"] == "ticket.created"
    assert headers["X-Frontdesk-Timestamp"] == "1700000000"
    sent = headers["X-Frontdesk-Signature"]
    assert verify_signature("secret", "1700000000", body, sent, now=1700000010)
    assert not verify_signature("other", "1700000000", body, sent, now=1700000010)
    assert not verify_signature("secret", "1700000000", body + b" ", sent, now=1700000010)
    assert not verify_signature("secret", "1700000000", body, sent, now=1700009999)  # stale
    assert not verify_signature("secret", "soon", body, sent, now=1700000010)


def test_the_body_is_the_payload_with_its_delivery_id_and_the_same_every_time() -> None:
    first, again = webhook_body(DELIVERY, PAYLOAD), webhook_body(DELIVERY, dict(PAYLOAD))
    assert first == again
    assert json.loads(first)["delivery_id"] == str(DELIVERY)


def test_email_names_business_kind_caller_and_escapes_html() -> None:
    mail = email_message(DELIVERY, PAYLOAD, "frontdesk@x.example", ["k@pizzeria.example"])
    assert mail["Subject"] == "Pizzeria Da Mario: new order from +393331112222"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "+393331112222" in text and "+390551234567 (Orders)" in text and "order" in text
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "&lt;b&gt;for&lt;/b&gt;" in html and "<b>for</b>" not in html
    ended = {**PAYLOAD, "event": "call.ended", "ticket": None, "summary_data": {"intent": "order"}}
    assert subject(ended) == "Pizzeria Da Mario: call from +393331112222 (order)"
    evil = {**PAYLOAD, "call": {"caller": "+39\r\nBcc: victim@x.example"}}
    assert "\n" not in subject(evil) and "\r" not in subject(evil)


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    policy = RetryPolicy(first_s=2.0, max_s=300.0)
    assert [policy.delay_after(n) for n in range(1, 11)] == [
        2, 4, 8, 16, 32, 64, 128, 256, 300, 300,
    ]  # fmt: skip
    assert policy.delay_after(10_000) == 300.0


def test_smtp_urls() -> None:
    plain = SmtpServer.from_url("smtp://user%40x:p%3Ass@mail.example:587")
    assert (plain.hostname, plain.port, plain.username, plain.password, plain.implicit_tls) == (
        "mail.example", 587, "user@x", "p:ss", False,
    )  # fmt: skip
    implicit = SmtpServer.from_url("smtps://mail.example")
    assert implicit.port == 465 and implicit.implicit_tls
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://mail.example")
    with pytest.raises(ConfigError, match="smtp_url"):
        load_settings(None, smtp_url="mail.example:25")
    settings = load_settings(None, smtp_url="smtp://u:secretpw@h:25")
    assert "secretpw" not in repr(settings)


def test_notification_keys_validate_merge_and_hide_the_secret() -> None:
    with pytest.raises(ConfigOverrideError, match="notify_email"):
        validate_override({"notify_email": ["a@b.example", "nope"]})
    with pytest.raises(ConfigOverrideError, match="webhook_url"):
        validate_override({"webhook_url": "javascript:alert(1)"})
    with pytest.raises(ConfigOverrideError, match="webhook_secret"):
        validate_override({"webhook_secret": "short"})
    org = TenantConfig.model_validate(
        validate_override({"notify_email": "a@b.example; c@d.example", "webhook_secret": "x" * 20})
    )
    assert org.notify_email == ("a@b.example", "c@d.example")
    assert "x" * 20 not in repr(org) and "x" * 20 not in str(org)
    assert org.model_dump(mode="json")["webhook_secret"] == "x" * 20  # stored as it is
    kitchen = merge(org, {"notify_email": ["kitchen@b.example"], "webhook_secret": "y" * 20})
    assert kitchen.notify_email == ("kitchen@b.example",)
    assert kitchen.webhook_secret is not None
    assert kitchen.webhook_secret.get_secret_value() == "y" * 20
    assert public_view({"webhook_secret": "y" * 20, "greeting": "hi"}) == {
        "webhook_secret": "(set)",
        "greeting": "hi",
    }


def test_offline_summary_of_an_order_a_question_a_transfer_and_silence() -> None:
    transcript = [
        {"role": "agent", "text": "Ready to take your order", "at": 1.0},
        {"role": "caller", "text": "Hi, this is Marco Rossi. Two pizzas for delivery.", "at": 2},
        {"role": "caller", "text": "Call me back on 333 123 4567 please", "at": 3},
    ]
    order = summarise_offline(
        transcript, [TicketFacts("t1", "order", "two pizzas for delivery")], "bye-caller"
    )
    assert order.text == "Marco Rossi placed an order: two pizzas for delivery."
    assert order.data["intent"] == "order" and order.data["outcome"] == "ticket"
    assert order.data["caller_name"] == "Marco Rossi"
    assert order.data["callback_number"] == "3331234567"
    assert order.data["tickets"] == [
        {"id": "t1", "kind": "order", "subject": "two pizzas for delivery"}
    ]
    question = summarise_offline([{"role": "caller", "text": "Do you deliver?"}], [], "bye-caller")
    assert question.text == 'The caller said: "Do you deliver?".'
    assert question.data["intent"] == "enquiry" and question.data["caller_name"] is None
    moved = summarise_offline([{"role": "caller", "text": "A person please"}], [], "transferred")
    assert moved.data["outcome"] == "transferred" and "transferred to a person" in moved.text
    silent = summarise_offline([{"role": "agent", "text": "Hello?"}], [], "media-timeout")
    assert silent.data == {**silent.data, "intent": "none", "outcome": "no-speech"}
    assert len(summarise_offline([{"role": "caller", "text": "x" * 5000}], [], "b").text) <= 600
