"""Chat completions (and GPTs, which are chat models named ``gpt-4-gizmo-g-…``)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient
from bot.upstream.parsing import validate

log = logging.getLogger(__name__)

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"

Message = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatUsage:
    prompt_tokens: int
    completion_tokens: int
    # The part of completion_tokens spent thinking, where the gateway reports it.
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class ChatDelta:
    """One step of a streamed answer. Empty strings mean "nothing new of this kind".

    ``usage`` is normally set once, on the last delta; if an upstream repeats it, the last one
    wins. ``finish_reason`` is passed through unchanged (``stop``, ``length``, ``content_filter``,
    or whatever a non-OpenAI upstream says); it stays ``None`` on a stream that was cut short.
    """

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: ChatUsage | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    text: str
    reasoning: str
    finish_reason: str | None
    usage: ChatUsage | None
    model: str | None


# Wire shapes. Pydantic ignores extra fields by default, so new gateway fields do no harm.


class _CompletionDetails(BaseModel):
    reasoning_tokens: int | None = 0


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    completion_tokens_details: _CompletionDetails | None = None


class _Delta(BaseModel):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class _Choice(BaseModel):
    index: int = 0
    delta: _Delta | None = None
    message: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(BaseModel):
    model: str | None = None
    choices: list[_Choice] | None = None
    usage: _Usage | None = None


class _ModelEntry(BaseModel):
    id: str


class _ModelList(BaseModel):
    data: list[_ModelEntry] = []


class ChatClient:
    """Chat completions over the shared ``UpstreamClient``."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"ChatClient({self._client!r})"

    async def stream_chat(
        self, model: str, messages: list[Message], **params: Any
    ) -> AsyncIterator[ChatDelta]:
        """Stream an answer as deltas; extra ``params`` (temperature, max_tokens…) pass through.

        Usage is requested explicitly (``stream_options.include_usage``). A stream that ends
        without ``[DONE]`` but after a ``finish_reason`` is complete; one that ends with neither,
        or whose connection breaks, raises ``UpstreamFailure`` after the deltas already
        received, so the caller keeps the partial text and notes the cut.
        """
        stream_options = {"include_usage": True, **params.pop("stream_options", {})}
        body = {
            "model": model,
            "messages": messages,
            **params,
            "stream": True,
            "stream_options": stream_options,
        }
        seen = finished = False
        async with self._client.stream(CHAT_PATH, body) as events:
            async for event in events:
                seen = True
                if event.done:
                    return
                delta = self._delta_from(event.data)
                if delta is not None:
                    finished = finished or delta.finish_reason is not None
                    yield delta
        if not seen:
            # Not one event: an error page or a bare 200 that merely claims to be a stream.
            raise UpstreamFailure("the upstream sent an empty stream", status=200)
        if not finished:
            # A clean end of the body, but the model never said it was done: a cut answer.
            raise UpstreamFailure("the stream ended before the answer finished", status=200)

    async def complete_chat(self, model: str, messages: list[Message], **params: Any) -> ChatResult:
        """Ask for a whole answer in one response."""
        body = {"model": model, "messages": messages, **params, "stream": False}
        obj = await self._client.request_json("POST", CHAT_PATH, json=body)
        self._client.raise_for_error_body(obj)
        chunk = validate(_Chunk, obj)
        choice = _first_choice(chunk)
        if choice is None:
            raise UpstreamFailure("the upstream returned no answer", status=200)
        message = choice.message or choice.delta or _Delta()
        return ChatResult(
            text=message.content or "",
            reasoning=message.reasoning_content or message.reasoning or "",
            finish_reason=choice.finish_reason or None,
            usage=_usage(chunk),
            model=chunk.model,
        )

    async def list_models(self) -> list[str]:
        """Ids of the models this key may use, in the gateway's order."""
        obj = await self._client.request_json("GET", MODELS_PATH)
        self._client.raise_for_error_body(obj)
        return [entry.id for entry in validate(_ModelList, obj).data]

    def _delta_from(self, data: str) -> ChatDelta | None:
        try:
            obj = json.loads(data)
        except ValueError:
            log.warning("malformed chat chunk: %s", self._client.redact(data[:500]))
            raise UpstreamFailure("the upstream sent a malformed chunk", status=200) from None
        # A failure after the stream started comes as an error object in a data line.
        self._client.raise_for_error_body(obj)
        chunk = validate(_Chunk, obj)
        choice = _first_choice(chunk)
        delta = (choice.delta or choice.message) if choice else None
        text = (delta.content or "") if delta else ""
        reasoning = (delta.reasoning_content or delta.reasoning or "") if delta else ""
        finish = (choice.finish_reason or None) if choice else None
        usage = _usage(chunk)
        if not (text or reasoning or finish or usage):
            return None  # the opening role chunk, keep-alive chunks and the like
        return ChatDelta(text=text, reasoning=reasoning, finish_reason=finish, usage=usage)


def _first_choice(chunk: _Chunk) -> _Choice | None:
    # Only n=1 is used; pick index 0 but accept whatever single choice arrives.
    choices = chunk.choices or []
    return next((c for c in choices if c.index == 0), choices[0] if choices else None)


def _usage(chunk: _Chunk) -> ChatUsage | None:
    if chunk.usage is None:
        return None
    details = chunk.usage.completion_tokens_details
    reasoning = (details.reasoning_tokens or 0) if details else 0
    return ChatUsage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens, reasoning)
