"""Sandbox chat routes: ``POST /v1/chat/completions`` (stream and not) and ``GET /v1/models``.

Token usage is an estimate, not a tokenizer: ``ceil(chars / 4)``, where the prompt counts the
text of every message (text parts only) and the completion counts reasoning plus reply text.
``ChatState.usage_tokens`` reports fixed numbers instead, so that a test can tell the usage the
upstream sent from an estimate the bot made of the same text.
The streaming shape follows new-api (upstream-api.md §1): a role chunk with empty content,
content chunks, a finish_reason chunk, a usage chunk with ``choices: []``, then ``[DONE]``.
Switches on ``ChatState`` break that shape on purpose, for tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bot.sandbox.upstream.audio import AUDIO
from bot.sandbox.upstream.wire import json_response, openai_error

DEFAULT_MODELS = (
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4-gizmo-g-2fkFE8rbu",
    "gpt-4-gizmo-g-pmuQfob8d",
    "gpt-4o-gizmo-g-alKfVrz9K",
    "tts-1",  # gateways list their speech models too
)
CHARS_PER_TOKEN = 4

Reply = str | Callable[[dict[str, Any]], str]


@dataclass(slots=True)
class StreamLog:
    """When each content chunk of one streamed answer was written, for latency benchmarks.

    Times are ``time.monotonic()`` right after the chunk was handed to the socket.
    """

    body: dict[str, Any]
    reply: str
    sent: list[tuple[float, int]] = field(default_factory=list)  # (time, reply chars sent)
    ended: float | None = None  # after the last byte of the response ([DONE]) was written


@dataclass(slots=True)
class ChatState:
    """Script for the chat route. Change fields between (or during) requests."""

    reply: Reply | None = None  # None: "Echo: <last user message>"
    reasoning: str = ""  # streamed before the reply when set, in reasoning_form
    # reasoning_content (DeepSeek, new-api), reasoning (OpenRouter), or think: <think>…</think>
    # inside content (Ollama-style); upstream-api.md §7.
    reasoning_form: Literal["reasoning_content", "reasoning", "think"] = "reasoning_content"
    think_seconds: float = 0.0  # spread over the reasoning chunks, before the first reply text
    chunk_chars: int = 8
    pace: float = 0.0  # seconds between content chunks
    ping_every: int = 0  # send ": PING" before every Nth content chunk; 0 = off
    drop_after_chars: int | None = None  # close the socket after N reply chars, no [DONE]
    omit_done: bool = False  # end the body cleanly but without "data: [DONE]"
    finish_reason: str | None = "stop"
    stall_after_chars: int | None = None  # go silent after N reply chars …
    stall_seconds: float = 30.0  # … for this long
    crlf: bool = False
    usage: bool = True  # False: never send the usage chunk
    usage_tokens: tuple[int, int] | None = None  # (prompt, completion) to report; None: estimate
    # Every usage object sent (with the model asked for), in order: what a test expects the
    # bot to charge by.
    usage_sent: list[dict[str, Any]] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: list(DEFAULT_MODELS))
    # A list turns on per-chunk send times: one StreamLog per streamed request, in arrival order.
    stream_logs: list[StreamLog] | None = None
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def reply_for(self, body: dict[str, Any]) -> str:
        if callable(self.reply):
            return self.reply(body)
        if self.reply is not None:
            return self.reply
        last = next(
            (m for m in reversed(body.get("messages", [])) if m.get("role") == "user"), None
        )
        return f"Echo: {message_text(last)}" if last else "Hello from the sandbox."


CHAT = web.AppKey("upstream_sandbox_chat", ChatState)


def message_text(message: dict[str, Any] | None) -> str:
    """Text of a message whose content is a string or a list of typed parts."""
    content = (message or {}).get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _usage(state: ChatState, body: dict[str, Any], reply: str) -> dict[str, Any]:
    reasoning = state.reasoning
    prompt = estimate_tokens("".join(message_text(m) for m in body["messages"]))
    completion = estimate_tokens(reasoning + reply)
    if state.usage_tokens is not None:
        prompt, completion = state.usage_tokens
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": estimate_tokens(reasoning)},
    }
    state.usage_sent.append({"model": body.get("model"), **usage})
    return usage


async def completions(request: web.Request) -> web.StreamResponse:
    state = request.app[CHAT]
    try:
        body = await request.json()
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("model"), str)
        or not isinstance(body.get("messages"), list)
        or not body["messages"]
    ):
        return json_response(
            openai_error("model and messages are required", type="invalid_request_error"),
            status=400,
        )
    reply = state.reply_for(body)
    meta = {
        "id": f"chatcmpl-sandbox{next(state._ids)}",
        "created": int(time.time()),
        "model": body["model"],
    }
    if body.get("stream"):
        return await _stream(request, state, body, reply, meta)
    message: dict[str, Any] = {"role": "assistant", "content": reply}
    if state.reasoning and state.reasoning_form == "think":
        message["content"] = f"<think>{state.reasoning}</think>\n\n{reply}"
    elif state.reasoning:
        message[state.reasoning_form] = state.reasoning
    return json_response(
        {
            **meta,
            "object": "chat.completion",
            "choices": [{"index": 0, "message": message, "finish_reason": state.finish_reason}],
            "usage": _usage(state, body, reply),
        }
    )


async def _stream(
    request: web.Request,
    state: ChatState,
    body: dict[str, Any],
    reply: str,
    meta: dict[str, Any],
) -> web.StreamResponse:
    resp = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await resp.prepare(request)
    eol = "\r\n" if state.crlf else "\n"

    async def send(obj: dict[str, Any]) -> None:
        line = f"data: {json.dumps(obj, ensure_ascii=False)}{eol}{eol}"
        await resp.write(line.encode())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**meta, "object": "chat.completion.chunk", "system_fingerprint": None,
                "choices": [choice], "usage": None}  # fmt: skip

    timing: StreamLog | None = None
    if state.stream_logs is not None:
        timing = StreamLog(body, reply)
        state.stream_logs.append(timing)
    await send(chunk({"role": "assistant", "content": ""}))
    if state.reasoning:
        await _think(state, send, chunk)
    stall, drop = state.stall_after_chars, state.drop_after_chars
    for index, (start, end) in enumerate(_pieces(len(reply), state.chunk_chars, stall, drop)):
        if state.ping_every and index and index % state.ping_every == 0:
            await resp.write(f": PING{eol}{eol}".encode())
        if start == stall:
            await asyncio.sleep(state.stall_seconds)
        if start == drop:
            return _drop(request, resp)
        await send(chunk({"content": reply[start:end]}))
        if timing is not None:
            timing.sent.append((time.monotonic(), end))
        if state.pace:
            await asyncio.sleep(state.pace)
    # Both switches also work past the end of the reply: after all content, before finishing.
    if stall is not None and stall >= len(reply):
        await asyncio.sleep(state.stall_seconds)
    if drop is not None:
        return _drop(request, resp)
    await send(chunk({}, state.finish_reason))
    options = body.get("stream_options") or {}
    if state.usage and options.get("include_usage", True) is not False:
        await send({**meta, "object": "chat.completion.chunk", "choices": [],
                    "usage": _usage(state, body, reply)})  # fmt: skip
    if not state.omit_done:
        await resp.write(f"data: [DONE]{eol}{eol}".encode())
    await resp.write_eof()
    if timing is not None:
        timing.ended = time.monotonic()
    return resp


async def _think(state: ChatState, send: Callable[..., Any], chunk: Callable[..., Any]) -> None:
    """Stream the reasoning in its form, in chunk_chars pieces, over think_seconds."""
    text = state.reasoning
    key = state.reasoning_form
    if key == "think":
        text, key = f"<think>{text}</think>\n\n", "content"
    pieces = _pieces(len(text), state.chunk_chars)
    for start, end in pieces:
        await send(chunk({key: text[start:end]}))
        if state.think_seconds:
            await asyncio.sleep(state.think_seconds / len(pieces))


def _pieces(length: int, size: int, *marks: int | None) -> list[tuple[int, int]]:
    """``(start, end)`` slices of ``size`` chars, also cut exactly at each mark (stall, drop)."""
    cuts = set(range(0, length, max(1, size)))
    cuts |= {m for m in marks if m is not None and 0 < m < length}
    bounds = sorted(cuts | {length})
    return list(itertools.pairwise(bounds))


def _drop(request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
    # Close the socket without the final zero-length chunk: what a crashed upstream looks like.
    if request.transport is not None:
        request.transport.close()
    return resp


async def models(request: web.Request) -> web.Response:
    state = request.app[CHAT]
    # Like new-api, every model a channel serves: the audio ones too.
    audio = request.app.get(AUDIO)
    names = [*state.models, *(audio.listed_models() if audio is not None else [])]
    data = [
        {"id": name, "object": "model", "created": 1_700_000_000, "owned_by": "sandbox"}
        for name in names
    ]
    return json_response({"object": "list", "data": data, "success": True})


def setup(app: web.Application, state: ChatState) -> None:
    app[CHAT] = state
    app.router.add_post("/v1/chat/completions", completions)
    app.router.add_get("/v1/models", models)
