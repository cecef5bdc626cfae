"""Shared pieces of the job cogs: starting a job from an interaction, job cards, result files.

Not an extension: imported by the cogs that run long jobs (/imagine, /song, /video).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
from collections.abc import Sequence

import discord

from bot.acknowledge import acknowledge, answer
from bot.app import AtelierBot
from bot.errors import AtelierError, MediaTooLarge, UpstreamError
from bot.job_types import Job, NewJob, Undeliverable
from bot.targets import NO_MENTIONS

log = logging.getLogger(__name__)

BAR_CELLS = 10


class CannotPostHere(AtelierError):
    """The job's card could not be posted: the channel is gone or closed to the bot."""

    key = "jobs.cannot_post"


def progress_bar(percent: int) -> str:
    filled = max(0, min(BAR_CELLS, round(percent / 100 * BAR_CELLS)))
    return f"`{'▓' * filled}{'░' * (BAR_CELLS - filled)}` {percent}%"


def error_text(bot: AtelierBot, locale: str, error: str | None) -> str:
    """A stored job error: a catalog key we wrote, or the upstream's own words."""
    catalog = bot.services.catalog
    if error and catalog.get("en-US", error) is not None:
        return catalog.t(locale, error, detail="", word="?")
    return catalog.t(locale, "jobs.failed_reason", reason=(error or "?")[:500])


def upload_limit(bot: AtelierBot, job: Job) -> int:
    """The largest file this job's result may be uploaded as."""
    limit = int(job.request.get("upload_limit") or bot.services.config.jobs.max_upload_bytes)
    return min(limit, bot.services.config.jobs.max_upload_bytes)


async def fetch_file(bot: AtelierBot, job: Job, url: str, filename: str) -> discord.File | None:
    """The result as an attachment, or None when it is too large and goes as a link."""
    config = bot.services.config.jobs
    try:
        data = await bot.services.upstream.download(
            url, max_bytes=upload_limit(bot, job), timeout=config.download_timeout
        )
    except MediaTooLarge:
        return None
    return discord.File(io.BytesIO(data), filename=filename)


async def file_or_link(
    bot: AtelierBot, job: Job, url: str, filename: str
) -> tuple[discord.File | None, str]:
    """The result as an attachment, or else the line that links to it: too large to upload, or
    not fetchable now (a 404, a refused redirect, a timeout). A failed download must not hold
    the delivery up: the task ran, and its link may still open for the member."""
    catalog = bot.services.catalog
    try:
        file = await fetch_file(bot, job, url, filename)
    except UpstreamError as exc:
        log.warning("job %s: could not fetch its result (%s); posting the link", job.id, exc)
        return None, catalog.t(job.locale, "jobs.link_unavailable", url=url)
    if file is None:
        return None, catalog.t(job.locale, "jobs.link", url=url)
    return file, ""


def card_nonce(job: Job) -> str:
    """The nonce of the card posted for ``job`` while it records ``job.message_id``.

    Every try at one post sends the same nonce, with ``enforce_nonce``: when the process died
    after Discord made the card but before the job recorded it, the next try gets that card
    back instead of a second one (Discord remembers nonces for a few minutes). Posting anew
    after the recorded card was deleted is another post, so the nonce covers that card's id.
    """
    seed = f"atelier-card:{job.id}:{job.message_id or 0}".encode()
    return hashlib.blake2b(seed, digest_size=12).hexdigest()  # 24 characters; Discord takes 25


def job_message(bot: AtelierBot, job: Job) -> discord.PartialMessage | None:
    if job.message_id is None:
        return None
    return bot.get_partial_messageable(job.channel_id).get_partial_message(job.message_id)


async def show(
    bot: AtelierBot,
    job: Job,
    content: str,
    *,
    files: list[discord.File] | None = None,
    view: discord.ui.View | None = None,
    embed: discord.Embed | None = None,
    without_files: str | Sequence[str] | None = None,
) -> None:
    """Edit the job's card, or post one when the job never got one (resumed after a crash).

    Editing is what makes delivery idempotent: doing it twice shows the same one message. When
    the bot may not attach files there, ``without_files`` (the text with links instead, or
    that card and the messages that follow it) is shown; when it may not post there at all,
    or the channel is gone, raises Undeliverable.
    """
    try:
        await _show(bot, job, content, files, view, embed)
    except discord.Forbidden as exc:
        if not files or without_files is None:
            raise Undeliverable(f"channel {job.channel_id}: {exc}") from exc
        log.info("job %s: may not attach files in %s; posting links", job.id, job.channel_id)
        first, *more = [without_files] if isinstance(without_files, str) else without_files
        try:
            await _show(bot, job, first, None, view, embed)
            await _post_more(bot, job, more)
        except (discord.Forbidden, discord.NotFound) as again:
            raise Undeliverable(f"channel {job.channel_id}: {again}") from again
    except discord.NotFound as exc:
        raise Undeliverable(f"channel {job.channel_id}: {exc}") from exc


