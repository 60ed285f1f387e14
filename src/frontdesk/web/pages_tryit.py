""" "Talk to your receptionist": the signalling of a browser test call to one number.

Owns: `POST /numbers/{id}/call` (the page's SDP offer in, the node's SDP answer out) and
`POST /numbers/{id}/call/{call_id}/hangup`, and the text chat `POST /numbers/{id}/chat`
(the same receptionist and LLM, text only: `frontdesk.agent.chat`), for a signed-in owner
or member of the number's organization, or an operator; CSRF-protected like every unsafe
request.
The call itself (routing, admission, agent, history) is the browser front's
(`frontdesk.webrtc.calls.BrowserCalls`, on `app.state.browser_calls`).

Must not: admit, route or record calls itself, or import the SIP edge.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from frontdesk.agent.chat import ChatTurn, chat_reply
from frontdesk.tenancy.config import TenantConfig, merge
from frontdesk.web.auth import CurrentUser, PoolDep, SettingsDep, csrf_protect
from frontdesk.web.service import get_number_view
from frontdesk.webrtc.calls import Answered, BrowserCalls

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

SDP_MAX = 20_000  # a browser's audio-only offer is ~3-6 kB


class Offer(BaseModel):
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


CHAT_TEXT_MAX = 2_000
CHAT_TURNS_MAX = 40


class ChatLine(BaseModel):
    role: Literal["user", "assistant"]
    text: str = Field(max_length=CHAT_TEXT_MAX)


class ChatRequest(BaseModel):
    text: str = Field(min_length=1, max_length=CHAT_TEXT_MAX)
    history: list[ChatLine] = Field(default_factory=list, max_length=CHAT_TURNS_MAX)


NO_NODE = "Test calls need a running node: start it with `frontdesk run`."


def _calls(request: Request) -> BrowserCalls | None:
    calls: BrowserCalls | None = getattr(request.app.state, "browser_calls", None)
    return calls


@router.post("/numbers/{number_id}/call")
async def place_call(
    request: Request, number_id: UUID, offer: Offer, user: CurrentUser, pool: PoolDep
) -> Response:
    """Call the number from the browser: the offer goes through routing and admission."""
    view = await get_number_view(pool, user, number_id)  # 404 outside the user's orgs
    calls = _calls(request)
    if calls is None:  # the page shows the words, as for a refusal
        return JSONResponse({"detail": NO_NODE, "reason": None}, status_code=503)
    result = await calls.place(view.row.phone_number, user.email, offer.sdp)
    if isinstance(result, Answered):
        return JSONResponse({"call_id": result.call_id, "sdp": result.sdp, "type": "answer"})
    reason = result.reason.value if result.reason is not None else None
    return JSONResponse({"detail": result.message, "reason": reason}, status_code=result.status)


@router.post("/numbers/{number_id}/call/{call_id}/hangup")
async def hang_up(
    request: Request, number_id: UUID, call_id: str, user: CurrentUser, pool: PoolDep
) -> Response:
    """End the caller's own test call (the slot is freed once, whoever ends it first)."""
    await get_number_view(pool, user, number_id)
    calls = _calls(request)
    ended = calls.hang_up(call_id, user.email) if calls is not None else False
    return JSONResponse({"ended": ended})


@router.post("/numbers/{number_id}/chat")
async def chat(
    number_id: UUID, body: ChatRequest, user: CurrentUser, pool: PoolDep, settings: SettingsDep
) -> Response:
    """One reply of the number's receptionist in the text chat (nothing is stored)."""
    view = await get_number_view(pool, user, number_id)
    config = merge(view.org_config or TenantConfig(), view.row.config_override)
    history = [ChatTurn(line.role, line.text) for line in body.history]
    reply = await chat_reply(config, settings, view.row.phone_number, history, body.text)
    return JSONResponse({"reply": reply})
