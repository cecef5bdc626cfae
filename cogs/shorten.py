"""/shorten: Midjourney's prompt analyzer (``/mj/submit/shorten``) suggests five shorter versions
of a prompt; each comes back with a button that imagines it as a normal, paid /imagine job.

The job and its card are the Midjourney cog's (``mj_shorten``, shown like a /describe result);
this extension only adds the command, offered where the gateway serves Midjourney."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot
from bot.i18n import cmd
from cogs.imagine import card, new_job
from cogs.views import start_job

KIND = "mj_shorten"


class Shorten(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=cmd("shorten", "mj_shorten.name"),
        description=cmd("Five shorter versions of a Midjourney prompt", "mj_shorten.description"),
    )
    @app_commands.describe(prompt=cmd("The prompt to shorten", "mj_shorten.prompt"))
    @app_commands.guild_only()
    async def shorten(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, 2000],
    ) -> None:
        # Before anything is held: a gateway without Midjourney costs nothing.
        capabilities = self.bot.services.capabilities
        capabilities.require("midjourney")
        capabilities.require("midjourney_shorten")  # novicezk, reached directly, has no shorten
        new = new_job(interaction, KIND, {"prompt": prompt})
        waiting = self.bot.services.catalog.t(interaction.locale, "jobs.waiting")
        await start_job(
            interaction,
            new,
            card(self.bot, interaction.locale, prompt, interaction.user.id, waiting),
        )


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Shorten(bot))
