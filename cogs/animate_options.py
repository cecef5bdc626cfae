"""Animate's options step: a private menu of lengths, modes and sound, each with its price.

Shown instead of the motion form when the default video model has more than one choice
(``bot.animate_choices``); picking one opens the form for exactly that choice, its price in the
title, and that price is what the form's submit holds. Nothing is held before. The menu is a
persistent item whose custom_id names only the images (its values the choices), so it works
after a restart. Not an extension: ``cogs.animate`` registers the menu and calls
``offer_choices``.
"""

from __future__ import annotations

import re
from typing import Any

import discord

from bot.animate import animate_price
from bot.animate_choices import choices, decode, encode
from bot.app import Admitted, AtelierBot
from bot.config import VideoModel
from bot.job_types import Job

JOB_ID = r"[0-9]{1,18}"
LABEL_LIMIT = 100  # Discord's limit for a select option's label and the placeholder


async def offer_choices(
    interaction: discord.Interaction[AtelierBot], model: VideoModel, start: Job, end: Job | None
) -> None:
    """Answer with the menu of choices, privately: a new message under a card, or in place of
    the "Animate to…" menu it was reached from."""
    # Imported here: cogs.video imports cogs.media, which imports cogs.animate, which imports
    # this module.
    from cogs.video import details

    bot = interaction.client
    catalog, config, locale = bot.services.catalog, bot.services.config, interaction.locale
    options = [
        discord.SelectOption(
            label=catalog.t(
                locale,
                "animate.option",
                details=details(chosen),
                price=animate_price(model, config, chosen),
            )[:LABEL_LIMIT],
            value=encode(model, chosen),
        )
        for chosen in choices(model)
    ]
    placeholder = catalog.t(locale, "animate.options_placeholder")[:LABEL_LIMIT]
    view = discord.ui.View(timeout=None)
    view.add_item(OptionsSelect(start.id, end.id if end else 0, options, placeholder))
    text = catalog.t(locale, "animate.pick_options", job=start.id)
    shown = interaction.message
    if shown is not None and shown.flags.ephemeral:
        await interaction.response.edit_message(content=text, view=view)
    else:
        await interaction.response.send_message(text, view=view, ephemeral=True)


class OptionsSelect(
    Admitted,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"atelier:animopt:(?P<start>{JOB_ID}):(?P<end>{JOB_ID})",
):
    """Which length and mode; the pick opens the motion form at that choice's price."""

    def __init__(
        self,
        start: int,
        end: int,
        options: list[discord.SelectOption] | None = None,
        placeholder: str | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"atelier:animopt:{start}:{end}",
                options=options or [discord.SelectOption(label="?")],
                placeholder=placeholder,
            )
        )
        self.start, self.end = start, end

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> OptionsSelect:
        return cls(int(match["start"]), int(match["end"]))

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        # Imported here: cogs.animate imports this module for the menu.
        from cogs.animate import image_job, open_modal, served_model

        try:
            picked = str((interaction.data or {}).get("values", [""])[0])
            chosen = decode(served_model(interaction), picked)
            start = await image_job(interaction, self.start)
            end = await image_job(interaction, self.end) if self.end else None
            await open_modal(interaction, start, end, chosen)
        except Exception as error:  # discord.py only logs a dynamic item's errors
            await interaction.client.report_error(interaction, error)
