"""The link of an image that came only as bytes: its card's own attachment, read when needed.

Discord's attachment links are signed and expire (about a day), so none is stored: the link is
read from the card when a video is about to be made from it, from the interaction's own message
when that is the card, else from the card fetched by the job's message id (a REST call: the
interaction must be acknowledged first). Only the file the bot itself attached to that card
counts, never a link from a custom_id or from another message.
"""

from __future__ import annotations

import discord

from bot.animate import NotAnimatable, card_image_name, image_url
from bot.app import AtelierBot
from bot.job_types import Job


async def card_message(
    interaction: discord.Interaction[AtelierBot], job: Job
) -> discord.Message | None:
    """The card of ``job`` as Discord shows it now (with freshly signed links), or None when it
    is gone or cannot be read."""
    shown = interaction.message
    if shown is not None and shown.id == job.message_id:
        return shown
    channel = interaction.client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
    try:
        return await channel.fetch_message(job.message_id or 0)
    except (discord.NotFound, discord.Forbidden):
        return None


async def animate_link(interaction: discord.Interaction[AtelierBot], job: Job) -> str | None:
    """The http(s) link a video can start from: the stored result's, else the image attached
    to the job's card. None when the result has a link (the caller uses it as it is)."""
    if image_url(job) is not None:
        return None
    name = card_image_name(job)
    message = await card_message(interaction, job) if name else None
    me = interaction.client.user
    if message is None or me is None or message.author.id != me.id:
        raise NotAnimatable(f"job {job.id}: its card is gone or not the bot's")
    for attachment in message.attachments:
        if attachment.filename == name and attachment.url.startswith(("https://", "http://")):
            return attachment.url
    raise NotAnimatable(f"job {job.id}: its card has no image {name}")
