"""The sandbox refuses what Discord refuses (discord-sandbox.md §8): 400, code 50035 "Invalid
Form Body", and an ``errors`` tree naming the field. Each case is sent over HTTP, as a bot
sends it, and checked against the tree Discord answers with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import DiscordSandbox
from tests.test_sandbox_discord_rest import GUILDS, identify

OK_BUTTON = {"type": 2, "style": 2, "label": "Go", "custom_id": "go"}


def row(*components: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(components)}


def button(**fields: Any) -> dict[str, Any]:
    return {**OK_BUTTON, **fields}


def leaf(tree: dict[str, Any], path: list[str | int]) -> list[dict[str, Any]]:
    """The ``_errors`` list at ``path``; a KeyError names a tree that is not Discord's shape."""
    node = tree
    for key in path:
        node = node[str(key)]
    return node["_errors"]


@pytest.fixture
async def sb() -> AsyncIterator[DiscordSandbox]:
    async with DiscordSandbox() as sandbox:
        yield sandbox


def open_http(sb: DiscordSandbox) -> aiohttp.ClientSession:
    """A client that calls the sandbox's REST API as the bot."""
    headers = {"Authorization": f"Bot {sb.token}"}
    return aiohttp.ClientSession(base_url=sb.api_base + "/", headers=headers)


