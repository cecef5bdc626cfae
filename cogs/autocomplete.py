"""Autocomplete shared by several commands (not an extension)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import discord
from discord import app_commands

ChoiceValue = TypeVar("ChoiceValue", str, int, float)
CHOICES_LIMIT = 25
CHOICE_TEXT_LIMIT = 100  # Discord's limit on a choice's name and on a string value


def fitting_choices(
    pairs: Iterable[tuple[str, ChoiceValue]],
) -> list[app_commands.Choice[ChoiceValue]]:
    """(name, value) pairs as an autocomplete answer Discord takes: at most 25 choices, names
    cut to 100 characters (a blank one named by its value). A string value over 100 characters
    is left out rather than cut, since a cut value would name something else."""
    out: list[app_commands.Choice[ChoiceValue]] = []
    for name, value in pairs:
        if isinstance(value, str) and not 0 < len(value) <= CHOICE_TEXT_LIMIT:
            continue
        shown = name.strip()[:CHOICE_TEXT_LIMIT] or str(value)[:CHOICE_TEXT_LIMIT]
        out.append(app_commands.Choice(name=shown, value=value))
        if len(out) == CHOICES_LIMIT:
            break
    return out


async def shared_gpt_choices(
    interaction: discord.Interaction[Any], current: str
) -> list[app_commands.Choice[str]]:
    """GPTs shared in the interaction's guild whose name or id contains ``current``."""
    if interaction.guild_id is None:
        return []
    needle = current.casefold()
    entries = await interaction.client.services.gpt_catalog.list(interaction.guild_id)
    return fitting_choices(
        (e.name, e.gizmo_id)
        for e in entries
        if needle in e.name.casefold() or needle in e.gizmo_id.casefold()
    )
