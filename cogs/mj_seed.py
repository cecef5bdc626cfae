"""The Seed button under a Midjourney image: the image's seed, shown privately on request.

Not an extension: the Midjourney presenter puts the button on its image cards and the
Midjourney cog registers it. The button names only the job, so it works after a restart; the
seed is asked for at each press (``GET /mj/task/{id}/image-seed``), which the gateway does not
charge for, so neither does the bot: no hold, no ledger row.
"""

from __future__ import annotations

from collections.abc import Mapping

import discord

from bot.acknowledge import acknowledge, answer
from bot.app import AtelierBot
from bot.errors import JobNotFound
from bot.job_types import Job
from bot.targets import NO_MENTIONS
from cogs.buttons import ButtonAction, PersistentButton

# Results that are no Midjourney message, so the proxy can read no seed for them.
WITHOUT_SEED = frozenset({"mj_describe", "mj_shorten", "mj_swap_face"})


def has_seed(job: Job) -> bool:
    """Whether a finished Midjourney job's result is an image the proxy knows a seed for."""
    return (
        job.provider == "mj"
        and job.kind not in WITHOUT_SEED
        and bool((job.result or {}).get("image_url"))
    )


def seed_buttons(bot: AtelierBot, job: Job) -> list[PersistentButton]:
    """The Seed button for a result card: none where there is no seed, or the gateway has no
    seed route (as far as discovery knows when the card is made)."""
    if not has_seed(job) or not bot.services.capabilities.served("midjourney_seed"):
        return []
    catalog = bot.services.catalog
    label = catalog.get(job.locale, "mj.button.seed") or catalog.t("en-US", "mj.button.seed")
    return [SEED.button(job=job.id, label=label, emoji="🌱")]


async def _pressed_seed(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    bot = interaction.client
    job_id = int(values["job"])
    job = await bot.services.jobs.get(job_id)
    if job is None or job.guild_id != interaction.guild_id or job.status != "succeeded":
        raise JobNotFound(f"seed button for job {job_id} pressed in guild {interaction.guild_id}")
    if not has_seed(job):
        raise JobNotFound(f"job {job_id} has no image with a seed")
    # A card made before discovery found the route missing: say so before anything is asked.
    bot.services.capabilities.require("midjourney_seed")
    await acknowledge(interaction)  # private; the proxy may take a while to ask Midjourney
    seed = await bot.services.midjourney.image_seed(job.upstream_id or "")
    text = bot.services.catalog.t(interaction.locale, "mj_seed.shown", seed=seed)
    await answer(interaction, content=text, allowed_mentions=NO_MENTIONS)


SEED = ButtonAction("mjseed", _pressed_seed, job=r"[0-9]{1,18}")
