"""The sandbox gateway itself: wire shapes, records, injections, lifecycle."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.errors import UpstreamError
from bot.sandbox.recordings import ogg_opus
from bot.sandbox.upstream import PRESETS, UpstreamSandbox
from bot.sandbox.upstream.server import REQUEST_ID_HEADER
from bot.upstream.client import UpstreamClient
from bot.upstream.transcriptions import TRANSCRIPTIONS_PATH, TranscriptionClient

KEY = "sk-sandbox"
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT_BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True}


@pytest.fixture
async def sb() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def raw_stream(http: aiohttp.ClientSession, sb: UpstreamSandbox, body: dict) -> bytes:
    async with http.post(f"{sb.base_url}/v1/chat/completions", json=body) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        return await resp.read()


def data_objects(raw: bytes) -> list[dict | str]:
    out: list[dict | str] = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        if block.startswith("data: "):
            payload = block.removeprefix("data: ")
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


async def test_stream_wire_shape(sb: UpstreamSandbox, http: aiohttp.ClientSession) -> None:
    sb.chat.chunk_chars = 2
    objs = data_objects(await raw_stream(http, sb, CHAT_BODY))
    first, *content, finish, usage, done = objs
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"]["content"] for c in content) == "Echo: hello"
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 3  # ceil(11 / 4)
    assert usage["usage"]["prompt_tokens"] == 2  # ceil(5 / 4)
    assert done == "[DONE]"


async def test_stream_switches(sb: UpstreamSandbox, http: aiohttp.ClientSession) -> None:
    sb.chat.crlf = True
    sb.chat.ping_every = 1
    sb.chat.omit_done = True
    raw = await raw_stream(http, sb, {**CHAT_BODY, "stream_options": {"include_usage": False}})
    assert b"\r\n\r\n" in raw and b"\n\n" not in raw.replace(b"\r\n", b"")
    assert b": PING\r\n\r\n" in raw
    objs = data_objects(raw)
    assert "[DONE]" not in objs
    assert all(o["choices"] for o in objs if isinstance(o, dict))  # no usage chunk


async def test_non_stream_and_validation(sb: UpstreamSandbox, http: aiohttp.ClientSession) -> None:
    sb.chat.reply = lambda body: body["model"].upper()
    url = f"{sb.base_url}/v1/chat/completions"
    async with http.post(url, json={**CHAT_BODY, "stream": False}) as resp:
        body = await resp.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "M"
    async with http.post(url, json={"model": "m", "messages": []}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["type"] == "invalid_request_error"


async def test_records_and_request_id_header(
    sb: UpstreamSandbox, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sb.base_url}/v1/models?x=1") as resp:
        header = resp.headers[REQUEST_ID_HEADER]
    await raw_stream(http, sb, CHAT_BODY)
    first, second = sb.records
    assert (first.method, first.path, first.query, first.status) == (
        "GET",
        "/v1/models",
        {"x": "1"},
        200,
    )
    assert first.request_id == header and first.json is None
    assert (second.method, second.json, second.status) == ("POST", CHAT_BODY, 200)
    assert first.t <= second.t <= time.monotonic()
    assert first.has_auth and first.authorized


async def test_bare_key_and_unknown_route(sb: UpstreamSandbox) -> None:
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sandbox"}) as session:
        async with session.get(f"{sb.base_url}/v1/models") as resp:
            assert resp.status == 200  # new-api accepts the key without "sk-"
        async with session.get(f"{sb.base_url}/nope") as resp:
            assert resp.status == 404
    assert sb.records[-1].status == 404


async def test_injection_rules(sb: UpstreamSandbox, http: aiohttp.ClientSession) -> None:
    once = sb.inject(r"^/v1/models$", 418, {"error": {"message": "teapot"}}, method="GET")
    forever = sb.inject(r"/billing/", 500, "plain failure", times=None)
    url = sb.base_url
    statuses = []
    for path in (
        "/v1/models",
        "/v1/models",
        "/v1/dashboard/billing/usage",
        "/dashboard/billing/usage",
    ):
        async with http.get(url + path) as resp:
            statuses.append(resp.status)
    assert statuses == [418, 200, 500, 500]
    assert (once.hits, forever.hits) == (1, 2)
    async with http.post(url + "/v1/models") as resp:
        assert resp.status == 405  # the method filter skipped the (spent) rule anyway


async def test_every_preset_has_its_documented_shape(
    sb: UpstreamSandbox, http: aiohttp.ClientSession
) -> None:
    for name, preset in PRESETS.items():
        sb.inject_error(name)
        async with http.get(f"{sb.base_url}/v1/models") as resp:
            assert resp.status == preset.status, name
            text = await resp.text()
        rid = sb.records[-1].request_id
        if text.startswith("<"):
            continue
        body = json.loads(text)
        if "error" in body:
            assert rid in body["error"]["message"], name
        else:
            assert "description" in body or body.get("data", "x") is None, name
    with pytest.raises(KeyError, match="choose from"):
        sb.inject_error("no_such_preset")


async def test_billing_routes_with_and_without_v1(
    sb: UpstreamSandbox, http: aiohttp.ClientSession
) -> None:
    sb.billing.used_usd = 2.5
    for prefix in ("/v1", ""):
        async with http.get(f"{sb.base_url}{prefix}/dashboard/billing/subscription") as resp:
            assert (await resp.json())["hard_limit_usd"] == 25.0
        async with http.get(f"{sb.base_url}{prefix}/dashboard/billing/usage") as resp:
            assert (await resp.json())["total_usage"] == 250.0
    async with http.get(f"{sb.base_url}/api/usage/token/") as resp:
        data = (await resp.json())["data"]
    assert data["total_used"] == 1_250_000 and data["total_available"] == 11_250_000


async def test_lifecycle() -> None:
    sb = UpstreamSandbox()
    with pytest.raises(RuntimeError):
        _ = sb.base_url
    base = await sb.start()
    assert base.startswith("http://127.0.0.1:") and sb.base_url == base
    assert await sb.start() == base  # idempotent
    await sb.close()
    await sb.close()  # how fast is measured in bench/sandboxes.py


async def test_close_does_not_wait_for_a_stalled_stream(http: aiohttp.ClientSession) -> None:
    sb = UpstreamSandbox()
    await sb.start()
    sb.chat.stall_after_chars = 0
    sb.chat.stall_seconds = 30
    resp = await http.post(f"{sb.base_url}/v1/chat/completions", json=CHAT_BODY)
    assert resp.status == 200
    started = time.monotonic()
    await sb.close()
    resp.close()
    # Waiting for the stream would take its 30 s; a tenth of that is beyond any correct close.
    assert time.monotonic() - started < sb.chat.stall_seconds / 10


# ---- the transcription route (voice in) ----


async def test_the_client_sends_the_multipart_form_and_reads_the_text(
    sb: UpstreamSandbox, http: aiohttp.ClientSession
) -> None:
    client = TranscriptionClient(UpstreamClient(http, sb.base_url, sb.api_key))
    sb.audio.transcripts = ["  first  "]
    data = ogg_opus(2)
    text = await client.transcribe("whisper-1", "a.ogg", data, "audio/ogg", language="zh")
    assert text == "first"
    assert await client.transcribe("whisper-1", "b.ogg", data, "audio/ogg") == (sb.audio.transcript)
    first, second = sb.audio.transcribed
    assert (first.model, first.filename, first.size, first.language) == (
        "whisper-1", "a.ogg", len(data), "zh"
    )  # fmt: skip
    assert second.language is None
    sb.audio.transcribe_failures = 1
    with pytest.raises(UpstreamError):
        await client.transcribe("whisper-1", "c.ogg", data, "audio/ogg")
    with pytest.raises(UpstreamError) as missing:
        await client.transcribe("whisper-2", "c.ogg", data, "audio/ogg")
    assert missing.value.status == 503


def _form(**fields: object) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data = value
            form.add_field(name, data, filename=filename, content_type="audio/ogg")
        else:
            form.add_field(name, str(value))
    return form


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param(lambda: _form(file=("a.ogg", ogg_opus(1))), 400, id="no model"),
        pytest.param(lambda: _form(model="whisper-1"), 400, id="no file"),
        pytest.param(lambda: _form(model="whisper-1", file="not a file"), 400, id="file as text"),
        pytest.param(lambda: _form(model="whisper-1", file=("a.exe", b"MZ")), 400, id="format"),
        pytest.param(lambda: _form(model="whisper-1", file=("a.ogg", b"")), 400, id="empty"),
        pytest.param(
            lambda: _form(model="whisper-1", language="english", file=("a.ogg", ogg_opus(1))),
            400,
            id="language",
        ),
        pytest.param(
            lambda: _form(model="whisper-1", response_format="mp3", file=("a.ogg", ogg_opus(1))),
            400,
            id="response format",
        ),
        pytest.param(lambda: {"model": "whisper-1"}, 400, id="json, not multipart"),
    ],
)
async def test_the_sandbox_route_refuses_what_openai_refuses(
    sb: UpstreamSandbox, http: aiohttp.ClientSession, body: object, status: int
) -> None:
    made = body()  # type: ignore[operator]
    kwargs = {"json": made} if isinstance(made, dict) else {"data": made}
    async with http.post(sb.base_url + TRANSCRIPTIONS_PATH, headers=AUTH, **kwargs) as r:
        assert r.status == status
        assert "error" in await r.json()
    assert sb.audio.transcribed == []
