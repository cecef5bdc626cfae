"""/credit: the guild's credit, as members and admins see it."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot, require_guild
from bot.i18n import cmd


@app_commands.guild_only()
class Credit(
    commands.GroupCog,
    group_name=cmd("credit", "credit.name"),
    group_description=cmd("Your server's credit", "credit.description"),
):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=cmd("balance", "credit.balance.name"),
        description=cmd("Show this server's credit balance", "credit.balance.description"),
    )
    async def balance(self, interaction: discord.Interaction[AtelierBot]) -> None:
        services = self.bot.services
        guild_id = require_guild(interaction)
        balance = await services.ledger.balance(guild_id)
        text = services.catalog.t(interaction.locale, "credit.balance", balance=f"{balance:,}")
        await interaction.response.send_message(text, ephemeral=True)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Credit(bot))
