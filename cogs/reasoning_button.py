"""The "Show reasoning" button under a reasoning model's answer (servers in collapsed mode).

Its custom_id names the stored reasoning, so it works after a restart; whoever presses it gets
the reasoning privately: a few messages, or a .txt file when it is long.
"""

from __future__ import annotations

import io
import re
from typing import Any

import discord

from bot.app import Admitted, AtelierBot, require_guild
from bot.errors import ReasoningGone
from bot.splitting import DISCORD_LIMIT, split_text
from bot.targets import NO_MENTIONS

# More pieces than this, and the reasoning comes as a file instead of a flood of messages.
MAX_REASONING_MESSAGES = 3
PREFIX = "atelier:think:"


class ReasoningButton(
    Admitted,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"atelier:think:(?P<id>[0-9]{1,18})",
):
    def __init__(self, reasoning_id: int, label: str = "Show reasoning") -> None:
        super().__init__(
            discord.ui.Button(
                label=label[:80],
                emoji="💭",
                custom_id=f"{PREFIX}{reasoning_id}",
                style=discord.ButtonStyle.secondary,
            )
        )
        self.reasoning_id = reasoning_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ReasoningButton:
        return cls(int(match["id"]))

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            services = interaction.client.services
            text = await services.reasoning.get(self.reasoning_id, require_guild(interaction))
            if not text:
                raise ReasoningGone(f"reasoning {self.reasoning_id} not found")
            pieces = [p.content for p in split_text(text, DISCORD_LIMIT)]
            if len(pieces) > MAX_REASONING_MESSAGES:
                note = services.catalog.t(interaction.locale, "reasoning.file_note")
                file = discord.File(io.BytesIO(text.encode()), filename="reasoning.txt")
                await interaction.followup.send(
                    note, file=file, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
                return
            for piece in pieces:
                await interaction.followup.send(
                    piece, ephemeral=True, allowed_mentions=NO_MENTIONS
                )
        except Exception as error:
            await interaction.client.report_error(interaction, error)
