"""The post-call summary by the org's language model: one chat request, JSON out.

The model is an OpenAI-compatible HTTP server on loopback (the paid API is the only thing
faked); the client is the real `openai` package, pointed at it by FRONTDESK_OPENAI_BASE_URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from tests.conftest import edge_settings

from frontdesk.agent.summary import TicketFacts, summarise_with_llm
from frontdesk.tenancy.config import TenantConfig

pytestmark = [pytest.mark.integration]


class ChatServer:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.answer: dict[str, Any] = {}
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(await request.json())
        if self.status != 200:
            return web.json_response({"error": {"message": "down"}}, status=self.status)
        return web.json_response(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": "test-model",
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps(self.answer)},
                    }
                ],
            }
        )


@pytest.fixture
async def chat() -> AsyncIterator[ChatServer]:
    server = ChatServer()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    server.runner = web.AppRunner(app)
    await server.runner.setup()
    site = web.TCPSite(server.runner, "127.0.0.1", 0)
    await site.start()
    server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server
    finally:
        await server.runner.cleanup()


TRANSCRIPT = [
    {"role": "agent", "text": "Ready to take your order"},
    {"role": "caller", "text": "Two pizzas for delivery, I'm Anna, call me on 333 1112222"},
]
TICKETS = [TicketFacts("t1", "order", "two pizzas for delivery", "to Via Roma 3")]


async def test_one_request_to_the_orgs_model_and_its_fields(chat: ChatServer) -> None:
    chat.answer = {
        "summary": "Anna ordered two pizzas for delivery to Via Roma 3.",
        "intent": "order",
        "outcome": "ticket",
        "caller_name": "Anna",
        "callback_number": "+393331112222",
    }
    settings = edge_settings(
        openai_api_key="test-key", openai_base_url=f"http://127.0.0.1:{chat.port}/v1"
    )
    config = TenantConfig(llm="openai", llm_model="small-model")
    summary = await summarise_with_llm(TRANSCRIPT, TICKETS, "bye-caller", config, settings)
    assert summary.text == "Anna ordered two pizzas for delivery to Via Roma 3."
    assert summary.data["source"] == "llm" and summary.data["caller_name"] == "Anna"
    assert summary.data["callback_number"] == "+393331112222"
    assert summary.data["tickets"][0]["kind"] == "order"  # from the database, not the model
    (request,) = chat.requests
    assert request["model"] == "small-model"
    assert request["response_format"] == {"type": "json_object"}
    prompt = request["messages"][1]["content"]
    assert "Two pizzas for delivery" in prompt and "order: two pizzas for delivery" in prompt


async def test_a_failing_model_leaves_the_transcripts_summary(chat: ChatServer) -> None:
    chat.status = 500
    settings = edge_settings(
        openai_api_key="test-key", openai_base_url=f"http://127.0.0.1:{chat.port}/v1"
    )
    summary = await summarise_with_llm(
        TRANSCRIPT, TICKETS, "bye-caller", TenantConfig(llm="openai"), settings
    )
    assert summary.text == "The caller placed an order: two pizzas for delivery."
    assert summary.data["source"] == "transcript-fallback"
    assert 1 <= len(chat.requests) <= 2  # one request, and the client's one retry
    chat.status, chat.answer = 200, {"summary": ""}  # an empty answer counts as a failure
    empty = await summarise_with_llm(
        TRANSCRIPT, TICKETS, "bye-caller", TenantConfig(llm="openai"), settings
    )
    assert empty.data["source"] == "transcript-fallback"
