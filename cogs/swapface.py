"""/swapface source: target: — InsightFace through the Midjourney proxy (``/mj/insight-face/swap``).

A Midjourney job like /imagine (``mj_swap_face``): held at the configured price, submitted with
both images as data URLs, polled, delivered as an image on its card, settled or refunded. Offered
where the gateway has the route (new-api, trueai-org's proxy; not novicezk's, not one-api);
an operator turns it off with ``upstream.capabilities.not_served = ["midjourney_swap_face"]``.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot
from bot.errors import SwapImageTooLarge
from bot.i18n import cmd
from bot.providers.midjourney import MAX_REFERENCE_BYTES
from cogs.imagine import card, new_job
from cogs.references import reference_url
from cogs.views import start_job

KIND = "mj_swap_face"


def swap_image(attachment: discord.Attachment) -> str:
    """The attachment's link, once it is an image the proxy takes (checked before any hold)."""
    return reference_url(attachment, MAX_REFERENCE_BYTES, too_large=SwapImageTooLarge)


class SwapFace(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=cmd("swapface", "mj_swap.name"),
        description=cmd(
            "Put the face from one image onto the person in another", "mj_swap.description"
        ),
    )
    @app_commands.describe(
        source=cmd("The image with the face to use", "mj_swap.source"),
        target=cmd("The image whose face is replaced", "mj_swap.target"),
    )
    @app_commands.guild_only()
    async def swapface(
        self,
        interaction: discord.Interaction[AtelierBot],
        source: discord.Attachment,
        target: discord.Attachment,
    ) -> None:
        # Before anything is held: a gateway without the route, or a bad file, costs nothing.
        capabilities = self.bot.services.capabilities
        capabilities.require("midjourney")
        capabilities.require("midjourney_swap_face")
        source_url, target_url = swap_image(source), swap_image(target)
        title = f"{source.filename} → {target.filename}"
        request = {"source_url": source_url, "target_url": target_url, "prompt": title}
        new = new_job(interaction, KIND, request)
        waiting = self.bot.services.catalog.t(interaction.locale, "jobs.waiting")
        shown = card(self.bot, interaction.locale, title, interaction.user.id, waiting)
        await start_job(interaction, new, shown)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(SwapFace(bot))
