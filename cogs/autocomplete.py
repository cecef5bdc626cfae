"""Autocomplete shared by several commands (not an extension)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

CHOICES_LIMIT = 25


async def shared_gpt_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """GPTs shared in the interaction's guild whose name or id contains ``current``."""
    if interaction.guild_id is None:
        return []
    needle = current.casefold()
    entries = await interaction.client.services.gpt_catalog.list(interaction.guild_id)
    return [
        app_commands.Choice(name=e.name[:100], value=e.gizmo_id)
        for e in entries
        if needle in e.name.casefold() or needle in e.gizmo_id.casefold()
    ][:CHOICES_LIMIT]