async def _post_more(bot: AtelierBot, job: Job, messages: Sequence[str]) -> None:
    """Messages after the card (links that did not fit in it). Each try sends the same nonce,
    so a delivery retried within Discord's nonce window posts each of them once."""
    channel = bot.get_partial_messageable(job.channel_id)
    for index, text in enumerate(messages):
        seed = f"atelier-more:{job.id}:{job.message_id or 0}:{index}".encode()
        nonce = hashlib.blake2b(seed, digest_size=12).hexdigest()
        await channel.send(text, allowed_mentions=NO_MENTIONS, nonce=nonce)


async def _show(
    bot: AtelierBot,
    job: Job,
    content: str,
    files: list[discord.File] | None,
    view: discord.ui.View | None,
    embed: discord.Embed | None,
) -> None:
    message = job_message(bot, job)
    if message is not None:
        try:
            await _edit(message, content, files, view, embed)
            return
        except discord.NotFound:
            log.info("the card of job %s was deleted; posting a new one", job.id)
    for file in files or []:
        file.reset()  # a second attempt must upload the bytes again
    channel = bot.get_partial_messageable(job.channel_id)
    sent = await channel.send(
        content,
        files=files or [],
        view=view or discord.utils.MISSING,
        embed=embed or discord.utils.MISSING,
        allowed_mentions=NO_MENTIONS,
        nonce=card_nonce(job),
    )
    await bot.services.jobs.attach_message(job.id, sent.id)
    if sent.content != content:
        # Discord answered with the card an earlier try posted (same nonce) before a crash:
        # that card shows an older state of the job.
        await _edit(sent, content, files, view, embed)


async def _edit(
    message: discord.Message | discord.PartialMessage,
    content: str,
    files: list[discord.File] | None,
    view: discord.ui.View | None,
    embed: discord.Embed | None,
) -> None:
    for file in files or []:
        file.reset()  # a second attempt must upload the bytes again
    await message.edit(
        content=content,
        attachments=files or [],
        view=view,
        embed=embed,
        allowed_mentions=NO_MENTIONS,
    )


async def start_job(interaction: discord.Interaction[AtelierBot], new: NewJob, card: str) -> Job:
    """Acknowledge privately, hold credit, post the job's card in the channel, submit upstream.

    The card is a channel message (not the interaction reply) because a job may outlive the
    interaction's 15-minute token. Anything that goes wrong before the upstream took the task
    (a refused card, a refused submit, any other error) abandons the job at once: its credit
    comes back, its card is deleted, and the error handler answers privately.
    """
    bot = interaction.client
    jobs = bot.services.jobs
    # Moderation, the hold (behind the database writer) and the card post all come after.
    await acknowledge(interaction)
    job = await jobs.create(new)  # refusals (credit, limits, a flagged prompt) raise here
    message: discord.Message | None = None
    try:
        channel = bot.get_partial_messageable(new.channel_id)
        # The nonce a later delivery would post with: if the process dies before the job
        # records this card, the delivery after the restart gets this card back and edits it.
        message = await channel.send(card, allowed_mentions=NO_MENTIONS, nonce=card_nonce(job))
        job = await jobs.attach_message(job.id, message.id)
        job, submitted = await jobs.submit(job)  # a refusal has refunded it already
    except Exception as exc:
        posted = message is not None
        await jobs.abandon(job, "error.unexpected" if posted else "jobs.cannot_post")
        if message is not None:
            with contextlib.suppress(discord.HTTPException):
                await message.delete()
        if isinstance(exc, discord.NotFound | discord.Forbidden) and not posted:
            raise CannotPostHere(f"card refused in channel {new.channel_id}: {exc}") from exc
        raise
    catalog = bot.services.catalog
    text = catalog.t(interaction.locale, "jobs.started", id=job.id, price=new.price)
    if submitted.queued:
        text += "\n" + catalog.t(interaction.locale, "jobs.queued", ahead=submitted.queued)
    try:
        await answer(interaction, content=text)
    except discord.HTTPException as exc:
        # The job runs and its card shows it; only this private note is lost.
        log.warning("job %s: could not confirm it to the member: %s", job.id, exc)
    return job
