"""What an outbox row looks like on the wire: a signed webhook request, an email.

Owns: the webhook body (the event's payload plus its delivery id, serialised once, so the
bytes signed are the bytes sent), its headers and HMAC-SHA256 signature, the check a
receiver makes (`verify_signature`, used by our tests and shown in the README), and the
email (subject naming the business, the kind and the caller; plain text and HTML).
Pure: no sockets, no clock (the timestamp is passed in).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from uuid import UUID

SIGNATURE_PREFIX = "sha256="


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify_signature(
    secret: str, timestamp: str, body: bytes, received: str, now: float, tolerance_s: float = 300
) -> bool:
    """A receiver's check: the signature matches and the timestamp is recent."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent_at) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, sent_at, body), received)


def webhook_body(delivery_id: UUID, payload: Mapping[str, Any]) -> bytes:
    """The JSON POSTed: the payload with its delivery id; the same bytes on every attempt."""
    document = {"delivery_id": str(delivery_id), **payload}
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def webhook_headers(
    delivery_id: UUID, event: str, body: bytes, secret: str | None, timestamp: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "frontdesk-webhooks/1",
        "X-Frontdesk-Event": event,
        "X-Frontdesk-Delivery": str(delivery_id),
        "X-Frontdesk-Timestamp": str(timestamp),
    }
    if secret:
        headers["X-Frontdesk-Signature"] = signature(secret, timestamp, body)
    return headers


# -- email -----------------------------------------------------------------------------


def _kind(payload: Mapping[str, Any]) -> str:
    ticket = payload.get("ticket") or {}
    if ticket.get("kind"):
        return str(ticket["kind"])
    data = payload.get("summary_data") or {}
    return str(data.get("intent") or "call")


def subject(payload: Mapping[str, Any]) -> str:
    business = (payload.get("organization") or {}).get("name") or "frontdesk"
    caller = (payload.get("call") or {}).get("caller") or "an unknown caller"
    event = payload.get("event")
    if event == "ticket.created":
        line = f"{business}: new {_kind(payload)} from {caller}"
    elif event == "call.ended":
        line = f"{business}: call from {caller} ({_kind(payload)})"
    else:
        line = f"{business}: test notification"
    return " ".join(line.split())[:200]  # no CR/LF: a header


def _facts(payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    call = payload.get("call") or {}
    number = payload.get("number") or {}
    ticket = payload.get("ticket") or {}
    data = payload.get("summary_data") or {}
    dialled = number.get("phone_number") or call.get("called") or ""
    if number.get("label"):
        dialled = f"{dialled} ({number['label']})"
    facts: list[tuple[str, str]] = [
        ("Business", str((payload.get("organization") or {}).get("name") or "")),
        ("Event", str(payload.get("event") or "")),
        ("Kind", _kind(payload)),
        ("Caller", str(call.get("caller") or "")),
        ("Dialled", str(dialled)),
    ]
    if payload.get("summary"):
        facts.append(("Summary", str(payload["summary"])))
    if ticket.get("subject"):
        facts.append(("Ticket", str(ticket["subject"])))
    if ticket.get("details"):
        facts.append(("Details", str(ticket["details"])))
    for ticket_item in payload.get("tickets") or []:
        facts.append(("Ticket", f"{ticket_item.get('kind')}: {ticket_item.get('subject')}"))
    for key, title in (("caller_name", "Caller's name"), ("callback_number", "Call back on")):
        if data.get(key):
            facts.append((title, str(data[key])))
    if data.get("outcome"):
        facts.append(("Outcome", str(data["outcome"])))
    if call.get("duration_s") is not None:
        facts.append(("Duration", f"{float(call['duration_s']):.0f} s"))
    if payload.get("message"):
        facts.append(("Message", str(payload["message"])))
    when = payload.get("occurred_at")
    if when:
        facts.append(("When", str(when)))
    return [(k, v) for k, v in facts if v]


def email_message(
    delivery_id: UUID, payload: Mapping[str, Any], sender: str, recipients: list[str]
) -> EmailMessage:
    """The email for one delivery: plain text and an HTML alternative."""
    message = EmailMessage()
    message["Subject"] = subject(payload)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    domain = sender.rpartition("@")[2] or "frontdesk.invalid"
    message["Message-ID"] = make_msgid(idstring=str(delivery_id), domain=domain)
    message["X-Frontdesk-Delivery"] = str(delivery_id)
    facts = _facts(payload)
    text = "\n".join(f"{key}: {value}" for key, value in facts)
    message.set_content(f"{subject(payload)}\n\n{text}\n\nDelivery {delivery_id}\n")
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
        for k, v in facts
    )
    message.add_alternative(
        f"<html><body><h2>{html.escape(subject(payload))}</h2><table>{rows}</table>"
        f"<p><small>Delivery {delivery_id}</small></p></body></html>",
        subtype="html",
    )
    return message
