"""Uploading the slash commands at start, and what an operator reads when Discord refuses them.

Discord checks the whole list at once (``PUT /applications/{id}/commands``): one invalid name
or description fails it with 400 50035 and the bot is left with no commands. discord.py raises
``CommandSyncFailure`` (several lines naming each command and field) or a plain
``HTTPException``; here they become one ``OperatorError`` line with an exit code of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands

from bot.errors import BadSetting, CommandsRefused, ServiceUnreachable

REFUSED_HELP = (
    "the commands of this build (or their translations) are invalid, which no setting fixes: "
    "report it with this line, and run the previous version meanwhile"
)
MISSING_ACCESS = 50001


async def sync_commands(tree: app_commands.CommandTree[Any], guild_ids: Sequence[int]) -> None:
    """Upload every command globally, or to each of ``guild_ids`` (instant, for a setup)."""
    if not guild_ids:
        await _sync(tree, None)
        return
    for guild_id in guild_ids:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        await _sync(tree, guild)


async def _sync(tree: app_commands.CommandTree[Any], guild: discord.Object | None) -> None:
    try:
        await tree.sync(guild=guild)
    except discord.HTTPException as exc:
        raise sync_error(exc, guild.id if guild else None) from exc


def sync_error(exc: discord.HTTPException, guild_id: int | None) -> Exception:
    """The operator's one line for a failed sync, typed by what fixes it."""
    where = f"for server {guild_id}" if guild_id is not None else "globally"
    answer = f"HTTP {exc.status}, code {exc.code}"
    if isinstance(exc, app_commands.CommandSyncFailure) or exc.status == 400:
        lines = str(exc).splitlines()
        # discord.py's first line repeats the status; the rest names each command and field.
        detail = "; ".join(line.strip() for line in lines[1:] if line.strip()) or exc.text
        said = f": {detail}" if detail else ""
        return CommandsRefused(
            f"Discord refused the slash commands {where} ({answer}){said}; {REFUSED_HELP}"
        )
    if guild_id is not None and (exc.status == 403 or exc.code == MISSING_ACCESS):
        return BadSetting(
            f"discord.sync_guild_ids: Discord refused the commands for server {guild_id} "
            f"({answer}, {exc.text or 'Missing Access'}): the bot is not in that server, or was "
            "invited without the applications.commands scope; invite it again with that scope "
            "(README, step 2) or remove the id"
        )
    if exc.status >= 500:
        return ServiceUnreachable(
            f"Discord could not store the slash commands {where} ({answer}); start again later"
        )
    return CommandsRefused(f"Discord refused the slash commands {where} ({answer}: {exc.text})")
