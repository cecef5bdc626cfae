"""/credit balance end to end: sandbox gateway in, the bot's real HTTP calls out, both languages."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.world import SandboxWorld


@pytest.fixture
async def world() -> AsyncIterator[SandboxWorld]:
    async with SandboxWorld(config={"credit": {"starting_balance": 1234}}) as world:
        yield world


async def ask(world: SandboxWorld, user_id: int, command: str, locale: str, **options: Any):
    handle = await world.discord.slash(
        world.guild_id, world.channel_id, user_id, command, options=options or None, locale=locale
    )
    await handle.wait_response(timeout=5)
    return world.discord.interaction_messages(handle)


async def test_balance_in_english_and_chinese(world: SandboxWorld) -> None:
    alice = world.add_member("alice", locale="en-US")
    lei = world.add_member("李雷", locale="zh-CN")

    [reply] = await ask(world, alice, "credit balance", "en-US")
    assert reply.content.splitlines() == [
        "This server has **1,234** credits.",
        "You spent **0** credits today and **0** this month.",
    ]
    assert reply.ephemeral

    [reply] = await ask(world, lei, "credit balance", "zh-CN")
    assert reply.content.splitlines()[0] == "本服务器当前有 **1,234** 积分。"
    assert reply.ephemeral
    assert world.discord.unknown_routes() == []


async def test_commands_are_synced_with_chinese_names(world: SandboxWorld) -> None:
    synced = [r for r in world.discord.records if r["method"] == "PUT" and "commands" in r["path"]]
    assert synced, "the bot synced no commands"
    commands = {c["name"]: c for c in synced[-1]["json"]}
    assert commands["credit"]["name_localizations"]["zh-CN"] == "积分"


async def test_no_request_leaves_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    connected: list[Any] = []
    resolved: list[str] = []
    real_connect, real_resolve = loop.sock_connect, loop.getaddrinfo

    async def sock_connect(sock: Any, address: Any) -> None:
        connected.append(address)
        await real_connect(sock, address)

    async def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return await real_resolve(host, *args, **kwargs)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)
    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    async with SandboxWorld() as world:
        member = world.add_member("bob")
        [reply] = await ask(world, member, "credit balance", "en-US")
        assert "credits" in reply.content
    assert connected, "no connection was observed: the check would prove nothing"
    assert {address[0] for address in connected} == {"127.0.0.1"}
    assert all(host in ("127.0.0.1", "localhost") for host in resolved)
