"""Command sync as Discord checks it: one invalid definition fails the whole bulk overwrite
with 400 50035 and an ``errors`` tree naming the field, and the commands synced before stay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from bot.sandbox.discord import DiscordSandbox
from tests.test_sandbox_discord_rules import call, command, open_http, opt, refused


@pytest.fixture
async def sb() -> AsyncIterator[DiscordSandbox]:
    async with DiscordSandbox() as sandbox:
        yield sandbox


@pytest.fixture
async def http(sb: DiscordSandbox) -> AsyncIterator[aiohttp.ClientSession]:
    async with open_http(sb) as session:
        yield session


SYNC_CASES = [
    (command(name="Ask"), [0, "name"]),
    (command(name="a b"), [0, "name"]),
    (command(name="a" * 33), [0, "name"]),
    (command(name="ask!"), [0, "name"]),
    (command(name_localizations={"zh-CN": "提 问"}), [0, "name_localizations", "zh-CN"]),
    (command(name_localizations={"de": "Fragen"}), [0, "name_localizations", "de"]),
    (command(description=""), [0, "description"]),
    (
        command(description_localizations={"zh-CN": "d" * 101}),
        [0, "description_localizations", "zh-CN"],
    ),
    (command(name_localizations={"xx": "ask"}), [0, "name_localizations", "xx"]),
    (command(options=[opt(f"o{i}") for i in range(26)]), [0, "options"]),
    (command(options=[opt("a"), opt("b", required=True)]), [0, "options", 1, "required"]),
    (command(options=[opt("a"), opt("a")]), [0, "options", 1, "name"]),
    (command(options=[opt("a"), opt("s", 1)]), [0, "options"]),
    (command(options=[opt("g", 2, options=[opt("a")])]), [0, "options", 0, "options"]),
    (
        command(options=[opt("g", 2, options=[opt("h", 2, options=[])])]),
        [0, "options", 0, "options", 0, "type"],
    ),
    (
        command(options=[opt("s", 1, options=[opt("t", 1)])]),
        [0, "options", 0, "options", 0, "type"],
    ),
    (
        command(options=[opt(choices=[{"name": str(i), "value": str(i)} for i in range(26)])]),
        [0, "options", 0, "choices"],
    ),
    (
        command(options=[opt(choices=[{"name": "", "value": "v"}])]),
        [0, "options", 0, "choices", 0, "name"],
    ),
    (
        command(options=[opt(choices=[{"name": "n", "value": "v" * 101}])]),
        [0, "options", 0, "choices", 0, "value"],
    ),
    (
        command(options=[opt(otype=4, choices=[{"name": "n", "value": "1"}])]),
        [0, "options", 0, "choices", 0, "value"],
    ),
    (
        command(options=[opt(otype=5, choices=[{"name": "n", "value": 1}])]),
        [0, "options", 0, "choices"],
    ),
    (
        command(options=[opt(choices=[{"name": "n", "value": "v"}], autocomplete=True)]),
        [0, "options", 0, "autocomplete"],
    ),
    (command(options=[opt(otype=6, autocomplete=True)]), [0, "options", 0, "autocomplete"]),
    (command(options=[opt(min_length=10, max_length=5)]), [0, "options", 0, "min_length"]),
    (command(options=[opt(max_length=6001)]), [0, "options", 0, "max_length"]),
    (command(options=[opt(otype=4, min_value=10, max_value=1)]), [0, "options", 0, "min_value"]),
    ({"name": "Look", "type": 2, "description": "no"}, [0, "description"]),
    ({"name": "Look", "type": 3, "options": [opt()]}, [0, "options"]),
    (
        command(
            options=[
                opt(
                    f"o{i}",
                    description="d" * 100,
                    choices=[{"name": f"c{k}" * 50, "value": f"v{k}" * 50} for k in range(2)],
                )
                for i in range(25)
            ]
        ),
        [0],
    ),
]


@pytest.mark.parametrize(("cmd", "where"), SYNC_CASES)
async def test_bad_sync_fails_whole(
    sb: DiscordSandbox, http: aiohttp.ClientSession, cmd: dict[str, Any], where: list[str | int]
) -> None:
    path = f"/applications/{sb.application_id}/commands"
    assert (await call(http, "PUT", path, json=[command(name="keep")]))[0] == 200
    await refused(http, "PUT", path, [cmd], where)
    # The whole overwrite failed: the commands synced before are still the only ones.
    assert [c["name"] for c in (await call(http, "GET", path))[1]] == ["keep"]


async def test_legal_extremes_sync(sb: DiscordSandbox, http: aiohttp.ClientSession) -> None:
    cmd = command(
        name="सहायता",
        name_localizations={"th": "ช่วยเหลือ", "zh-CN": "帮助", "ja": "ヘルプ"},
        options=[
            opt("who", 6, required=True),
            opt("n", 4, min_value=1, max_value=1, autocomplete=True),
            opt(
                "pick",
                choices=[{"name": f"{k:02}" * 50, "value": f"{k:02}" * 50} for k in range(25)],
            ),
        ],
    )
    look = {"name": "Look Here", "type": 3}
    path = f"/applications/{sb.application_id}/commands"
    status, answer = await call(http, "PUT", path, json=[cmd, look])
    assert status == 200, answer
    many = [command(name=f"c{i}") for i in range(101)]
    status, answer = await call(http, "PUT", path, json=many)
    assert (
        status == 400 and answer["errors"]["_errors"][0]["code"] == "APPLICATION_COMMANDS_TOO_MANY"
    )


class ShoutingTranslator(app_commands.Translator):
    """zh-CN names with capitals: discord.py sends them, Discord refuses them."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContext[Any, Any],
    ) -> str | None:
        named = context.location is app_commands.TranslationContextLocation.command_name
        return "Ask" if named and locale is discord.Locale.chinese else None


async def test_discordpy_sync_of_a_bad_localized_name_fails_as_on_discord(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with DiscordSandbox() as sandbox:
        monkeypatch.setattr(discord.http.Route, "BASE", sandbox.api_base)
        client = discord.Client(intents=discord.Intents.none())
        tree = app_commands.CommandTree(client)

        @tree.command(name="ask", description="Ask")
        async def ask(interaction: discord.Interaction[Any]) -> None: ...

        await tree.set_translator(ShoutingTranslator())
        await client.login(sandbox.token)
        try:
            with pytest.raises(app_commands.CommandSyncFailure) as failure:
                await tree.sync()
            assert failure.value.status == 400 and failure.value.code == 50035
            assert "name_localizations" in str(failure.value)
            assert sandbox.synced_commands() == []  # the bot is left with no commands at all
        finally:
            await client.close()
