""" "Talk to your receptionist": the signalling of a browser test call to one number.

Owns: `POST /numbers/{id}/call` (the page's SDP offer in, the node's SDP answer out) and
`POST /numbers/{id}/call/{call_id}/hangup`, for a signed-in owner or member of the
number's organization, or an operator; both CSRF-protected like every unsafe request.
The call itself (routing, admission, agent, history) is the browser front's
(`frontdesk.webrtc.calls.BrowserCalls`, on `app.state.browser_calls`).

Must not: admit, route or record calls itself, or import the SIP edge.
"""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from frontdesk.web.auth import CurrentUser, PoolDep, csrf_protect
from frontdesk.web.service import get_number_view
from frontdesk.webrtc.calls import Answered, BrowserCalls

router = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])

SDP_MAX = 20_000  # a browser's audio-only offer is ~3-6 kB


class Offer(BaseModel):
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


def _calls(request: Request) -> BrowserCalls:
    calls: BrowserCalls | None = getattr(request.app.state, "browser_calls", None)
    if calls is None:
        raise HTTPException(503, "Test calls need a running node: start it with `frontdesk run`.")
    return calls


@router.post("/numbers/{number_id}/call")
async def place_call(
    request: Request, number_id: UUID, offer: Offer, user: CurrentUser, pool: PoolDep
) -> Response:
    """Call the number from the browser: the offer goes through routing and admission."""
    view = await get_number_view(pool, user, number_id)  # 404 outside the user's orgs
    calls = _calls(request)
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
    ended = _calls(request).hang_up(call_id, user.email)
    return JSONResponse({"ended": ended})
