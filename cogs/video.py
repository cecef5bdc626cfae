"""/video: text or image to video with any configured model, delivered as an mp4 in the channel.

Which models exist, which API serves each and what each accepts is configuration (``[video]``).
The options are checked against the chosen model before anything is held, so a wrong duration
or a missing image costs nothing; the job engine then holds, polls, settles or refunds.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot, require_guild, role_ids
from bot.config import VideoModel
from bot.errors import AtelierError, UnknownModel, UpstreamError
from bot.i18n import cmd
from bot.job_types import Job, NewJob, TaskState, Undeliverable
from bot.providers.video import provider_for
from bot.video_pricing import VideoOptions
from cogs.autocomplete import fitting_choices
from cogs.cards import one_result, show_card
from cogs.media import MediaPresenter, start_media_job
from cogs.views import (
    error_text,
    fetch_file,
    file_or_link,
    progress_bar,
    show,
    start_job,
    upload_limit,
)

log = logging.getLogger(__name__)

KIND = "video"
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")
# The gateway's answers to a finished video's download that mean it will never come (unknown or
# expired task); anything else (a 5xx, a timeout) is worth another try.
GONE_STATUSES = frozenset({404, 410})


class BadDuration(AtelierError):
    key = "video.bad_duration"


class BadAspect(AtelierError):
    key = "video.bad_aspect"


class ImageRequired(AtelierError):
    key = "video.image_required"


class ImageNotAllowed(AtelierError):
    key = "video.image_not_allowed"


class NotAnImage(AtelierError):
    key = "video.not_an_image"


def check_options(
    model: VideoModel, duration: int | None, aspect: str | None, image: discord.Attachment | None
) -> tuple[int, str]:
    """The duration and aspect to use, or the reason the model cannot take these options."""
    if image is not None:
        if (image.content_type or "").split(";")[0] not in IMAGE_TYPES:
            raise NotAnImage(image.filename, name=image.filename)
        if model.image == "none":
            raise ImageNotAllowed(model.name, model=model.name)
    elif model.image == "required":
        raise ImageRequired(model.name, model=model.name)
    duration = model.durations[0] if duration is None else duration
    if duration not in model.durations:
        allowed = ", ".join(str(d) for d in model.durations)
        raise BadDuration(model.name, model=model.name, duration=duration, allowed=allowed)
    aspect = model.aspects[0] if not aspect else aspect.strip()
    if aspect not in model.aspects:
        raise BadAspect(
            model.name, model=model.name, aspect=aspect[:20], allowed=", ".join(model.aspects)
        )
    return duration, aspect


class BadMode(AtelierError):
    key = "video_options.bad_mode"


class NoAudioOption(AtelierError):
    key = "video_options.no_audio"


def check_extras(
    model: VideoModel, mode: str | None, audio: bool | None
) -> tuple[str | None, bool | None]:
    """The mode and audio switch to use (None where the model has no such option)."""
    if mode is not None and mode not in model.modes:
        allowed = ", ".join(model.modes) or "—"
        raise BadMode(model.name, model=model.name, mode=mode[:20], allowed=allowed)
    if audio is not None and not model.audio:
        raise NoAudioOption(model.name, model=model.name)
    chosen_mode = mode or (model.modes[0] if model.modes else None)
    return chosen_mode, (bool(audio) if model.audio else None)


def card(title: str, user_id: int, status: str) -> str:
    return f"🎬 **{title[:300]}** — <@{user_id}>\n{status}"


def details(options: VideoOptions) -> str:
    """``10 s · 16:9 · pro · 🔊``: the options a price is for."""
    parts = [f"{options.duration} s", options.aspect]
    if options.mode:
        parts.append(options.mode)
    if options.audio is not None:
        parts.append("🔊" if options.audio else "🔇")
    return " · ".join(parts)


def size_text(size: int) -> str:
    """``26214400`` → ``25 MB``; small limits (tests, tiny servers) in KB."""
    return f"{size // (1024 * 1024)} MB" if size >= 1024 * 1024 else f"{size // 1024} KB"


def needs_key(bot: AtelierBot, url: str) -> bool:
    """A gateway URL (Sora's content route, a proxied result) opens only with the API key."""
    own = urlsplit(bot.services.upstream.base_url)
    parts = urlsplit(bot.services.upstream.gateway_link(url))
    return not parts.netloc or (parts.scheme, parts.netloc) == (own.scheme, own.netloc)


class VideoPresenter:
    """A progress bar while the video is made, then the mp4 (or a link) with what it is."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    @staticmethod
    def title(job: Job) -> str:
        return f"{job.request.get('model', '?')} · {job.request.get('prompt', '')}"

    async def progress(self, job: Job, state: TaskState) -> None:
        await show(self.bot, job, card(self.title(job), job.user_id, progress_bar(state.progress)))

    async def deliver(self, job: Job) -> None:
        catalog = self.bot.services.catalog
        request = job.request
        price = request.get("price", 0)
        if job.status != "succeeded":
            reason = error_text(self.bot, job.locale, job.error)
            note = catalog.t(job.locale, "jobs.refunded", price=price)
            await show(self.bot, job, card(self.title(job), job.user_id, f"❌ {reason}\n-# {note}"))
            return
        url = str((job.result or {}).get("video_url") or "")
        footer = catalog.t(
            job.locale,
            "video.footer",
            model=request.get("model", "?"),
            duration=request.get("duration", "?"),
            aspect=request.get("aspect", "?"),
            price=price,
        )
        status = f"-# {footer}"
        if source := request.get("source_link"):  # an animated image: link back to it
            status = catalog.t(job.locale, "animate.from", link=source) + "\n" + status
        text = card(self.title(job), job.user_id, status)
        name = f"atelier-{job.id}.mp4"
        if needs_key(self.bot, url):
            await self._deliver_private(job, url, text, name)
            return
        file, link = await file_or_link(self.bot, job, url, name)
        fitted = one_result(catalog, job.locale, job.id, text, url, file, link)
        await show_card(self.bot, job, fitted)

    async def _deliver_private(self, job: Job, url: str, text: str, name: str) -> None:
        """A video whose link opens only with the bot's key (Sora's content route, a gateway
        proxy URL): the link is never posted, so the file is the only way to the member. When
        it cannot be uploaded here the member is told and refunded; a gateway hiccup while
        downloading is retried by the engine, with a note on the card meanwhile."""
        try:
            file = await fetch_file(self.bot, job, url, name)
        except UpstreamError as exc:
            if exc.status not in GONE_STATUSES:
                note = self.bot.services.catalog.t(job.locale, "video.fetch_retrying")
                await show(self.bot, job, card(self.title(job), job.user_id, note))
                raise
            log.warning("job %s: the gateway no longer has its video (%s)", job.id, exc)
            await self._refund(job, "video.gone")
            return
        if file is None:
            limit = size_text(upload_limit(self.bot, job))
            await self._refund(job, "video.too_large_private", limit=limit)
            return
        try:
            await show(self.bot, job, text, files=[file])
        except Undeliverable as exc:
            if not isinstance(exc.__cause__, discord.Forbidden):
                raise  # the channel is gone: there is no one to tell
            await self._refund(job, "video.cannot_attach_private")

    async def _refund(self, job: Job, reason_key: str, **params: Any) -> None:
        """Give the credit back for a video that was made but cannot reach the member, and say
        why. Refunding twice (a delivery retried) moves nothing."""
        services = self.bot.services
        if job.hold_id is not None:
            await services.ledger.refund_settled(job.hold_id)
            services.spending.balance_changed(job.guild_id)
        reason = services.catalog.t(job.locale, reason_key, **params)
        note = services.catalog.t(job.locale, "jobs.refunded", price=job.request.get("price", 0))
        await show(self.bot, job, card(self.title(job), job.user_id, f"❌ {reason}\n-# {note}"))


class Video(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.services.jobs.set_presenter(KIND, VideoPresenter(self.bot))
        self.bot.services.jobs.set_presenter("media_", MediaPresenter(self.bot))

    @app_commands.command(
        name=cmd("video", "video.name"),
        description=cmd("Make a short video from a prompt or an image", "video.description"),
    )
    @app_commands.describe(
        prompt=cmd("What happens in the video", "video.prompt"),
        model=cmd("Video model", "video.model"),
        image=cmd("A first frame: makes the video from this image", "video.image"),
        duration=cmd("Length in seconds (the model's choices)", "video.duration"),
        aspect=cmd("Aspect ratio, e.g. 16:9", "video.aspect"),
        mode=cmd("Quality mode (the model's choices, e.g. std or pro)", "video.mode"),
        audio=cmd("With sound (models that can make it)", "video.audio"),
    )
    @app_commands.guild_only()
    async def video(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, 2000],
        model: str | None = None,
        image: discord.Attachment | None = None,
        duration: app_commands.Range[int, 1, 120] | None = None,
        aspect: app_commands.Range[str, 1, 20] | None = None,
        mode: app_commands.Range[str, 1, 20] | None = None,
        audio: bool | None = None,
    ) -> None:
        config = self.bot.services.config
        chosen = config.video.model(model)
        if chosen is None:
            raise UnknownModel(model or "", model=(model or "")[:100])
        # Before anything is held: a family this gateway does not serve costs nothing.
        self.bot.services.capabilities.require_adapter(chosen.adapter)
        seconds, ratio = check_options(chosen, duration, aspect, image)
        options = VideoOptions(seconds, ratio, *check_extras(chosen, mode, audio))
        price = chosen.option_cost(options, config.pricing.action_price(chosen.price_key))
        if chosen.adapter == "chat":
            if image is not None:
                raise ImageNotAllowed(chosen.name, model=chosen.name)
            await start_media_job(
                interaction,
                media="video",
                provider="chat_media",
                model=chosen.name,
                prompt=prompt,
                price=price,
                deadline_minutes=config.jobs.video_deadline,
                cooldown="video",
            )
            return
        request: dict[str, Any] = {
            "model": chosen.name,
            "adapter": chosen.adapter,
            "prompt": prompt,
            "duration": seconds,
            "aspect": ratio,
            "mode": options.mode,
            "audio": options.audio,
            "image_url": image.url if image else None,
            "price": price,
            "upload_limit": interaction.filesize_limit,
        }
        new = NewJob(
            key=f"{interaction.id}",
            kind=KIND,
            provider=provider_for(chosen.adapter),
            guild_id=require_guild(interaction),
            channel_id=interaction.channel_id or 0,
            user_id=interaction.user.id,
            request=request,
            price=price,
            deadline_minutes=config.jobs.video_deadline,
            locale=str(interaction.locale),
            command=f"video:{chosen.name}",
            cooldown="video",
            role_ids=role_ids(interaction.user),
            prompt=prompt,
        )
        catalog = self.bot.services.catalog
        # The price of exactly these options, on the card before anything reaches the upstream.
        waiting = (
            catalog.t(interaction.locale, "jobs.waiting")
            + "\n"
            + catalog.t(
                interaction.locale, "video_options.price", price=price, details=details(options)
            )
        )
        title = f"{chosen.name} · {prompt}"
        await start_job(interaction, new, card(title, interaction.user.id, waiting))

    def _chosen(self, interaction: discord.Interaction[AtelierBot]) -> VideoModel | None:
        return self.bot.services.config.video.model(getattr(interaction.namespace, "model", None))

    @video.autocomplete("model")
    async def _model_autocomplete(
        self, _interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        served = self.bot.services.capabilities.adapter_served
        names = [m.name for m in self.bot.services.config.video.models if served(m.adapter)]
        return fitting_choices((n, n) for n in names if needle in n.casefold())

    @video.autocomplete("duration")
    async def _duration_autocomplete(
        self, interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[int]]:
        chosen = self._chosen(interaction)
        typed = str(current or "")
        durations = [d for d in (chosen.durations if chosen else []) if str(d).startswith(typed)]
        return fitting_choices((f"{d} s", d) for d in durations)

    @video.autocomplete("mode")
    async def _mode_autocomplete(
        self, interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = self._chosen(interaction)
        modes = chosen.modes if chosen else []
        return fitting_choices((m, m) for m in modes if current in m)

    @video.autocomplete("aspect")
    async def _aspect_autocomplete(
        self, interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = self._chosen(interaction)
        aspects = chosen.aspects if chosen else []
        return fitting_choices((a, a) for a in aspects if current in a)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Video(bot))
