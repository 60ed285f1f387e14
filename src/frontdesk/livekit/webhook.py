"""POST /livekit/webhook: LiveKit's own word that a call ended, a second signal for the slot.

Owns: verifying each request with livekit-api's `WebhookReceiver` (a JWT signed with our
API secret, carrying the body's sha256) and closing the call it names:

    participant_left, a SIP participant  → close by its `sip.callIDFull` (the row's Call-ID)
    room_finished, a room we tagged      → close by the session id in its metadata

Closing goes through `calls.close_*` (DELETE … RETURNING), so whichever of the job, the
reconciler and this endpoint comes first closes the call, and the others change nothing.
Every other event is acknowledged and ignored. A request that fails verification gets 401
and changes nothing; a body that is not a webhook event gets 400.

Must not: log numbers or participant identities (PII), or trust anything unverified.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from google.protobuf.json_format import ParseError
from livekit import api
from livekit.protocol.models import ParticipantInfo

from frontdesk.livekit.calls import ATTR_CALL_ID, ATTR_CALL_ID_FULL
from frontdesk.livekit.client import LiveKitCredentials
from frontdesk.livekit.reconcile import session_of
from frontdesk.store.engine import Pool
from frontdesk.store.slots import close_by_call_id, close_session

log = logging.getLogger(__name__)


def webhook_router(pool: Pool, credentials: LiveKitCredentials) -> APIRouter:
    receiver = api.WebhookReceiver(api.TokenVerifier(credentials.api_key, credentials.api_secret))
    router = APIRouter()

    @router.post("/livekit/webhook", include_in_schema=False)
    async def livekit_webhook(request: Request) -> JSONResponse:
        body = (await request.body()).decode("utf-8", errors="replace")
        token = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not token:
            return JSONResponse({"error": "missing Authorization"}, status_code=401)
        try:
            event = receiver.receive(body, token)
        except ParseError:  # verified, but not a webhook event
            return JSONResponse({"error": "not a LiveKit webhook event"}, status_code=400)
        except Exception as exc:  # bad signature, other key, expired, body hash mismatch
            log.warning("LiveKit webhook refused: %s", type(exc).__name__)
            return JSONResponse({"error": "webhook not verified"}, status_code=401)
        closed = 0
        if event.event == "participant_left" and event.participant.kind == ParticipantInfo.SIP:
            attrs = event.participant.attributes
            call_id = attrs.get(ATTR_CALL_ID_FULL) or attrs.get(ATTR_CALL_ID)
            if call_id:
                closed = len(await close_by_call_id(pool, call_id, "webhook-participant-left"))
        elif event.event == "room_finished":
            session_id = session_of(event.room.metadata)
            if session_id is not None:
                closed = int(await close_session(pool, session_id, "webhook-room-finished"))
        return JSONResponse({"event": event.event, "closed": closed})

    return router