@pytest.fixture
async def http(sb: DiscordSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with open_http(sb) as session:
        yield session


async def call(http: aiohttp.ClientSession, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, path.lstrip("/"), **kw) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def refused(
    http: aiohttp.ClientSession, method: str, path: str, body: Any, where: list[str | int]
) -> str:
    status, answer = await call(http, method, path, json=body)
    assert (status, answer["code"], answer["message"]) == (400, 50035, "Invalid Form Body"), answer
    return leaf(answer["errors"], where)[0]["code"]


MESSAGE_CASES = [
    ({"content": "x" * 2001}, ["content"]),
    ({"embeds": [{"color": 0x1000000}]}, ["embeds", 0, "color"]),
    ({"embeds": [{"image": {"url": "ftp://x/y.png"}}]}, ["embeds", 0, "image", "url"]),
    ({"embeds": [{"title": "t" * 257}]}, ["embeds", 0, "title"]),
    (
        {"content": "hi", "allowed_mentions": {"parse": ["channels"]}},
        ["allowed_mentions", "parse", 0],
    ),
    (
        {"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}},
        ["allowed_mentions"],
    ),
    ({"content": "hi", "nonce": "n" * 26}, ["nonce"]),
    ({"content": "hi", "flags": 1 << 1}, ["flags"]),
    ({"components": [row(button()) for _ in range(6)]}, ["components"]),
    ({"components": [row()]}, ["components", 0, "components"]),
    ({"components": [button()]}, ["components", 0, "type"]),
    (
        {"components": [row(*[button(custom_id=f"b{i}") for i in range(6)])]},
        ["components", 0, "components"],
    ),
    ({"components": [row(button(custom_id="x" * 101))]}, ["components", "custom_id"]),
    ({"components": [row(button(custom_id=""))]}, ["components", "custom_id"]),
    ({"components": [row(button(), button())]}, ["components"]),
    ({"components": [row(button(label="l" * 81))]}, ["components", 0, "components", 0, "label"]),
    ({"components": [row(button(label=None))]}, ["components", 0, "components", 0]),
    ({"components": [row(button(style=9))]}, ["components", 0, "components", 0, "style"]),
    (
        {"components": [row(button(emoji={"name": "upscale_1"}))]},
        ["components", 0, "components", 0, "emoji", "name"],
    ),
    (
        {"components": [row(button(style=5, url="https://x.example"))]},
        ["components", 0, "components", 0, "custom_id"],
    ),
    (
        {"components": [row(button(style=5, custom_id=None))]},
        ["components", 0, "components", 0, "url"],
    ),
    (
        {"components": [row(button(url="https://x.example"))]},
        ["components", 0, "components", 0, "url"],
    ),
    (
        {"components": [row({"type": 3, "custom_id": "s", "options": []})]},
        ["components", 0, "components", 0, "options"],
    ),
    (
        {
            "components": [
                row({"type": 3, "custom_id": "s", "options": [{"label": "a" * 101, "value": "a"}]})
            ]
        },
        ["components", 0, "components", 0, "options", 0, "label"],
    ),
    (
        {
            "components": [
                row(
                    {
                        "type": 3,
                        "custom_id": "s",
                        "min_values": 2,
                        "max_values": 1,
                        "options": [{"label": "a", "value": "a"}],
                    }
                )
            ]
        },
        ["components", 0, "components", 0, "min_values"],
    ),
    (
        {
            "components": [
                row(
                    {"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]},
                    button(),
                )
            ]
        },
        ["components", 0, "components"],
    ),
    (
        {"content": "v2", "flags": 1 << 15, "components": [{"type": 10, "content": "x"}]},
        ["content"],
    ),
]


@pytest.mark.parametrize(("body", "where"), MESSAGE_CASES)
async def test_message_refused_with_discords_tree(
    sb: DiscordSandbox, http: aiohttp.ClientSession, body: dict[str, Any], where: list[str | int]
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    await refused(http, "POST", path, body, where)
    assert not sb.messages(guild.default_channel_id)


async def test_valid_components_and_emoji_go_through(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    body = {
        "content": "ok",
        "allowed_mentions": {"parse": [], "users": ["1"]},
        "components": [
            row(
                button(emoji={"name": "🔄"}, label=None),
                button(custom_id="c", emoji={"id": "123", "name": "mj"}),
                button(style=5, custom_id=None, url="https://x.example", label="Open"),
            ),
            row({"type": 3, "custom_id": "s", "options": [{"label": "a", "value": "a"}]}),
        ],
    }
    status, answer = await call(http, "POST", path, json=body)
    assert status == 200, answer


async def test_edit_is_checked_like_a_post(sb: DiscordSandbox, http: aiohttp.ClientSession) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    mid = (await call(http, "POST", path, json={"content": "card"}))[1]["id"]
    body = {"components": [row(button(emoji={"name": "upscale_1"}))]}
    await refused(
        http, "PATCH", f"{path}/{mid}", body, ["components", 0, "components", 0, "emoji", "name"]
    )
    assert sb.message(int(mid)).components == []


async def test_files_per_file_request_and_ids(
    sb: DiscordSandbox, http: aiohttp.ClientSession
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"

    def form(sizes: list[int], ids: list[int] | None = None) -> aiohttp.FormData:
        data = aiohttp.FormData(quote_fields=False)
        listed = [
            {"id": i, "filename": f"f{i}.bin"}
            for i in (ids if ids is not None else range(len(sizes)))
        ]
        data.add_field("payload_json", __import__("json").dumps({"attachments": listed}))
        for i, size in enumerate(sizes):
            data.add_field(f"files[{i}]", b"\0" * size, filename=f"f{i}.bin")
        return data

    # 10 MiB a file by default, as on a server without boosts.
    status, answer = await call(http, "POST", path, data=form([10 * 1024 * 1024 + 1]))
    assert (status, answer["code"]) == (413, 40005)
    assert (await call(http, "POST", path, data=form([10 * 1024 * 1024])))[0] == 200
    # A boosted server takes larger files, but one request is still capped at 25 MiB.
    sb.set_attachment_size_limit(50 * 1024 * 1024, guild_id=guild.id)
    assert (await call(http, "POST", path, data=form([13 * 1024 * 1024] * 2)))[1]["code"] == 40005
    status, answer = await call(http, "POST", path, data=form([4], ids=[1]))
    assert status == 400 and leaf(answer["errors"], ["attachments"])
    status, answer = await call(http, "POST", path, data=form([1] * 11))
    assert status == 400 and leaf(answer["errors"], ["attachments"])


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"name": "n" * 101}, ["name"]),
        ({"name": ""}, ["name"]),
        ({"name": "ok", "auto_archive_duration": 30}, ["auto_archive_duration"]),
    ],
)
async def test_thread_refused(
    sb: DiscordSandbox, http: aiohttp.ClientSession, body: dict[str, Any], where: list[str | int]
) -> None:
    guild = sb.add_guild()
    channel = guild.default_channel_id
    mid = (await call(http, "POST", f"/channels/{channel}/messages", json={"content": "x"}))[1][
        "id"
    ]
    await refused(http, "POST", f"/channels/{channel}/messages/{mid}/threads", body, where)
    await refused(http, "POST", f"/channels/{channel}/threads", {**body, "type": 11}, where)
    ok = {"name": "n" * 100, "auto_archive_duration": 10080}
    assert (await call(http, "POST", f"/channels/{channel}/threads", json={**ok, "type": 11}))[
        0
    ] == 200


def command(**fields: Any) -> dict[str, Any]:
    return {"name": "ask", "description": "Ask", "type": 1, **fields}


def opt(name: str = "text", otype: int = 3, **fields: Any) -> dict[str, Any]:
    return {"name": name, "description": "D", "type": otype, **fields}


def text_input(**fields: Any) -> dict[str, Any]:
    return row({"type": 4, "custom_id": "f", "label": "Prompt", "style": 1, **fields})


def modal(**fields: Any) -> dict[str, Any]:
    return {"custom_id": "m", "title": "Remix", "components": [text_input()], **fields}


CALLBACK_CASES = [
    (9, modal(title="t" * 46), ["data", "title"]),
    (9, modal(custom_id=""), ["data", "custom_id"]),
    (9, modal(components=[]), ["data", "components"]),
    (
        9,
        modal(components=[text_input(custom_id=f"f{i}") for i in range(6)]),
        ["data", "components"],
    ),
    (
        9,
        modal(components=[text_input(label="l" * 46)]),
        ["data", "components", 0, "components", 0, "label"],
    ),
    (
        9,
        modal(components=[text_input(style=3)]),
        ["data", "components", 0, "components", 0, "style"],
    ),
    (
        9,
        modal(components=[text_input(placeholder="p" * 101)]),
        ["data", "components", 0, "components", 0, "placeholder"],
    ),
    (
        9,
        modal(components=[text_input(min_length=9, max_length=3)]),
        ["data", "components", 0, "components", 0, "min_length"],
    ),
    (
        9,
        modal(components=[text_input(max_length=4001)]),
        ["data", "components", 0, "components", 0, "max_length"],
    ),
    (
        9,
        modal(components=[text_input(max_length=5, value="v" * 6)]),
        ["data", "components", 0, "components", 0, "value"],
    ),
    (9, modal(components=[text_input(), text_input()]), ["data", "components"]),
    (8, {"choices": [{"name": str(i), "value": str(i)} for i in range(26)]}, ["data", "choices"]),
    (8, {"choices": [{"name": "", "value": "v"}]}, ["data", "choices", 0, "name"]),
    (8, {"choices": [{"name": "n" * 101, "value": "v"}]}, ["data", "choices", 0, "name"]),
    (8, {"choices": [{"name": "n", "value": "v" * 101}]}, ["data", "choices", 0, "value"]),
]


@pytest.mark.parametrize(("ctype", "data", "where"), CALLBACK_CASES)
async def test_callback_refused(
    sb: DiscordSandbox,
    http: aiohttp.ClientSession,
    ctype: int,
    data: dict[str, Any],
    where: list[str | int],
) -> None:
    guild = sb.add_guild()
    alice = sb.add_member(guild.id, "alice")
    cmd = command(options=[opt(autocomplete=True)])
    await call(http, "PUT", f"/applications/{sb.application_id}/commands", json=[cmd])
    ws, _ = await identify(http, sb, GUILDS)
    if ctype == 8:
        handle = await sb.autocomplete(guild.id, None, alice, "ask", {"text": "q"}, focused="text")
    else:
        handle = await sb.slash(guild.id, None, alice, "ask", {"text": "q"})
    callback = f"/interactions/{handle.id}/{handle.token}/callback?with_response=true"
    await refused(http, "POST", callback, {"type": ctype, "data": data}, where)
    assert not handle.responded  # a refused answer is no answer: the member sees a failure
    good = modal() if ctype == 9 else {"choices": [{"name": "n" * 100, "value": "v" * 100}] * 25}
    assert (await call(http, "POST", callback, json={"type": ctype, "data": good}))[0] == 200
    await ws.close()
