"""Midjourney jobs (/imagine is in ``cogs.imagine_command``), /describe and /blend, and buttons
that work after a restart."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot, require_guild, role_ids
from bot.chat_input import is_image
from bot.errors import JobNotFound
from bot.i18n import cmd
from bot.job_types import Job, NewJob, TaskState
from bot.providers.midjourney import action_kind
from cogs.animate import animate_buttons
from cogs.buttons import ButtonAction, PersistentButton
from cogs.cards import button_emoji, describe_card, embed_image_url, one_result, show_card
from cogs.imagine_prompt import ANSWER, PromptModal, job_prompt
from cogs.imagine_region import INPAINT_PREFIX, RegionSelect, VaryRegion, ask_region
from cogs.media import MediaPresenter
from cogs.mj_seed import SEED, seed_buttons
from cogs.references import UnsupportedImage, style_buttons
from cogs.views import error_text, file_or_link, progress_bar, show, start_job

log = logging.getLogger(__name__)

ROW_SIZE = 5
MAX_BUTTONS = 25  # five rows of five: all Discord shows under a message
PRIMARY = discord.ButtonStyle.primary


def button_label(bot: AtelierBot, locale: str, button: dict[str, Any]) -> str:
    """The member's-language label of a Midjourney button (U1 and V1 stay as they are)."""
    custom_id = button["custom_id"]
    parts = custom_id.split("::")
    name = parts[2] if len(parts) > 2 else parts[1] if len(parts) > 1 else ""
    if parts[1:2] == ["Inpaint"]:
        name = "inpaint"
    elif parts[1:2] == ["CustomZoom"]:
        name = "custom_zoom"
    elif parts[1:2] == ["Outpaint"]:
        name = f"outpaint_{parts[2]}" if len(parts) > 2 else "outpaint"
    if name in ("upsample", "variation") and len(parts) > 3:
        return f"{'U' if name == 'upsample' else 'V'}{parts[3]}"
    label = bot.services.catalog.get(locale, f"mj.button.{name}") or bot.services.catalog.get(
        "en-US", f"mj.button.{name}"
    )
    return (label or button.get("label") or name or "?")[:80]


