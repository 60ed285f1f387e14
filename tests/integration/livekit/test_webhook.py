"""POST /livekit/webhook: verified with livekit-api's receiver, closes the call once."""

from __future__ import annotations

import base64
import hashlib
import json

import httpx
from fastapi import FastAPI
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol import models, webhook
from tests.integration.livekit.fake_livekit import API_KEY, API_SECRET
from tests.integration.store.support import Seed

from frontdesk.livekit.client import LiveKitCredentials
from frontdesk.livekit.webhook import webhook_router
from frontdesk.store.engine import Pool


def _signed(body: str, secret: str = API_SECRET) -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    token = api.AccessToken(API_KEY, secret).with_sha256(digest).to_jwt()
    return {"Authorization": token, "Content-Type": "application/webhook+json"}


def _left(call_id: str) -> str:
    event = webhook.WebhookEvent(
        event="participant_left",
        room=models.Room(name="call-_x_1"),
        participant=models.ParticipantInfo(
            identity="sip_x",
            kind=models.ParticipantInfo.SIP,
            attributes={"sip.callIDFull": call_id},
        ),
    )
    return MessageToJson(event)


async def _post(pool: Pool, body: str, headers: dict[str, str]) -> httpx.Response:
    app = FastAPI()
    app.include_router(webhook_router(pool, LiveKitCredentials("http://x", API_KEY, API_SECRET)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/livekit/webhook", content=body, headers=headers)


async def _live(pool: Pool) -> list[str]:
    async with pool.connection() as conn:
        cursor = await conn.execute(b"SELECT call_id_sip FROM active_calls ORDER BY 1")
        return [row[0] for row in await cursor.fetchall()]


async def test_participant_left_closes_the_call_once(pool: Pool, seed: Seed) -> None:
    body = _left("call-alpha@pbx")
    first = await _post(pool, body, _signed(body))
    assert first.status_code == 200 and first.json() == {"event": "participant_left", "closed": 1}
    assert await _live(pool) == ["call-beta@pbx"]
    again = await _post(pool, body, _signed(body))
    assert again.json()["closed"] == 0
    async with pool.connection() as conn:
        cursor = await conn.execute(b"SELECT outcome, reason FROM sessions WHERE id = %s",
                                    (seed.a.session,))  # fmt: skip
        assert await cursor.fetchone() == ("cancelled", "webhook-participant-left")


async def test_room_finished_closes_by_the_tagged_session(pool: Pool, seed: Seed) -> None:
    metadata = json.dumps({"frontdesk_session": str(seed.b.session)})
    event = webhook.WebhookEvent(
        event="room_finished", room=models.Room(name="r", metadata=metadata)
    )
    body = MessageToJson(event)
    response = await _post(pool, body, _signed(body))
    assert response.json() == {"event": "room_finished", "closed": 1}
    assert await _live(pool) == ["call-alpha@pbx"]


async def test_unverified_requests_change_nothing(pool: Pool, seed: Seed) -> None:
    body = _left("call-alpha@pbx")
    wrong_secret = await _post(pool, body, _signed(body, secret="another-secret-0123456789abcdef!"))
    tampered = await _post(pool, _left("call-beta@pbx"), _signed(body))  # hash of another body
    missing = await _post(pool, body, {})
    assert [r.status_code for r in (wrong_secret, tampered, missing)] == [401, 401, 401]
    assert await _live(pool) == ["call-alpha@pbx", "call-beta@pbx"]


async def test_a_verified_body_that_is_not_an_event_is_a_bad_request(
    pool: Pool, seed: Seed
) -> None:
    body = '{"event": 12, "room": "nope"}'
    response = await _post(pool, body, _signed(body))
    assert response.status_code == 400
    assert await _live(pool) == ["call-alpha@pbx", "call-beta@pbx"]
