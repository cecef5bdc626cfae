"""Vary Region without drawing: the member picks the part of the image to redraw from a menu
(halves, quarters, centre), then writes the prompt; the mask is built from that choice when the
job is submitted (``bot.mj_masks``), to the size of the image.

A member who has a mask uploads it with ``/vary-region job:<n> mask:<image>``: a modal cannot
take an attachment, and a slash command option can. The menu tells them the job's number.

``cogs.imagine`` registers the menu, opens it for the Vary Region button, and adds this
module's cog. The menu is a persistent item (its custom_id names the job and the button) so
it still works after a restart.
"""

from __future__ import annotations

import re
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import Admitted, AtelierBot
from bot.errors import AtelierError
from bot.i18n import cmd
from bot.mj_masks import REGIONS
from cogs.imagine_prompt import PromptModal, job_prompt

INPAINT_PREFIX = "MJ::Inpaint::"
MASK_TYPES = ("image/png", "image/jpeg", "image/webp")


class NoVaryRegion(AtelierError):
    key = "gateways.no_vary_region"


class NotAMask(AtelierError):
    key = "gateways.not_a_mask"


def inpaint_button(buttons: list[dict[str, Any]]) -> str | None:
    """The Vary Region button's customId among a result's buttons."""
    return next(
        (b["custom_id"] for b in buttons if str(b.get("custom_id")).startswith(INPAINT_PREFIX)),
        None,
    )


class RegionSelect(
    Admitted,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=r"atelier:mjr:(?P<job>[0-9]{1,18}):(?P<index>[0-9]{1,2})",
):
    """Which part of a result Vary Region redraws; one choice per region of ``REGIONS``."""

    def __init__(self, job_id: int, index: int, options: list[discord.SelectOption] | None = None):
        super().__init__(
            discord.ui.Select(
                custom_id=f"atelier:mjr:{job_id}:{index}",
                options=options or [discord.SelectOption(label=name) for name in REGIONS],
                min_values=1,
                max_values=1,
            )
        )
        self.job_id = job_id
        self.index = index

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> RegionSelect:
        return cls(int(match["job"]), int(match["index"]))

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        # Imported here: cogs.imagine imports this module to register the menu.
        from cogs.imagine import action_job, parent_job

        try:
            region = str((interaction.data or {}).get("values", [""])[0])
            if region not in REGIONS:
                raise ValueError(f"unknown region {region!r}")
            parent = await parent_job(interaction, self.job_id)
            buttons = (parent.result or {}).get("buttons") or []
            custom_id = buttons[self.index]["custom_id"] if self.index < len(buttons) else ""
            if not custom_id.startswith(INPAINT_PREFIX):
                raise ValueError(f"job {self.job_id} button {self.index} is not Vary Region")

            async def submit(modal: discord.Interaction[AtelierBot], prompt: str) -> None:
                await action_job(modal, parent, custom_id, "mj_modal", prompt, region=region)

            default = (parent.result or {}).get("final_prompt") or job_prompt(parent)
            await interaction.response.send_modal(
                PromptModal(
                    interaction.client, interaction.locale, default, interaction.user.id, submit
                )
            )
        except Exception as error:
            await interaction.client.report_error(interaction, error)


async def ask_region(interaction: discord.Interaction[AtelierBot], job_id: int, index: int) -> None:
    """Answer the Vary Region button privately with the region menu (no network call first)."""
    catalog = interaction.client.services.catalog
    locale = interaction.locale
    options = [
        discord.SelectOption(label=catalog.t(locale, f"gateways.region_{name}"), value=name)
        for name in REGIONS
    ]
    view = discord.ui.View(timeout=None)
    view.add_item(RegionSelect(job_id, index, options))
    await interaction.response.send_message(
        catalog.t(locale, "gateways.region_pick", job=job_id), view=view, ephemeral=True
    )


class VaryRegion(commands.Cog):
    """``/vary-region``: Vary Region with the member's own mask."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @app_commands.command(
        name=cmd("vary-region", "mj.vary_region.name"),
        description=cmd("Vary Region with your own mask", "mj.vary_region.description"),
    )
    @app_commands.describe(
        job=cmd("The job number of the upscaled image", "mj.vary_region.job"),
        mask=cmd("Black and white: white is redrawn", "mj.vary_region.mask"),
        prompt=cmd("What to draw there (the image's prompt if empty)", "mj.vary_region.prompt"),
    )
    @app_commands.guild_only()
    async def vary_region(
        self,
        interaction: discord.Interaction[AtelierBot],
        job: app_commands.Range[int, 1, 10**18],
        mask: discord.Attachment,
        prompt: str | None = None,
    ) -> None:
        # Imported here: cogs.imagine imports this module to register the menu.
        from cogs.imagine import action_job, parent_job

        if (mask.content_type or "").split(";")[0] not in MASK_TYPES:
            raise NotAMask(mask.filename, name=mask.filename)
        parent = await parent_job(interaction, job)
        custom_id = inpaint_button((parent.result or {}).get("buttons") or [])
        if custom_id is None:
            raise NoVaryRegion(f"job {job} has no Vary Region button", job=job)
        text = (prompt or "").strip() or (parent.result or {}).get("final_prompt") or ""
        await action_job(interaction, parent, custom_id, "mj_modal", text or None, mask=mask.url)
