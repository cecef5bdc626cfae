"""UpstreamClient, ChatClient and BillingClient against the in-process sandbox gateway."""

from __future__ import annotations

import logging
import math
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.errors import (
    ContentBlocked,
    ModelUnavailable,
    UpstreamAuthError,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from bot.sandbox.upstream import UpstreamSandbox
from bot.upstream import BillingClient, ChatClient, ChatDelta, UpstreamClient

# Long and distinctive so a leak check cannot pass by accident; "bare" is how new-api stores it.
KEY = "sk-TestKey0123456789abcdefGHIJ"
BARE_KEY = KEY.removeprefix("sk-")
USER = [{"role": "user", "content": "你好, sandbox 😀"}]


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        yield sb


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_client(
    session: aiohttp.ClientSession, base_url: str, *, key: str = KEY, read: float = 2.0
) -> UpstreamClient:
    return UpstreamClient(
        session, base_url, key, connect_timeout=1.0, read_timeout=read, total_timeout=5.0
    )


@pytest.fixture
def client(sandbox: UpstreamSandbox, session: aiohttp.ClientSession) -> UpstreamClient:
    return make_client(session, sandbox.base_url)


@pytest.fixture
def chat(client: UpstreamClient) -> ChatClient:
    return ChatClient(client)


async def collect(chat: ChatClient, messages: list | None = None, **params) -> list[ChatDelta]:
    return [d async for d in chat.stream_chat("gpt-4o", messages or USER, **params)]


def text_of(deltas: list[ChatDelta]) -> str:
    return "".join(d.text for d in deltas)


# --- streaming chat ---------------------------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True])
async def test_stream_yields_full_text_finish_and_usage(
    sandbox: UpstreamSandbox, chat: ChatClient, crlf: bool
) -> None:
    reply = "Markdown **bold**, 中文回答, emoji 🎨🖼️ and a [link](https://example.com)."
    sandbox.chat.reply = reply
    sandbox.chat.chunk_chars = 3
    sandbox.chat.ping_every = 2
    sandbox.chat.crlf = crlf
    deltas = await collect(chat)
    assert text_of(deltas) == reply
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    usage = deltas[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == math.ceil(len(USER[0]["content"]) / 4)
    assert usage.completion_tokens == math.ceil(len(reply) / 4)
    assert all(d.text or d.reasoning or d.finish_reason or d.usage for d in deltas)
    [record] = sandbox.requests_to("/v1/chat/completions")
    assert record.json["stream"] is True
    assert record.json["stream_options"] == {"include_usage": True}
    assert record.authorized and record.status == 200


async def test_default_reply_echoes_last_user_message(chat: ChatClient) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert text_of(await collect(chat, messages)) == "Echo: second"


async def test_params_pass_through_and_reasoning(
    sandbox: UpstreamSandbox, chat: ChatClient
) -> None:
    sandbox.chat.reasoning = "let me think"
    deltas = await collect(chat, temperature=0.2, max_tokens=50)
    assert "".join(d.reasoning for d in deltas) == "let me think"
    body = sandbox.records[-1].json
    assert (body["temperature"], body["max_tokens"]) == (0.2, 50)


async def test_usage_can_be_turned_off(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    deltas = await collect(chat, stream_options={"include_usage": False})
    assert all(d.usage is None for d in deltas)
    sandbox.chat.usage = False
    assert all(d.usage is None for d in await collect(chat))


async def test_nonstandard_finish_reason_passes_through(
    sandbox: UpstreamSandbox, chat: ChatClient
) -> None:
    sandbox.chat.finish_reason = "eos_token"
    assert [d.finish_reason for d in await collect(chat) if d.finish_reason] == ["eos_token"]


async def test_missing_done_ends_cleanly(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    sandbox.chat.omit_done = True
    deltas = await collect(chat)
    assert text_of(deltas) == "Echo: " + USER[0]["content"]
    assert deltas[-1].usage is not None


async def test_drop_mid_stream_raises_after_partial_text(
    sandbox: UpstreamSandbox, chat: ChatClient
) -> None:
    # Documented behaviour: a broken connection raises UpstreamFailure, after every delta that
    # did arrive, so the caller keeps (and can show) the partial text.
    sandbox.chat.reply = "0123456789" * 5
    sandbox.chat.chunk_chars = 4
    sandbox.chat.drop_after_chars = 17
    received: list[ChatDelta] = []
    with pytest.raises(UpstreamFailure) as info:
        async for delta in chat.stream_chat("gpt-4o", USER):
            received.append(delta)
    assert text_of(received) == sandbox.chat.reply[:17]
    assert all(d.finish_reason is None for d in received)
    assert "cut off" in info.value.detail


async def test_stall_raises_timeout_quickly(
    sandbox: UpstreamSandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.chat.reply = "abcdefghij" * 3
    sandbox.chat.stall_after_chars = 10
    sandbox.chat.stall_seconds = 30
    chat = ChatClient(make_client(session, sandbox.base_url, read=0.3))
    received: list[ChatDelta] = []
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout):
        async for delta in chat.stream_chat("gpt-4o", USER):
            received.append(delta)
    # The 0.3 s read timeout ends it; without one it would wait out the 30 s stall.
    assert time.monotonic() - started < sandbox.chat.stall_seconds / 10
    assert text_of(received) == "abcdefghij"


async def test_pings_keep_a_slow_stream_alive(
    sandbox: UpstreamSandbox, session: aiohttp.ClientSession
) -> None:
    sandbox.chat.reply = "slow but steady"
    sandbox.chat.chunk_chars = 2
    sandbox.chat.pace = 0.03
    chat = ChatClient(make_client(session, sandbox.base_url, read=0.2))
    assert text_of(await collect(chat)) == "slow but steady"


async def test_malformed_chunk_raises_failure(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    body = 'data: {"choices":[{"index":0,"delta":{"content":"ok"}}]}\n\ndata: {not json\n\n'
    sandbox.inject("/v1/chat/completions", 200, body, content_type="text/event-stream")
    received: list[ChatDelta] = []
    with pytest.raises(UpstreamFailure, match="malformed"):
        async for delta in chat.stream_chat("gpt-4o", USER):
            received.append(delta)
    assert text_of(received) == "ok"


async def test_error_object_inside_stream_is_typed(
    sandbox: UpstreamSandbox, chat: ChatClient
) -> None:
    body = (
        'data: {"error":{"message":"用户额度不足 (request id: S1)",'
        '"type":"new_api_error","code":"insufficient_user_quota"}}\n\n'
    )
    sandbox.inject("/v1/chat/completions", 200, body, content_type="text/event-stream")
    with pytest.raises(UpstreamInsufficientBalance) as info:
        await collect(chat)
    assert (info.value.detail, info.value.request_id) == ("用户额度不足", "S1")


async def test_json_error_with_200_instead_of_stream(
    sandbox: UpstreamSandbox, chat: ChatClient
) -> None:
    sandbox.inject(
        "/v1/chat/completions", 200, {"error": {"message": "no", "code": "model_not_found"}}
    )
    with pytest.raises(ModelUnavailable):
        await collect(chat)


async def test_empty_stream_is_a_failure(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    sandbox.inject("/v1/chat/completions", 200, "<html>maintenance</html>")
    with pytest.raises(UpstreamFailure, match="empty stream"):
        await collect(chat)


async def test_raw_stream_with_and_without_context_manager(client: UpstreamClient) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    async with client.stream("/v1/chat/completions", body) as events:
        with_cm = [e async for e in events]
    bare = [e async for e in client.stream("/v1/chat/completions", body)]
    for events in (with_cm, bare):
        assert [e.done for e in events] == [False] * (len(events) - 1) + [True]
    assert len(with_cm) == len(bare)


async def test_stream_raises_on_enter_for_http_errors(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    sandbox.inject_error("rate_limited")
    with pytest.raises(UpstreamRateLimited):
        async with client.stream("/v1/chat/completions", {"model": "m", "messages": USER}):
            pytest.fail("the body must not run")


# --- errors -----------------------------------------------------------------------------------

PRESET_ERRORS = [
    ("auth", UpstreamAuthError, 401),
    ("insufficient_balance", UpstreamInsufficientBalance, 403),
    ("pre_consume_failed", UpstreamInsufficientBalance, 403),
    ("access_denied", UpstreamAuthError, 403),
    ("rate_limited", UpstreamRateLimited, 429),
    ("model_not_found", ModelUnavailable, 503),
    ("content_blocked", ContentBlocked, 400),
    ("content_policy", ContentBlocked, 400),
    ("upstream_failure", UpstreamFailure, 500),
    ("bad_gateway", UpstreamFailure, 502),
    ("html_502", UpstreamFailure, 502),
    ("mj_insufficient_balance", UpstreamInsufficientBalance, 400),
    ("mj_saturated", UpstreamRateLimited, 429),
    ("task_insufficient_balance", UpstreamInsufficientBalance, 403),
    ("task_saturated", UpstreamRateLimited, 429),
    ("task_not_exist", UpstreamFailure, 400),
]


@pytest.mark.parametrize(("preset", "expected", "status"), PRESET_ERRORS)
async def test_preset_errors_map_to_typed_errors_before_any_delta(
    sandbox: UpstreamSandbox, chat: ChatClient, preset: str, expected: type, status: int
) -> None:
    sandbox.inject_error(preset, path_regex="^/v1/chat/")
    stream = chat.stream_chat("gpt-4o", USER)
    with pytest.raises(UpstreamError) as info:
        await anext(stream)  # the very first step raises: nothing was yielded
    error = info.value
    assert type(error) is expected
    assert error.status == status
    assert "request id" not in error.detail
    assert error.detail
    # The id comes from the message tail, or from the header when the body has none.
    assert error.request_id == sandbox.records[-1].request_id


@pytest.mark.parametrize(("preset", "expected", "status"), PRESET_ERRORS[:6])
async def test_preset_errors_on_json_routes(
    sandbox: UpstreamSandbox, client: UpstreamClient, preset: str, expected: type, status: int
) -> None:
    sandbox.inject_error(preset)
    with pytest.raises(expected):
        await client.request_json("GET", "/v1/models")
    assert await client.request_json("GET", "/v1/models")  # times=1: the next call is fine


async def test_large_error_body_is_read_in_bounds(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    sandbox.inject(".*", 500, "overloaded " * 30_000)  # ~330 KB, arrives in many chunks
    with pytest.raises(UpstreamFailure) as info:
        await client.request_json("GET", "/v1/models")
    assert info.value.detail.startswith("overloaded overloaded")
    assert len(info.value.detail) <= 500


async def test_wrong_and_missing_key(
    sandbox: UpstreamSandbox, session: aiohttp.ClientSession
) -> None:
    wrong = ChatClient(make_client(session, sandbox.base_url, key="sk-wrong"))
    with pytest.raises(UpstreamAuthError):
        await wrong.list_models()
    async with session.get(f"{sandbox.base_url}/v1/models") as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["message"].startswith("未提供令牌")
    assert [(r.has_auth, r.authorized) for r in sandbox.records] == [(True, False), (False, False)]


async def test_connection_refused_is_a_failure(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = make_client(session, f"http://127.0.0.1:{port}")
    with pytest.raises(UpstreamFailure) as info:
        await client.request_json("GET", "/v1/models")
    assert type(info.value) is UpstreamFailure
    assert info.value.detail == "could not connect to the upstream"
    with pytest.raises(UpstreamFailure):
        await collect(ChatClient(client))


async def test_key_never_in_logs_errors_or_reprs(
    sandbox: UpstreamSandbox,
    client: UpstreamClient,
    chat: ChatClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    await collect(chat)
    await BillingClient(client).balance()
    # An upstream that echoes the key back, in the message and in a plain-text body.
    echo = {"error": {"message": f"Incorrect API key provided: {KEY} ({BARE_KEY})", "code": KEY}}
    sandbox.inject(".*", 401, echo)
    sandbox.inject(".*", 500, f"internal error for token {BARE_KEY}")
    sandbox.inject(".*", 200, f"data: {{broken {KEY}\n\n", content_type="text/event-stream")
    for preset in ("insufficient_balance", "rate_limited", "upstream_failure"):
        sandbox.inject_error(preset)
    for _ in range(6):
        try:
            await collect(chat)
        except UpstreamError as exc:
            errors.append(exc)
    assert len(errors) == 6
    texts = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(client), repr(chat), repr(BillingClient(client)), repr(client.redact)]
    assert any("sk-***" in t for t in texts)
    for text in texts:
        assert BARE_KEY not in text


# --- non-stream calls and models ---------------------------------------------------------


async def test_complete_chat(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    sandbox.chat.reply = "whole answer"
    result = await chat.complete_chat("gpt-4-gizmo-g-2fkFE8rbu", USER)
    assert (result.text, result.finish_reason, result.model) == (
        "whole answer",
        "stop",
        "gpt-4-gizmo-g-2fkFE8rbu",
    )
    assert result.usage is not None and result.usage.completion_tokens == 3
    assert sandbox.records[-1].json["stream"] is False


async def test_list_models(sandbox: UpstreamSandbox, chat: ChatClient) -> None:
    models = await chat.list_models()
    assert "gpt-4-gizmo-g-2fkFE8rbu" in models
    sandbox.chat.models = ["only-one"]
    # Like new-api, the list holds every model a channel serves: the transcription one too.
    assert await chat.list_models() == ["only-one", "whisper-1"]


# --- client details --------------------------------------------------------------------------


async def test_key_is_only_sent_to_the_gateway(client: UpstreamClient) -> None:
    with pytest.raises(ValueError, match="another host"):
        await client.request_json("GET", "https://evil.example/v1/models")
    assert client.url_for(client.base_url + "/v1/x") == client.base_url + "/v1/x"


async def test_download_limits_size(sandbox: UpstreamSandbox, client: UpstreamClient) -> None:
    body = await client.download("/v1/models", max_bytes=100_000)
    assert b"gpt-4o" in body
    with pytest.raises(UpstreamFailure, match="too large"):
        await client.download("/v1/models", max_bytes=10)
    assert sandbox.records[-1].authorized
