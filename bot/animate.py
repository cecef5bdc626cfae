"""Animate: a finished image becomes the first frame (and another the last) of a video.

Which images can be animated, with which model and at what price, and which of a member's
earlier images can be the last frame. Discord-free: ``cogs.animate`` shows the buttons and
starts the job; the job itself is an ordinary video job (``bot.providers.video``), so it holds,
polls, settles and refunds as ``/video`` does.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from bot.capabilities import Capabilities
from bot.card_images import bytes_image_name
from bot.config import Config, VideoModel
from bot.db import Database, JobRow, table
from bot.errors import AtelierError
from bot.job_types import Job
from bot.video_pricing import VideoOptions

JOBS = table(JobRow)
# The finished single images: a Midjourney upscale, and any other /imagine model's result.
IMAGE_KINDS = ("mj_upscale", "media_image")
# Adapters whose image-to-video call takes a last frame (Kling's image_tail, Luma's end frame,
# Midjourney video's endImage).
END_FRAME_ADAPTERS = frozenset({"kling", "luma", "mj_video"})
# How many of a member's images the "Animate to…" menu offers (Discord's limit for a select).
RECENT_LIMIT = 25
# Midjourney parameters (``--ar 3:2 --v 6``) mean nothing to a video model.
_MJ_PARAMETERS = re.compile(r"\s--\S.*$", re.DOTALL)
FALLBACK_PROMPT = "gentle natural motion"


class NotAnimatable(AtelierError):
    """The image is gone, is not a finished image, or the gateway serves no video model."""

    key = "animate.not_offered"


class NotAnEndFrame(AtelierError):
    key = "animate.not_an_end_frame"


def animate_model(config: Config, capabilities: Capabilities) -> VideoModel | None:
    """The server's default video model when it can start from an image and the gateway
    serves its family; otherwise None and no Animate button is shown."""
    model = config.video.model(None)
    if model is None or model.adapter == "chat" or model.image == "none":
        return None
    return model if capabilities.adapter_served(model.adapter) else None


def takes_end_frame(model: VideoModel) -> bool:
    return model.adapter in END_FRAME_ADAPTERS


def animate_options(model: VideoModel) -> VideoOptions:
    """The model's default options: the price shown is for exactly these."""
    return VideoOptions(
        model.durations[0],
        model.aspects[0],
        model.modes[0] if model.modes else None,
        False if model.audio else None,
    )


def animate_price(model: VideoModel, config: Config, options: VideoOptions | None = None) -> int:
    """The price of a video with ``options`` (the model's defaults when not given)."""
    chosen = options or animate_options(model)
    return model.option_cost(chosen, config.pricing.action_price(model.price_key))


def image_url(job: Job) -> str | None:
    """The http(s) link of a finished single image, or None (an image that came only as bytes
    has no link the video API could be given)."""
    if job.status != "succeeded" or job.kind not in IMAGE_KINDS:
        return None
    result = job.result or {}
    urls = [result.get("image_url")] if job.kind == "mj_upscale" else result.get("urls") or []
    return next((str(u) for u in urls if str(u or "").startswith(("http://", "https://"))), None)


def card_image_name(job: Job) -> str | None:
    """The file name of the image the bot attached to the card of a finished image that came
    only as bytes (gpt-image style ``b64_json``), or None when the result has a link or no
    bytes. Its card attachment is then the only link there is (read fresh, see
    ``cogs.card_images``)."""
    if job.status != "succeeded" or job.kind != "media_image" or image_url(job) is not None:
        return None
    return bytes_image_name(job.id) if (job.result or {}).get("b64") and job.message_id else None


def animatable(job: Job) -> bool:
    """A finished single image with a link, or with its bytes on its card."""
    return image_url(job) is not None or card_image_name(job) is not None


def motion_prompt(typed: str, image_job: Job) -> str:
    """The member's motion prompt, else the image's own prompt without Midjourney parameters."""
    if typed.strip():
        return typed.strip()
    shown = str(image_job.request.get("answer") or image_job.request.get("prompt") or "")
    return _MJ_PARAMETERS.sub("", " " + shown).strip() or FALLBACK_PROMPT


def message_link(job: Job) -> str | None:
    """The link to the message that shows a job's result."""
    if not job.message_id:
        return None
    return f"https://discord.com/channels/{job.guild_id}/{job.channel_id}/{job.message_id}"


def video_request(
    model: VideoModel,
    config: Config,
    start: Job,
    prompt: str,
    end: Job | None = None,
    links: tuple[str | None, str | None] = (None, None),
    options: VideoOptions | None = None,
) -> dict[str, Any]:
    """The request of the video job (as ``/video`` makes it) that animates ``start`` (to
    ``end``). The links are read from the jobs' stored results, or (``links``, for images that
    came only as bytes) from their cards' attachments, never from a custom_id."""
    options = options or animate_options(model)
    first = links[0] or image_url(start)
    last = (links[1] or image_url(end)) if end is not None else None
    if first is None or (end is not None and last is None):
        raise NotAnimatable(f"job {start.id} has no image to animate")
    return {
        "model": model.name,
        "adapter": model.adapter,
        "prompt": prompt,
        "duration": options.duration,
        "aspect": options.aspect,
        "mode": options.mode,
        "audio": options.audio,
        "image_url": first,
        "end_image_url": last,
        "price": animate_price(model, config, options),
        "animate_from": start.id,
        "animate_to": end.id if end is not None else None,
        "source_link": message_link(start),
    }


async def recent_images(db: Database, guild_id: int, user_id: int, limit: int) -> list[Job]:
    """A member's newest finished images in this server: the "Animate to…" menu's choices."""
    query = (
        select(JobRow)
        .where(
            JOBS.c.guild_id == guild_id,
            JOBS.c.user_id == user_id,
            JOBS.c.kind.in_(IMAGE_KINDS),
            JOBS.c.status == "succeeded",
        )
        .order_by(JOBS.c.id.desc())
        .limit(limit)
    )
    async with db.read() as conn:
        rows = (await conn.execute(query)).all()
    jobs = [Job.from_row(row) for row in rows]
    return [job for job in jobs if animatable(job)]
