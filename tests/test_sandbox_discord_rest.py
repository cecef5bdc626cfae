"""The sandbox Discord at the wire: raw HTTP and websocket clients check what discord.py never
does (headers, error bodies, limits, intents) so the end-to-end tests can trust it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import DiscordSandbox, Message, mentions_pinged

MESSAGE_CONTENT, GUILDS, GUILD_MESSAGES = 1 << 15, 1 << 0, 1 << 9
COMMANDS = [
    {
        "name": "ask",
        "description": "Ask",
        "name_localizations": {"zh-CN": "提问"},
        "description_localizations": {"zh-CN": "提问"},
        "options": [
            {"name": "text", "description": "Text", "type": 3, "required": True},
            {"name": "n", "description": "N", "type": 4, "min_value": 1, "max_value": 5},
        ],
    }
]


@pytest.fixture
async def sb() -> AsyncIterator[DiscordSandbox]:
    async with DiscordSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http(sb: DiscordSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bot {sb.token}"}
    async with aiohttp.ClientSession(base_url=sb.api_base + "/", headers=headers) as session:
        yield session


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kw: Any
) -> tuple[int, Any, Any]:
    async with http.request(method, path.lstrip("/"), **kw) as resp:
        body = await resp.json() if resp.status != 204 else None
        return resp.status, body, resp.headers


async def identify(
    http: aiohttp.ClientSession, sb: DiscordSandbox, intents: int, token: str | None = None
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(sb.gateway_url + "?v=10&encoding=json")
    hello = await ws.receive_json()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] == 40000
    await ws.send_json({"op": 1, "d": None})
    assert (await ws.receive_json())["op"] == 11
    await ws.send_json(
        {"op": 2, "d": {"token": token or sb.token, "intents": intents, "properties": {}}}
    )
    return ws, await ws.receive_json() if token is None else {}


async def next_dispatch(ws: aiohttp.ClientWebSocketResponse, event: str) -> dict[str, Any]:
    while True:
        frame = await ws.receive_json(timeout=2)
        if frame.get("t") == event:
            return frame


async def test_starts_on_a_loopback_port() -> None:
    # How fast it starts is measured in bench/sandboxes.py, not asserted on a busy machine.
    async with DiscordSandbox() as sandbox:
        assert sandbox.api_base.startswith("http://127.0.0.1:") and sandbox.api_base.endswith(
            "/api/v10"
        )


def skip_ahead(sb: DiscordSandbox, seconds: float) -> None:
    """Move the sandbox's clock on, as if ``seconds`` had passed: its buckets refill."""
    now = sb.clock.now
    sb.clock.now = lambda: now() + seconds  # type: ignore[method-assign]


