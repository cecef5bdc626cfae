"""Reference images for /imagine: attachments checked before anything is held, and the
"Use as style" button under every image result.

Not an extension: ``cogs.imagine_command`` registers the button, and the presenters of image
results (``cogs.imagine``, ``cogs.media``) add it. The button's custom_id names only the job;
the image comes from the card it is pressed on (a Discord attachment, which Midjourney can
fetch) or else from the job's stored result, so it works after a restart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

import discord

from bot.app import AtelierBot
from bot.chat_input import human_size, is_image
from bot.errors import AtelierError, AttachmentTooLarge
from bot.job_types import Job
from bot.mj_references import References, reference_parameters, without_references
from cogs.buttons import ButtonAction, PersistentButton
from cogs.imagine_prompt import PromptModal, job_prompt

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")


class UnsupportedImage(AtelierError):
    key = "mj.not_an_image"


class NoStyleLink(AtelierError):
    """The result has no image Midjourney could fetch: no attachment on its card, and a
    link that only this network reaches (or none)."""

    key = "mj.references.no_link"


def reference_url(
    attachment: discord.Attachment,
    limit: int,
    too_large: type[AtelierError] = AttachmentTooLarge,
) -> str:
    """An attached image's link, after the checks that cost nothing: its type and size."""
    if not is_image(attachment.content_type):
        raise UnsupportedImage(attachment.filename, name=attachment.filename)
    if attachment.size > limit:
        raise too_large(
            attachment.filename, name=attachment.filename, limit=human_size(limit)
        )
    return attachment.url


def mj_parameters(bot: AtelierBot, prompt: str, refs: References, *, niji: bool) -> str:
    """The parameters ``refs`` add to ``prompt`` for the configured default versions."""
    image = bot.services.config.image
    return reference_parameters(
        prompt,
        refs,
        niji=niji,
        default=image.midjourney_version,
        niji_default=image.niji_version,
    )


def public_link(url: object) -> bool:
    """An http(s) link Midjourney's servers could open: not this machine or its network."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or host == "localhost":
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return not host.endswith((".local", ".internal", ".localhost"))
    return address.is_global


def style_source(message: discord.Message | None, job: Job) -> str:
    """The link to use as ``--sref``: the image attached to the result's card, else the
    result's own link where it is public."""
    for attachment in message.attachments if message is not None else []:
        name = attachment.filename.lower()
        if is_image(attachment.content_type) or name.endswith(IMAGE_SUFFIXES):
            return attachment.url
    result = job.result or {}
    for url in [result.get("image_url"), *(result.get("urls") or [])]:
        if public_link(url):
            return str(url)
    raise NoStyleLink(f"job {job.id} has no public image link")


def offers_style(bot: AtelierBot) -> bool:
    """Whether "Use as style" can run here: a Midjourney model, served by this gateway."""
    models = bot.services.config.image.models
    return any(m.adapter == "midjourney" for m in models) and (
        bot.services.capabilities.adapter_served("midjourney")
    )


def style_buttons(bot: AtelierBot, job: Job) -> list[PersistentButton]:
    """"Use as style" for a finished image, where Midjourney can take it (none otherwise)."""
    if not offers_style(bot):
        return []
    label = bot.services.catalog.t(job.locale, "mj.references.style_button")
    return [STYLE.button(job=job.id, label=label, emoji="🎨")]


async def _pressed_style(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Open the prompt modal; its prompt becomes a new /imagine in this image's style."""
    # Imported here: cogs.imagine imports this module for the button.
    from cogs.imagine import imagine_job, parent_job

    bot = interaction.client
    parent = await parent_job(interaction, int(values["job"]))
    bot.services.capabilities.require_adapter("midjourney")
    url = style_source(interaction.message, parent)
    niji = parent.provider == "mj" and bool(parent.request.get("niji"))

    async def submit(modal: discord.Interaction[AtelierBot], prompt: str) -> None:
        extra = mj_parameters(bot, prompt, References(styles=(url,)), niji=niji)
        await imagine_job(modal, prompt, niji=niji, parent=parent, parameters=extra)

    title = bot.services.catalog.t(interaction.locale, "mj.references.modal_title")
    default = without_references(job_prompt(parent))
    modal = PromptModal(bot, interaction.locale, default, interaction.user.id, submit, title=title)
    await interaction.response.send_modal(modal)


STYLE = ButtonAction("style", _pressed_style, job=r"[0-9]{1,18}")
