"""Webhooks go to public addresses only: the rule, and the real sender against a real
receiver on loopback (refused by default, by IP literal and by a name that resolves to
it; delivered once the operator allows the network)."""

from __future__ import annotations

import ipaddress

import pytest
from tests.support.receivers import WebhookReceiver

from frontdesk.config import load_settings
from frontdesk.errors import ConfigError
from frontdesk.notify.address_guard import may_send_to
from frontdesk.notify.senders import WebhookSender


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("8.8.8.8", True), ("2a00:1450:4002:40b::200e", True), ("93.62.1.10", True),
     ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.1.50", False),
     ("172.16.0.9", False), ("169.254.169.254", False), ("100.64.0.1", False),
     ("0.0.0.0", False), ("::1", False), ("fd00::1", False), ("fe80::1", False),
     ("::ffff:127.0.0.1", False), ("224.0.0.1", False)],
)  # fmt: skip
def test_only_public_addresses_by_default(address: str, allowed: bool) -> None:
    assert may_send_to(ipaddress.ip_address(address)) is allowed


def test_an_allowed_network_opens_only_itself() -> None:
    office = (ipaddress.ip_network("10.1.2.0/24"),)
    assert may_send_to(ipaddress.ip_address("10.1.2.7"), office)
    assert not may_send_to(ipaddress.ip_address("10.1.3.7"), office)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_the_sender_refuses_loopback_until_it_is_allowed(host: str) -> None:
    receiver = WebhookReceiver("s3cret")
    await receiver.start()
    url = receiver.url.replace("127.0.0.1", host)
    body, headers = b'{"event": "test"}', {"Content-Type": "application/json"}
    try:
        default = WebhookSender(load_settings(None))
        try:
            refused = await default.send(url, body, headers)
        finally:
            await default.close()
        assert not refused.ok and "internal address" in refused.detail, refused
        assert "FRONTDESK_WEBHOOK_ALLOW_NETWORKS" in refused.detail
        assert receiver.attempts == []  # nothing reached it

        allowing = WebhookSender(load_settings(None, webhook_allow_networks="127.0.0.0/8"))
        try:
            sent = await allowing.send(url, body, headers)
        finally:
            await allowing.close()
        # it arrived (the receiver answers 401: this test does not sign its body)
        assert sent.detail.startswith("HTTP ") and len(receiver.attempts) == 1, sent
    finally:
        await receiver.stop()


def test_a_bad_allowed_network_is_a_settings_error() -> None:
    with pytest.raises(ConfigError, match="webhook network 'the office'"):
        load_settings(None, webhook_allow_networks="the office")
