"""Media jobs that are not Midjourney, Suno or a video API (chat-format models, the images
route, unified-route image models): start, show, deliver.

Not an extension: /imagine, /video (chat-format video models) and /song (chat-format song
models) start these jobs; the presenter is registered by whichever cog loads first.
"""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any
from urllib.parse import urlsplit

import discord

from bot.app import AtelierBot, require_guild, role_ids
from bot.card_images import bytes_image_name
from bot.job_types import Job, NewJob, TaskState
from bot.media_links import media_kind
from bot.providers.video import UNIFIED_IMAGE
from cogs.animate import animate_buttons
from cogs.cards import link_card, show_card
from cogs.references import style_buttons
from cogs.views import error_text, file_or_link, progress_bar, show, start_job

MAX_FILES = 4
ICONS = {"image": "🎨", "video": "🎬", "audio": "🎵"}
# The engine provider of each /imagine adapter other than Midjourney (``image.models[].adapter``).
IMAGE_PROVIDERS = {"images": "images", "chat": "chat_media", "unified": UNIFIED_IMAGE}


def card(job_text: str, user_id: int, status: str, icon: str = "🎨") -> str:
    return f"{icon} **{job_text[:300]}** — <@{user_id}>\n{status}"


async def start_media_job(
    interaction: discord.Interaction[AtelierBot],
    *,
    media: str,
    provider: str,
    model: str,
    prompt: str,
    price: int,
    deadline_minutes: float,
    cooldown: str,
    extra: dict[str, Any] | None = None,
    title: str | None = None,
) -> None:
    """``media`` is image, video or audio; ``provider`` is chat_media, images or unified_image.
    ``title`` is what the card names (the prompt when not given)."""
    bot = interaction.client
    request = {"model": model, "prompt": prompt, "kinds": [media], "price": price,
               "upload_limit": interaction.filesize_limit, **(extra or {})}  # fmt: skip
    if title:
        request["title_shown"] = title
    new = NewJob(
        key=f"{interaction.id}", kind=f"media_{media}", provider=provider,
        guild_id=require_guild(interaction), channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id, request=request, price=price,
        deadline_minutes=deadline_minutes, locale=str(interaction.locale),
        command=f"{media}:{model}", cooldown=cooldown, role_ids=role_ids(interaction.user),
        prompt=prompt,
    )  # fmt: skip
    waiting = bot.services.catalog.t(interaction.locale, "jobs.waiting")
    shown = card(
        f"{model} · {title or prompt}", interaction.user.id, waiting, ICONS.get(media, "🎨")
    )
    await start_job(interaction, new, shown)


class MediaPresenter:
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    def title(self, job: Job) -> str:
        shown = job.request.get("title_shown") or job.request.get("prompt", "")
        return f"{job.request.get('model', '?')} · {shown}"

    def icon(self, job: Job) -> str:
        return ICONS.get(job.kind.removeprefix("media_"), "🎨")

    async def progress(self, job: Job, state: TaskState) -> None:
        # A chat-format model's progress is its own text; a polled task's is a percentage.
        tail = str((state.result or {}).get("text") or "").strip()
        status = progress_bar(state.progress) if state.progress else "⏳"
        if tail:
            status = f"```\n{tail[-300:].replace('`', 'ˋ')}\n```"
        await show(self.bot, job, card(self.title(job), job.user_id, status, self.icon(job)))

    async def deliver(self, job: Job) -> None:
        catalog = self.bot.services.catalog
        price = job.request.get("price", 0)
        if job.status != "succeeded":
            reason = error_text(self.bot, job.locale, job.error)
            note = catalog.t(job.locale, "jobs.refunded", price=price)
            text = card(self.title(job), job.user_id, f"❌ {reason}\n-# {note}", self.icon(job))
            await show(self.bot, job, text)
            return
        result = job.result or {}
        files: list[discord.File] = []
        links: list[str] = []
        if result.get("b64"):
            try:
                data = base64.b64decode(result["b64"], validate=True)
                files.append(discord.File(io.BytesIO(data), filename=bytes_image_name(job.id)))
            except (binascii.Error, ValueError):
                links.append("(unreadable image data)")
        attached: list[str] = []  # links to what is attached, for when it may not be
        for index, url in enumerate((result.get("urls") or [])[:MAX_FILES]):
            # The link's own suffix (.wav stays .wav); a link without one is an image.
            suffix = urlsplit(url).path.rsplit(".", 1)[-1].lower() if media_kind(url) else "png"
            name = f"atelier-{job.id}-{index + 1}.{suffix}"
            file, link = await file_or_link(self.bot, job, url, name)
            if file is None:
                links.append(link)
            else:
                files.append(file)
                attached.append(catalog.t(job.locale, "jobs.link_unavailable", url=url))
        footer = catalog.t(
            job.locale, "media.footer", model=job.request.get("model", "?"), price=price
        )
        text = card(self.title(job), job.user_id, f"-# {footer}", self.icon(job))
        view = discord.ui.View(timeout=None)
        own = animate_buttons(self.bot, job)
        if job.kind == "media_image":
            own += style_buttons(self.bot, job)
        for button in own:  # one row of the bot's own buttons
            view.add_item(button)
        fitted = link_card(catalog, job.locale, job.id, text, links, files, attached)
        await show_card(self.bot, job, fitted, view if view.children else None)
