"""Words as Discord shows them: every synced name and description, in every language we ship.

Through the sandbox: the bot's real command sync, and members whose Discord language is zh-TW.
"""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.i18n import LOCALES
from bot.sandbox.world import SandboxWorld
from tests.helpers import private_reply, run_slash

CHAT_INPUT = SUB_COMMAND = 1  # the top level and the option tree number their types apart
SUB_COMMAND_GROUP = 2
TRANSLATED = [code for code in LOCALES if code != "en-US"]
# discord.py's stand-in for a parameter nobody described.
UNDESCRIBED = "…"


@pytest.fixture
async def world() -> AsyncIterator[SandboxWorld]:
    async with SandboxWorld(config={"credit": {"starting_balance": 1234}}) as world:
        yield world


def synced(world: SandboxWorld) -> list[dict[str, Any]]:
    puts = [r for r in world.discord.records if r["method"] == "PUT" and "commands" in r["path"]]
    assert puts, "the bot synced no commands"
    return puts[-1]["json"]


def walk(nodes: list[dict[str, Any]], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every command, subcommand group, subcommand and option, with its path."""
    for node in nodes:
        here = f"{path} {node['name']}".strip()
        yield here, node
        yield from walk(node.get("options") or [], here)


def has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def valid_name(name: str) -> bool:
    """Discord's rule for chat-input names: ^[-_\\p{L}\\p{N}]{1,32}$, lowercase where cased."""
    return (
        1 <= len(name) <= 32
        and all(c in "-_" or unicodedata.category(c)[0] in "LN" for c in name)
        and name == name.lower()
    )


async def test_every_name_and_description_is_real_and_fits_discord(world: SandboxWorld) -> None:
    nodes = list(walk(synced(world)))
    assert len(nodes) > 70  # the whole tree, options included
    for path, node in nodes:
        names = [node["name"], *(node.get("name_localizations") or {}).values()]
        described = node.get("description_localizations") or {}
        descriptions = [node["description"], *described.values()]
        for name in names:
            assert valid_name(name), (path, name)
        for text in descriptions:
            assert text.strip() and text != UNDESCRIBED and len(text) <= 100, (path, text)
        for choice in node.get("choices") or []:
            for text in [choice["name"], *(choice.get("name_localizations") or {}).values()]:
                assert 1 <= len(text) <= 100, (path, choice)
        # Each of our languages has its own words in the picker, not the English fallback;
        # commands, groups and subcommands are named in it too (option names stay English).
        for locale in TRANSLATED:
            assert has_cjk(node["description_localizations"][locale]), (path, locale)
            if node["type"] in (CHAT_INPUT, SUB_COMMAND, SUB_COMMAND_GROUP):
                assert locale in node["name_localizations"], (path, locale)


async def test_every_registered_parameter_has_a_description(world: SandboxWorld) -> None:
    assert world.bot is not None
    commands = list(world.bot.tree.walk_commands())
    assert commands
    for command in commands:
        assert command.description not in ("", UNDESCRIBED), command.qualified_name
        for parameter in getattr(command, "parameters", []):
            assert parameter.description not in ("", UNDESCRIBED), (
                command.qualified_name,
                parameter.name,
            )


async def test_sync_carries_traditional_chinese(world: SandboxWorld) -> None:
    commands = {c["name"]: c for c in synced(world)}
    credit = commands["credit"]
    assert credit["name_localizations"] == {"zh-CN": "积分", "zh-TW": "點數"}
    grant = next(o for o in credit["options"] if o["name"] == "grant")
    assert grant["name_localizations"]["zh-TW"] == "儲值"
    amount = next(o for o in grant["options"] if o["name"] == "amount")
    assert amount["description"] == "Credits to add"
    assert amount["description_localizations"] == {"zh-CN": "要增加的积分", "zh-TW": "要增加的點數"}
    video = commands["video"]
    assert video["name_localizations"]["zh-TW"] == "影片"
    assert video["description_localizations"]["zh-TW"] == "依提示詞或圖片產生短片"


async def test_a_zh_tw_member_reads_traditional_replies_and_refusals(world: SandboxWorld) -> None:
    mei = world.add_member("美玲", locale="zh-TW")
    handle = await run_slash(world, mei, "credit balance", locale="zh-TW")
    reply = await private_reply(world, handle)
    assert reply.ephemeral
    assert reply.content.splitlines() == [
        "本伺服器目前有 **1,234** 點。",
        "你今天已消耗 **0** 點，本月 **0** 點。",
    ]

    # A refusal: only the bot's operators may grant credit, and nothing moves.
    handle = await run_slash(world, mei, "credit grant", {"amount": 500}, locale="zh-TW")
    refusal = await private_reply(world, handle)
    assert refusal.ephemeral
    assert refusal.content == "只有機器人營運者可以這麼做，因為點數代表真實的費用。"

    # The operator's own mistake, in the operator's language: a bad server ID grants nothing.
    handle = await run_slash(
        world, world.owner_id, "credit grant", {"amount": 500, "guild_id": "12abc"}, locale="zh-TW"
    )
    refusal = await private_reply(world, handle)
    assert refusal.ephemeral and refusal.content.startswith("`12abc` 不是伺服器 ID。")
    assert await world.services.ledger.balance(world.guild_id) == 1234
