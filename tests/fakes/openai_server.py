"""A local OpenAI-compatible chat-completions server for tests, scripted per test.

Owns: `POST /v1/chat/completions` with `stream: true`, answered in the API's own wire
format (server-sent events: one `data: {chat.completion.chunk}` per event, the first delta
carrying `role`, text as `delta.content` fragments, tool calls as `delta.tool_calls`
fragments (`index`, then `id`, `type` and `function.name` once, then `function.arguments`
in pieces), a last choice chunk with `finish_reason` (`stop` or `tool_calls`), a usage
chunk with empty `choices` when `stream_options.include_usage` is asked, then
`data: [DONE]`), `POST /v1/audio/speech` (the input spoken by the test voice, piper,
as `audio/wav` at 24 kHz, what an OpenAI-compatible server that ignores `stream_format`
sends), and `GET /v1/models` (what the openai plugin's prewarm asks). Errors
are the API's error object (`{"error": {"message", "type", "code"}}`) with an HTTP status.

What to answer is a script: a function of the request (its JSON body) returning a step:
`Say` (stream text), `CallTool` (stream an optional text and one tool call), `Fail`
(an HTTP error before any chunk), `Hang` (stream some text, then nothing until the server
closes: a provider that stops answering), `Drop` (stream some text, then cut the
connection). Every request body is kept in `requests`, so tests assert what the product
sent (the system prompt, the tools, the tool results).

Must not: be imported by the product. It is a test peer, like sipp and baresip.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = [
    "CallTool",
    "Drop",
    "Fail",
    "FakeOpenAIServer",
    "Hang",
    "Say",
    "Step",
    "last_user_text",
    "tool_results",
]


SPEECH_RATE = 24000  # what OpenAI's speech endpoint sends


@dataclass(frozen=True)
class Say:
    """Stream `text`, a few words per chunk, `chunk_delay_s` apart."""

    text: str
    chunk_delay_s: float = 0.02


@dataclass(frozen=True)
class CallTool:
    """Stream `text` (may be empty), then a call of tool `name` with `arguments`."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True)
class Fail:
    """Answer with an HTTP error and the API's error object, before any chunk."""

    status: int = 500
    message: str = "the model is overloaded"


@dataclass(frozen=True)
class Hang:
    """Stream `text` first (may be empty), then send nothing more until the server stops."""

    text: str = ""


@dataclass(frozen=True)
class Drop:
    """Stream `text`, then close the connection without `finish_reason` or `[DONE]`."""

    text: str


Step = Say | CallTool | Fail | Hang | Drop
Script = Callable[[dict[str, Any]], Step]


def last_user_text(body: dict[str, Any]) -> str:
    """The words of the last user message of a request ('' when there is none)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def tool_results(body: dict[str, Any]) -> list[str]:
    """The `tool` messages after the last user message (what the tools returned)."""
    results: list[str] = []
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            break
        if message.get("role") == "tool":
            results.append(str(message.get("content", "")))
    return list(reversed(results))


def _pieces(text: str, words_per_piece: int = 2) -> list[str]:
    words = text.split(" ")
    return [
        " ".join(words[i : i + words_per_piece]) + (" " if i + words_per_piece < len(words) else "")
        for i in range(0, len(words), words_per_piece)
    ]


class FakeOpenAIServer:
    """`async with FakeOpenAIServer(script) as server:` … `server.base_url` (ends in /v1)."""

    def __init__(self, script: Script, *, model: str = "fake-model", speech: bool = True) -> None:
        self.script = script
        self.model = model
        self.speech = speech  # False: no /v1/audio/speech (a 404, as from a chat-only server)
        self.requests: list[dict[str, Any]] = []
        self.speech_requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._ids = itertools.count(1)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> FakeOpenAIServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        if self.speech:
            app.router.add_post("/v1/audio/speech", self._speech)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._closing.set()  # hanging answers end now
        if self._runner is not None:
            await self._runner.cleanup()

    # -- handlers ------------------------------------------------------------------------
    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "test"}]}
        )

    async def _speech(self, request: web.Request) -> web.Response:
        from tests.support.speech import speech_pcm

        body = await request.json()
        self.speech_requests.append(body)
        pcm = await asyncio.to_thread(speech_pcm, str(body["input"]), SPEECH_RATE)
        out = io.BytesIO()
        with wave.open(out, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(SPEECH_RATE)
            writer.writeframes(pcm)
        return web.Response(body=out.getvalue(), content_type="audio/wav")

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error(400, "the body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not body.get("stream"):
            return _error(400, "this fake serves stream: true only", "invalid_request_error")
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        step = self.script(body)
        if isinstance(step, Fail):
            return _error(step.status, step.message, "server_error")
        completion_id = f"chatcmpl-fake{next(self._ids)}"
        created = int(time.time())
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": choices,
                **extra,
            }
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        def delta(value: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": value, "logprobs": None, "finish_reason": finish}]

        await send(delta({"role": "assistant", "content": ""}))
        text = step.text
        delay = step.chunk_delay_s if isinstance(step, Say) else 0.02
        for piece in _pieces(text) if text else []:
            await send(delta({"content": piece}))
            await asyncio.sleep(delay)
        if isinstance(step, Hang):
            await self._closing.wait()
            return response
        if isinstance(step, Drop):
            transport = request.transport
            if transport is not None:
                transport.abort()  # no finish_reason, no [DONE], no chunked terminator
            return response
        finish = "stop"
        if isinstance(step, CallTool):
            finish = "tool_calls"
            call_id = f"call_fake{next(self._ids)}"
            opening = {"index": 0, "id": call_id, "type": "function"}
            opening["function"] = {"name": step.name, "arguments": ""}
            await send(delta({"tool_calls": [opening]}))
            arguments = json.dumps(step.arguments)
            for start in range(0, len(arguments), 12):  # the arguments arrive in fragments
                fragment = {"index": 0, "function": {"arguments": arguments[start : start + 12]}}
                await send(delta({"tool_calls": [fragment]}))
        await send(delta({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            tokens = len(text.split()) + 5
            usage = {
                "prompt_tokens": 100,
                "completion_tokens": tokens,
                "total_tokens": 100 + tokens,
            }
            await send([], usage=usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _error(status: int, message: str, kind: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}}, status=status
    )