def result_view(
    bot: AtelierBot,
    locale: str,
    job_id: int,
    buttons: list[dict[str, Any]],
    extra: Sequence[PersistentButton] = (),
) -> discord.ui.View:
    """The upstream's buttons under a result: in rows of five as in Midjourney (U1–U4 and 🔄,
    then V1–V4), each with a label and only an emoji Discord accepts; then the bot's own
    (``extra``, such as Seed) on a row of their own where one is left. 25 at most in all."""
    view = discord.ui.View(timeout=None)
    shown = buttons[: MAX_BUTTONS - len(extra)]
    for index, button in enumerate(shown):
        item = MJ_ACTION.button(
            job=job_id,
            index=index,
            label=button_label(bot, locale, button),
            emoji=button_emoji(button.get("emoji")),
        )
        item.item.row = index // ROW_SIZE
        view.add_item(item)
    start = -(-len(shown) // ROW_SIZE) * ROW_SIZE  # the first slot of the next row
    if start + len(extra) > MAX_BUTTONS:
        start = len(shown)
    for offset, own in enumerate(extra):
        own.item.row = (start + offset) // ROW_SIZE
        view.add_item(own)
    return view


async def parent_job(interaction: discord.Interaction[AtelierBot], job_id: int) -> Job:
    """The job a button belongs to, refusing deleted jobs and presses from another guild."""
    job = await interaction.client.services.jobs.get(job_id)
    if job is None or job.guild_id != interaction.guild_id or job.status != "succeeded":
        raise JobNotFound(f"button for job {job_id} pressed in guild {interaction.guild_id}")
    return job


async def press_button(
    interaction: discord.Interaction[AtelierBot], job_id: int, index: int
) -> None:
    parent = await parent_job(interaction, job_id)
    # A gateway without /mj/submit/action (novicezk reached directly): say so, charge nothing.
    interaction.client.services.capabilities.require("midjourney_actions")
    buttons = (parent.result or {}).get("buttons") or []
    if index >= len(buttons):
        raise JobNotFound(f"job {job_id} has no button {index}")
    custom_id = buttons[index]["custom_id"]
    kind = action_kind(custom_id)
    if custom_id.startswith(INPAINT_PREFIX):
        # The proxy needs a mask for Vary Region: the member picks the region first.
        await ask_region(interaction, job_id, index)
        return
    if kind == "mj_modal":
        # Vary Region and Custom Zoom need a prompt before Midjourney runs them (code 21).
        async def submit(modal: discord.Interaction[AtelierBot], prompt: str) -> None:
            await action_job(modal, parent, custom_id, "mj_modal", prompt)

        default = (parent.result or {}).get("final_prompt") or job_prompt(parent)
        await interaction.response.send_modal(
            PromptModal(
                interaction.client, interaction.locale, default, interaction.user.id, submit
            )
        )
        return
    await action_job(interaction, parent, custom_id, kind)


def new_job(
    interaction: discord.Interaction[AtelierBot], kind: str, request: dict[str, Any], **extra: Any
) -> NewJob:
    bot = interaction.client
    guild_id = require_guild(interaction)
    request = {**request, "upload_limit": interaction.filesize_limit}
    return NewJob(
        key=f"{interaction.id}",
        kind=kind,
        provider="mj",
        guild_id=guild_id,
        channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id,
        request=request,
        price=bot.services.config.pricing.action_price(kind),
        deadline_minutes=bot.services.config.jobs.image_deadline,
        locale=str(interaction.locale),
        command=kind,
        cooldown="imagine",
        role_ids=role_ids(interaction.user),
        prompt=str(request.get("prompt", "")) if kind in ("mj_imagine", "mj_modal") else "",
        **extra,
    )


def card(bot: AtelierBot, locale: Any, job_text: str, user_id: int, status: str) -> str:
    return f"🎨 **{job_text[:300]}** — <@{user_id}>\n{status}"


async def imagine_job(
    interaction: discord.Interaction[AtelierBot],
    prompt: str,
    *,
    image_urls: list[str] | None = None,
    niji: bool = False,
    parent: Job | None = None,
    parameters: str = "",
) -> None:
    """``parameters``: the style and character references' (``cogs.references``), checked."""
    request = {"prompt": prompt, "image_urls": image_urls or [], "niji": niji}
    if parameters:
        request["parameters"] = parameters
    new = new_job(interaction, "mj_imagine", request, parent_id=parent.id if parent else None)
    waiting = interaction.client.services.catalog.t(interaction.locale, "jobs.waiting")
    await start_job(
        interaction,
        new,
        card(interaction.client, interaction.locale, prompt, interaction.user.id, waiting),
    )


async def action_job(
    interaction: discord.Interaction[AtelierBot],
    parent: Job,
    custom_id: str,
    kind: str,
    prompt: str | None = None,
    region: str | None = None,
    mask: str | None = None,
) -> None:
    request = {
        "task_id": parent.upstream_id,
        "custom_id": custom_id,
        "prompt": prompt or job_prompt(parent),
    }
    if region is not None or mask is not None:
        # Vary Region: the mask is made at submit time (a region's, or the member's own mask
        # fitted), to the size of this image.
        request |= {"image_url": (parent.result or {}).get("image_url") or ""}
        request |= {"region": region} if region is not None else {"mask_url": mask}
    new = new_job(interaction, kind, request, parent_id=parent.id)
    label = button_label(interaction.client, str(interaction.locale), {"custom_id": custom_id})
    title = f"{label} · {request['prompt']}"
    waiting = interaction.client.services.catalog.t(interaction.locale, "jobs.waiting")
    await start_job(
        interaction,
        new,
        card(interaction.client, interaction.locale, title, interaction.user.id, waiting),
    )


async def _pressed_action(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    await press_button(interaction, int(values["job"]), int(values["index"]))


async def _pressed_prompt(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Imagine one of the four prompts a /describe found."""
    job_id, index = int(values["job"]), int(values["index"])
    parent = await parent_job(interaction, job_id)
    prompts = (parent.result or {}).get("prompts") or []
    if index >= len(prompts):
        raise JobNotFound(f"describe job {job_id} has no prompt {index}")
    await imagine_job(interaction, prompts[index], parent=parent)


# A Midjourney action under a result, and one of a /describe's prompts.
MJ_ACTION = ButtonAction("mj", _pressed_action, job=r"[0-9]{1,18}", index=r"[0-9]{1,2}")
DESCRIBE_PROMPT = ButtonAction("mjd", _pressed_prompt, job=r"[0-9]{1,18}", index=r"[0-4]")


class MidjourneyPresenter:
    """Shows Midjourney jobs: a progress bar while running, then the image and its buttons."""

    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    def title(self, job: Job) -> str:
        prompt = job_prompt(job)
        if job.kind in ("mj_imagine", "mj_blend", "mj_describe", "mj_shorten", "mj_swap_face"):
            return prompt or job.kind.removeprefix("mj_")
        label = button_label(self.bot, job.locale, {"custom_id": job.request.get("custom_id", "")})
        return f"{label} · {prompt}"

    async def progress(self, job: Job, state: TaskState) -> None:
        if state.status == "awaiting":
            await self.ask(job)
            return
        preview = embed_image_url(state.preview_url)
        embed = discord.Embed().set_image(url=preview) if preview else None
        await show(
            self.bot,
            job,
            card(self.bot, job.locale, self.title(job), job.user_id, progress_bar(state.progress)),
            embed=embed,
        )

    async def ask(self, job: Job) -> None:
        """The task waits for its prompt (remix): a button opens the modal for it."""
        catalog = self.bot.services.catalog
        view = discord.ui.View(timeout=None)
        label = catalog.t(job.locale, "mj.answer_button")
        view.add_item(ANSWER.button(job=job.id, label=label, emoji="✏️", style=PRIMARY))
        status = catalog.t(job.locale, "mj.awaiting")
        await show(
            self.bot,
            job,
            card(self.bot, job.locale, self.title(job), job.user_id, status),
            view=view,
        )

    async def deliver(self, job: Job) -> None:
        catalog = self.bot.services.catalog
        price = self.bot.services.config.pricing.action_price(job.kind)
        if job.status != "succeeded":
            reason = error_text(self.bot, job.locale, job.error)
            note = catalog.t(job.locale, "jobs.refunded", price=price)
            await show(
                self.bot,
                job,
                card(self.bot, job.locale, self.title(job), job.user_id, f"❌ {reason}\n-# {note}"),
            )
            return
        result = job.result or {}
        footer = catalog.t(job.locale, "mj.footer", kind=job.kind.removeprefix("mj_"), price=price)
        view = discord.ui.View(timeout=None)
        if job.kind in ("mj_describe", "mj_shorten"):
            prompts = result.get("prompts") or []
            for index in range(len(prompts[:5])):
                view.add_item(
                    DESCRIBE_PROMPT.button(
                        job=job.id, index=index, label=f"🎨 {index + 1}", style=PRIMARY
                    )
                )
            await show(
                self.bot,
                job,
                describe_card(self.title(job), job.user_id, prompts, footer),
                view=view,
            )
            return
        url = result.get("image_url") or ""
        own = seed_buttons(self.bot, job) + animate_buttons(self.bot, job)
        if url and result.get("action") == "UPSCALE":  # one image, not a grid of four
            own += style_buttons(self.bot, job)
        view = result_view(self.bot, job.locale, job.id, result.get("buttons") or [], own)
        file, link = (
            await file_or_link(self.bot, job, url, f"atelier-{job.id}.png") if url else (None, "")
        )
        text = card(self.bot, job.locale, self.title(job), job.user_id, f"-# {footer}")
        fitted = one_result(catalog, job.locale, job.id, text, url, file, link)
        await show_card(self.bot, job, fitted, view if view.children else None)


class Imagine(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(
            MJ_ACTION.item, DESCRIBE_PROMPT.item, ANSWER.item, SEED.item, RegionSelect
        )
        self.bot.services.jobs.set_presenter("mj_", MidjourneyPresenter(self.bot))
        self.bot.services.jobs.set_presenter("media_", MediaPresenter(self.bot))

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(
            MJ_ACTION.item, DESCRIBE_PROMPT.item, ANSWER.item, SEED.item, RegionSelect
        )

    @staticmethod
    def _image_url(attachment: discord.Attachment) -> str:
        if not is_image(attachment.content_type):
            raise UnsupportedImage(attachment.filename, name=attachment.filename)
        return attachment.url

    @app_commands.command(
        name=cmd("describe", "mj.describe.name"),
        description=cmd("Four prompts that describe an image", "mj.describe.description"),
    )
    @app_commands.describe(image=cmd("The image to describe", "mj.describe.image"))
    @app_commands.guild_only()
    async def describe(
        self, interaction: discord.Interaction[AtelierBot], image: discord.Attachment
    ) -> None:
        self.bot.services.capabilities.require("midjourney")
        new = new_job(
            interaction,
            "mj_describe",
            {"image_urls": [self._image_url(image)], "prompt": image.filename},
        )
        waiting = self.bot.services.catalog.t(interaction.locale, "jobs.waiting")
        await start_job(
            interaction,
            new,
            card(self.bot, interaction.locale, image.filename, interaction.user.id, waiting),
        )

    @app_commands.command(
        name=cmd("blend", "mj.blend.name"),
        description=cmd("Blend 2 to 5 images", "mj.blend.description"),
    )
    @app_commands.describe(
        image1=cmd("The first image", "mj.blend.image1"),
        image2=cmd("The second image", "mj.blend.image2"),
        image3=cmd("A third image (optional)", "mj.blend.image3"),
        image4=cmd("A fourth image (optional)", "mj.blend.image4"),
        image5=cmd("A fifth image (optional)", "mj.blend.image5"),
        dimensions=cmd("The result's shape: square, portrait or landscape", "mj.blend.dimensions"),
    )
    @app_commands.guild_only()
    async def blend(
        self,
        interaction: discord.Interaction[AtelierBot],
        image1: discord.Attachment,
        image2: discord.Attachment,
        image3: discord.Attachment | None = None,
        image4: discord.Attachment | None = None,
        image5: discord.Attachment | None = None,
        dimensions: Literal["SQUARE", "PORTRAIT", "LANDSCAPE"] = "SQUARE",
    ) -> None:
        self.bot.services.capabilities.require("midjourney")
        images = [i for i in (image1, image2, image3, image4, image5) if i is not None]
        urls = [self._image_url(i) for i in images]
        title = " + ".join(i.filename for i in images)
        new = new_job(
            interaction, "mj_blend", {"image_urls": urls, "dimensions": dimensions, "prompt": title}
        )
        waiting = self.bot.services.catalog.t(interaction.locale, "jobs.waiting")
        await start_job(
            interaction,
            new,
            card(self.bot, interaction.locale, title, interaction.user.id, waiting),
        )


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Imagine(bot))
    await bot.add_cog(VaryRegion(bot))