async def test_honest_bucket_answers_429_and_counts(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    other = sb.add_channel(guild.id, "other")
    # A window no loaded machine outruns between three requests; the test moves the sandbox's
    # clock past it instead of sleeping.
    sb.set_bucket_limit(2, 30.0)
    path = f"/channels/{guild.default_channel_id}/messages"
    status, _, h1 = await call(http, "POST", path, json={"content": "a"})
    assert status == 200 and h1["X-RateLimit-Limit"] == "2" and h1["X-RateLimit-Remaining"] == "1"
    assert h1["Content-Type"] == "application/json" and "Via" in h1
    status, _, h2 = await call(http, "POST", path, json={"content": "b"})
    assert h2["X-RateLimit-Remaining"] == "0" and 0 < float(h2["X-RateLimit-Reset-After"]) <= 30
    status, body, h3 = await call(http, "POST", path, json={"content": "c"})
    assert status == 429 and body["global"] is False and 0 < body["retry_after"] <= 30
    assert (
        h3["X-RateLimit-Scope"] == "user"
        and h3["Via"]
        and h3["X-RateLimit-Bucket"] == h1["X-RateLimit-Bucket"]
    )
    # Another channel is another bucket; another route template has another hash.
    status, _, h4 = await call(http, "POST", f"/channels/{other}/messages", json={"content": "d"})
    assert status == 200 and h4["X-RateLimit-Remaining"] == "1"
    _, _, h5 = await call(http, "GET", f"/channels/{other}")
    assert h5["X-RateLimit-Bucket"] != h1["X-RateLimit-Bucket"]
    assert sb.count_429() == 1 and sb.count_429("POST /channels/{channel_id}/messages") == 1
    assert sb.count_429(injected=True) == 0 and sb.limiter.sent_429
    skip_ahead(sb, body["retry_after"])
    status, _, _ = await call(http, "POST", path, json={"content": "e"})
    assert status == 200
    assert [m.content for m in sb.messages(guild.default_channel_id)] == ["a", "b", "e"]


async def test_global_limit(sb: DiscordSandbox, http: aiohttp.ClientSession) -> None:
    sb.set_global_limit(3)
    statuses = [(await call(http, "GET", "/users/@me"))[0] for _ in range(3)]
    status, body, headers = await call(http, "GET", "/users/@me")
    assert statuses == [200, 200, 200] and status == 429
    assert body["global"] is True and headers["X-RateLimit-Global"] == "true"
    assert sb.records[-1]["is_global"]


async def test_auth_unknown_routes_and_injected_errors(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    status, body, _ = await call(http, "GET", "/users/@me", headers={"Authorization": "Bot wrong"})
    assert status == 401 and body["code"] == 0
    status, body, headers = await call(http, "GET", "/no/such/route")
    assert (status, body) == (404, {"message": "404: Not Found", "code": 0})
    assert headers["Content-Type"] == "application/json"
    status, _, _ = await call(http, "DELETE", "/users/@me")
    assert status == 405
    assert [r["path"] for r in sb.unknown_routes()] == ["/no/such/route", "/users/@me"]
    sb.inject("GET", r"^/users/@me$", status=403, code=50013, skip=1)
    sb.inject("*", r"^/gateway$", status=502)
    assert (await call(http, "GET", "/users/@me"))[0] == 200
    status, body, _ = await call(http, "GET", "/users/@me")
    assert (status, body) == (403, {"message": "Missing Permissions", "code": 50013})
    status, body, _ = await call(http, "GET", "/gateway")
    assert status == 502 and body["code"] == 0
    assert (await call(http, "GET", "/gateway"))[0] == 200
    assert sum(r["injected"] for r in sb.records) == 2


async def test_message_limits_and_ownership(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    status, body, _ = await call(http, "POST", path, json={"content": "x" * 2001})
    assert status == 400 and body["code"] == 50035 and "content" in body["errors"]
    status, body, _ = await call(http, "POST", path, json={"embeds": [{"description": "d" * 4097}]})
    assert status == 400 and body["errors"]["embeds"]["0"]["description"]
    assert (await call(http, "POST", path, json={"content": ""}))[1]["code"] == 50006
    alice = sb.add_member(guild.id, "alice")
    mid = await sb.post_user_message(guild.default_channel_id, alice, "mine")
    status, body, _ = await call(http, "PATCH", f"{path}/{mid}", json={"content": "edited"})
    assert status == 403 and body["code"] == 50005
    assert (await call(http, "GET", f"{path}/999"))[1]["code"] == 10008
    assert (await call(http, "GET", "/channels/999/messages"))[1]["code"] == 10003


async def test_an_enforced_nonce_answers_a_repeat_with_the_first_message(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    first = (await call(http, "POST", path, json={"content": "a", "nonce": "n1"}))[1]
    again = {"content": "b", "nonce": "n1", "enforce_nonce": True}
    repeat = (await call(http, "POST", path, json=again))[1]
    assert (repeat["id"], repeat["content"], repeat["nonce"]) == (first["id"], "a", "n1")
    unenforced = (await call(http, "POST", path, json={"content": "c", "nonce": "n1"}))[1]
    assert unenforced["id"] != first["id"]
    sb.delete_message(int(first["id"]))  # a deleted message is not answered with
    assert (await call(http, "POST", path, json=again))[1]["id"] != first["id"]
    status, body, _ = await call(http, "POST", path, json={"content": "d", "nonce": "n" * 26})
    assert status == 400 and "nonce" in body["errors"]


async def test_attachment_size_limit_per_sandbox_and_per_guild() -> None:
    async with DiscordSandbox(attachment_size_limit=8) as small, aiohttp.ClientSession() as http:
        boosted, plain = small.add_guild(), small.add_guild()
        small.set_attachment_size_limit(16, guild_id=boosted.id)
        for guild, allowed in ((boosted, 16), (plain, 8)):
            assert small.payloads.attachment_limit(guild.id) == allowed
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("payload_json", '{"attachments": [{"id": 0, "filename": "f.bin"}]}')
            form.add_field("files[0]", b"x" * 12, filename="f.bin")
            url = f"{small.api_base}/channels/{guild.default_channel_id}/messages"
            auth = {"Authorization": f"Bot {small.token}"}
            async with http.post(url, data=form, headers=auth) as resp:
                assert resp.status == (200 if allowed >= 12 else 413)


async def test_multipart_upload_is_stored_and_served(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json", '{"content": "pic", "attachments": [{"id": 0, "filename": "p.png"}]}'
    )
    form.add_field(
        "files[0]", b"\x89PNG", filename="p.png", content_type="application/octet-stream"
    )
    status, body, _ = await call(
        http, "POST", f"/channels/{guild.default_channel_id}/messages", data=form
    )
    assert status == 200 and body["attachments"][0]["content_type"] == "image/png"
    assert sb.records[-1]["files"] == [
        {
            "field": "files[0]",
            "filename": "p.png",
            "size": 4,
            "content_type": "application/octet-stream",
        }
    ]
    async with aiohttp.ClientSession() as cdn, cdn.get(body["attachments"][0]["url"]) as resp:
        assert await resp.read() == b"\x89PNG"


async def test_command_sync_validates_and_keeps_localizations(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    path = f"/applications/{sb.application_id}/commands"
    status, body, _ = await call(http, "PUT", path, json=COMMANDS)
    assert status == 200 and body[0]["name_localizations"] == {"zh-CN": "提问"}
    again = (await call(http, "PUT", path, json=COMMANDS))[1]
    assert again[0]["id"] == body[0]["id"]  # re-syncing keeps the command's id
    bad = [{**COMMANDS[0], "name_localizations": {"zh": "提问"}}]
    status, body, _ = await call(http, "PUT", path, json=bad)
    assert status == 400 and body["errors"]["0"]["name_localizations"]["zh"]
    status, body, _ = await call(
        http, "PUT", f"/applications/{sb.application_id}/guilds/{guild.id}/commands", json=COMMANDS
    )
    assert body[0]["guild_id"] == str(guild.id)
    assert (await call(http, "GET", path))[1][0]["name"] == "ask"


async def test_gateway_handshake_intents_and_interaction_lifecycle(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild(locale="zh-CN")
    alice = sb.add_member(guild.id, "alice")
    await call(http, "PUT", f"/applications/{sb.application_id}/commands", json=COMMANDS)
    ws, ready = await identify(http, sb, GUILDS | GUILD_MESSAGES)
    assert (
        ready["t"] == "READY"
        and ready["s"] == 1
        and ready["d"]["resume_gateway_url"] == sb.gateway_url
    )
    created = await next_dispatch(ws, "GUILD_CREATE")
    data = created["d"]
    assert data["member_count"] == len(data["members"]) == 3 and all(
        "flags" in m for m in data["members"]
    )
    assert data["roles"][0]["id"] == str(guild.id) and data["preferred_locale"] == "zh-CN"
    # Without the message content intent, members' messages arrive blank...
    await sb.post_user_message(guild.default_channel_id, alice, "secret words")
    assert (await next_dispatch(ws, "MESSAGE_CREATE"))["d"]["content"] == ""
    # ...unless they mention the bot.
    await sb.post_user_message(guild.default_channel_id, alice, f"<@{sb.bot_user_id}> hi")
    assert (await next_dispatch(ws, "MESSAGE_CREATE"))["d"]["content"].endswith("hi")
    with pytest.raises(ValueError):
        await sb.slash(guild.id, None, alice, "ask", {"text": "q", "n": 9})  # out of range
    ih = await sb.slash(guild.id, None, alice, "ask", {"text": "q", "n": 2})
    frame = await next_dispatch(ws, "INTERACTION_CREATE")
    assert frame["d"]["data"]["options"] == [
        {"name": "text", "type": 3, "value": "q"},
        {"name": "n", "type": 4, "value": 2},
    ]
    hook = f"/webhooks/{sb.application_id}/{ih.token}"
    assert (await call(http, "POST", hook, json={"content": "early"}))[1]["code"] == 10015
    callback = f"/interactions/{ih.id}/{ih.token}/callback?with_response=true"
    status, body, _ = await call(http, "POST", callback, json={"type": 5, "data": {"flags": 64}})
    assert status == 200 and body["interaction"]["response_message_loading"] is True
    assert body["interaction"]["response_message_ephemeral"] is True
    # Right after a defer a followup completes the loading message (documented compat).
    status, body, _ = await call(http, "POST", hook, json={"content": "answer"})
    assert body["id"] == str(ih.original_message_id) and body["flags"] == 64
    status, body, _ = await call(http, "POST", hook, json={"content": "more"})
    assert body["id"] != str(ih.original_message_id) and body["flags"] == 0
    original = sb.message(ih.original_message_id or 0)
    assert original.content == "answer" and original.ephemeral
    assert [m.content for m in sb.interaction_messages(ih)] == ["answer", "more"]
    assert (await call(http, "GET", hook + "/messages/@original"))[1]["content"] == "answer"
    assert (await call(http, "DELETE", hook + "/messages/@original"))[0] == 204
    sb.settings.interaction_token_ttl = 0.0
    assert (await call(http, "PATCH", hook + "/messages/@original", json={"content": "x"}))[1][
        "code"
    ] == 50027
    await ws.close()


async def test_gateway_refuses_bad_token_and_unapproved_intents(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    ws, _ = await identify(http, sb, GUILDS, token="wrong")
    await ws.receive()
    assert ws.close_code == 4004
    sb.settings.privileged_intents = 0
    ws = await http.ws_connect(sb.gateway_url)
    await ws.receive_json()
    await ws.send_json(
        {"op": 2, "d": {"token": sb.token, "intents": MESSAGE_CONTENT, "properties": {}}}
    )
    await ws.receive()
    assert ws.close_code == 4014


def make_message(content: str, allowed: dict[str, Any] | None = None) -> Message:
    return Message(id=1, channel_id=2, author_id=3, content=content, allowed_mentions=allowed)


@pytest.mark.parametrize(
    ("content", "allowed", "pings"),
    [
        ("hello", None, False),
        ("hi <@42>", None, True),
        ("hi <@!42>", {"parse": []}, False),
        ("hi <@42>", {"users": ["42"]}, True),
        ("@everyone look", {"parse": ["users"]}, False),
        ("@here look", {"parse": ["everyone"]}, True),
        ("<@&7> team", {"parse": ["users"]}, False),
        ("<@&7> team", {"roles": [7]}, True),
        ("<@42>", {}, False),
    ],
)
def test_mentions_pinged(content: str, allowed: dict[str, Any] | None, pings: bool) -> None:
    assert mentions_pinged(make_message(content, allowed)) is pings


def test_guild_ids_spread_round_robin_over_shards() -> None:
    sandbox = DiscordSandbox()
    guilds = [sandbox.add_guild(name=f"g{i}") for i in range(4)]
    assert [sandbox.shard_of(g.id, 2) for g in guilds] == [0, 1, 0, 1]
    assert [sandbox.shard_of(g.id, 4) for g in guilds] == [0, 1, 2, 3]


async def test_permissions_and_default_member_permissions(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    manage_guild = 1 << 5
    guild = sb.add_guild()
    alice = sb.add_member(guild.id, "alice")
    mod = sb.add_member(guild.id, "mod", permissions=manage_guild | (1 << 10) | (1 << 11))
    admin_only = [{**COMMANDS[0], "default_member_permissions": str(manage_guild)}]
    await call(http, "PUT", f"/applications/{sb.application_id}/commands", json=admin_only)
    ws, _ = await identify(http, sb, GUILDS)
    with pytest.raises(PermissionError):
        await sb.slash(guild.id, None, alice, "ask", {"text": "q"})
    ih = await sb.slash(guild.id, None, mod, "ask", {"text": "q"})
    assert int(ih.payload["member"]["permissions"]) & manage_guild
    owner = await sb.slash(guild.id, None, guild.owner_id, "ask", {"text": "q"})
    assert int(owner.payload["member"]["permissions"]) == (1 << 51) - 1
    # The mod's extra permission lives on a personal role, so a cached guild agrees.
    created = (await next_dispatch(ws, "GUILD_CREATE"))["d"]
    roles = {r["id"]: int(r["permissions"]) for r in created["roles"]}
    mod_roles = next(m["roles"] for m in created["members"] if m["user"]["id"] == str(mod))
    assert not roles[str(guild.id)] & manage_guild
    assert any(roles[r] & manage_guild for r in mod_roles)
    await ws.close()
