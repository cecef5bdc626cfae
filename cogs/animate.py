"""Animate and "Animate to…": the buttons under every finished image that make it a video.

**Animate** opens a modal whose title carries the price (an optional motion prompt), then
starts a video job with the server's default video model, the image as its first frame.
**Animate to…** (models that take a last frame: Kling, Luma) first answers privately with a
menu of the member's recent images; the one picked is the last frame, then the same modal.

The buttons, the menu and the form name only job ids (the form also the price it showed): the
image links are read from the jobs' stored results when used, so all three work after a
restart. The image cogs add the buttons with
``animate_buttons``; the video job is delivered by ``cogs.video``'s presenter, which links back
to the image's message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import discord
from discord.ext import commands

from bot.acknowledge import acknowledge
from bot.animate import (
    RECENT_LIMIT,
    NotAnEndFrame,
    NotAnimatable,
    animatable,
    animate_model,
    animate_options,
    animate_price,
    motion_prompt,
    recent_images,
    takes_end_frame,
    video_request,
)
from bot.animate_choices import CODE as CHOICE
from bot.animate_choices import decode, encode, has_choices
from bot.app import Admitted, AtelierBot, admit, require_guild, role_ids
from bot.config import VideoModel
from bot.errors import AtelierError
from bot.job_types import Job, NewJob
from bot.providers.video import provider_for
from bot.video_pricing import VideoOptions
from cogs.animate_options import OptionsSelect, offer_choices
from cogs.buttons import ButtonAction, PersistentButton
from cogs.card_images import animate_link
from cogs.imagine_prompt import PROMPT_LIMIT, TITLE_LIMIT
from cogs.views import start_job

JOB_ID = r"[0-9]{1,18}"
MENU_LABEL_LIMIT = 100  # Discord's limit for a select option's label


def animate_buttons(bot: AtelierBot, job: Job) -> list[PersistentButton]:
    """Animate (and Animate to…, where the model takes a last frame) for a finished image;
    none when it has no link or the gateway serves no video model that starts from an image."""
    services = bot.services
    model = animate_model(services.config, services.capabilities)
    if model is None or not animatable(job):
        return []
    catalog = services.catalog
    label = catalog.t(job.locale, "animate.button")
    buttons = [ANIMATE.button(job=job.id, label=label, emoji="🎬")]
    if takes_end_frame(model):
        label = catalog.t(job.locale, "animate.to_button")
        buttons.append(ANIMATE_TO.button(job=job.id, label=label, emoji="🎞️"))
    return buttons


MODAL_ID = re.compile(
    rf"atelier:animm:(?P<start>{JOB_ID}):(?P<end>{JOB_ID}):(?P<price>[0-9]{{1,12}})"
    rf"(?::(?P<choice>{CHOICE}))?"  # the options picked first, where there was a choice
)


class PriceChanged(AtelierError):
    """The price went up or down between the form and its submit (a config change)."""

    key = "animate.price_changed"


def motion_modal(
    bot: AtelierBot, locale: Any, price: int, start: Job, end: Job | None, choice: str = ""
) -> discord.ui.Modal:
    """The optional motion prompt; the title is the price, shown before anything is held.

    Its custom_id names the images and the price shown, and its submit is handled by
    ``Animate.on_interaction`` rather than a callback in memory: a form opened before a
    restart still starts its video after it."""
    catalog = bot.services.catalog
    modal: discord.ui.Modal = discord.ui.Modal(
        title=catalog.t(locale, "animate.title", price=price)[:TITLE_LIMIT],
        custom_id=f"atelier:animm:{start.id}:{end.id if end else 0}:{price}"
        + (f":{choice}" if choice else ""),
    )
    modal.add_item(
        discord.ui.TextInput(
            label=catalog.t(locale, "animate.motion_label")[:TITLE_LIMIT],
            placeholder=catalog.t(locale, "animate.motion_placeholder")[:MENU_LABEL_LIMIT],
            style=discord.TextStyle.paragraph,
            required=False,
            max_length=PROMPT_LIMIT,
            custom_id="motion",
        )
    )
    modal.stop()  # not kept in discord.py's memory: the listener answers every submit
    return modal


def typed_value(components: Any, custom_id: str) -> str:
    """A text field's value in a modal submit's payload, at any depth."""
    for component in components or []:
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component["value"] or "")
        inner = component.get("components") or (
            [component["component"]] if "component" in component else []
        )
        if found := typed_value(inner, custom_id):
            return found
    return ""


async def image_job(interaction: discord.Interaction[AtelierBot], job_id: int) -> Job:
    """A finished image of this server, or NotAnimatable (a private, free answer)."""
    job = await interaction.client.services.jobs.get(job_id)
    if job is None or job.guild_id != interaction.guild_id or not animatable(job):
        raise NotAnimatable(f"job {job_id} is no image of guild {interaction.guild_id}")
    return job


def served_model(interaction: discord.Interaction[AtelierBot]) -> VideoModel:
    services = interaction.client.services
    model = animate_model(services.config, services.capabilities)
    if model is None:
        raise NotAnimatable("no video model that starts from an image is served")
    return model


async def open_modal(
    interaction: discord.Interaction[AtelierBot],
    start: Job,
    end: Job | None = None,
    options: VideoOptions | None = None,
) -> None:
    """Answer with the priced modal (the modal is the acknowledgement); its submit starts the
    video job at exactly the price in its title. Where the model has options to choose and
    none are chosen yet, the private menu of them comes first."""
    bot = interaction.client
    model = served_model(interaction)
    if options is None and has_choices(model):
        await offer_choices(interaction, model, start, end)
        return
    price = animate_price(model, bot.services.config, options)
    choice = encode(model, options) if options is not None else ""
    modal = motion_modal(bot, interaction.locale, price, start, end, choice)
    await interaction.response.send_modal(modal)


async def submitted(interaction: discord.Interaction[AtelierBot], match: re.Match[str]) -> None:
    """A motion form's submit: the video job at exactly the price its title showed."""
    model = served_model(interaction)
    options = decode(model, match["choice"]) if match["choice"] else animate_options(model)
    price = animate_price(model, interaction.client.services.config, options)
    if price != int(match["price"]):
        raise PriceChanged(
            f"shown {match['price']}, now {price}", shown=match["price"], price=price
        )
    start = await image_job(interaction, int(match["start"]))
    end = await image_job(interaction, int(match["end"])) if int(match["end"]) else None
    typed = typed_value((interaction.data or {}).get("components"), "motion")
    # Reading a card's attachment may take a REST call: acknowledged first.
    await acknowledge(interaction)
    links = (
        await animate_link(interaction, start),
        await animate_link(interaction, end) if end is not None else None,
    )
    prompt = motion_prompt(typed, start)
    await start_animation(interaction, model, (price, options), start, end, prompt, links)


async def start_animation(
    interaction: discord.Interaction[AtelierBot],
    model: VideoModel,
    priced: tuple[int, VideoOptions],
    start: Job,
    end: Job | None,
    prompt: str,
    links: tuple[str | None, str | None] = (None, None),
) -> None:
    # Imported here: cogs.video imports cogs.media, which imports this module for its buttons.
    from cogs.video import KIND, card, details

    config = interaction.client.services.config
    price, options = priced
    request = video_request(model, config, start, prompt, end, links, options)
    request["price"] = price  # what the modal showed, whatever the config says now
    request["upload_limit"] = interaction.filesize_limit
    new = NewJob(
        key=f"{interaction.id}", kind=KIND, provider=provider_for(model.adapter),
        guild_id=require_guild(interaction), channel_id=interaction.channel_id or 0,
        user_id=interaction.user.id, request=request, price=price,
        deadline_minutes=config.jobs.video_deadline, locale=str(interaction.locale),
        command=f"video:{model.name}", cooldown="video", role_ids=role_ids(interaction.user),
        prompt=prompt, parent_id=start.id,
    )  # fmt: skip
    catalog = interaction.client.services.catalog
    waiting = "\n".join(
        (
            catalog.t(interaction.locale, "jobs.waiting"),
            catalog.t(
                interaction.locale,
                "video_options.price",
                price=price,
                details=details(options),
            ),
        )
    )
    title = f"{model.name} · {prompt}"
    await start_job(interaction, new, card(title, interaction.user.id, waiting))


async def _pressed_animate(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    await open_modal(interaction, await image_job(interaction, int(values["job"])))


async def _pressed_animate_to(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """The member's recent images, privately, to pick the last frame from."""
    start = await image_job(interaction, int(values["job"]))
    if not takes_end_frame(served_model(interaction)):
        raise NotAnEndFrame(f"the default video model takes no last frame (job {start.id})")
    bot = interaction.client
    catalog = bot.services.catalog
    # A read, not a write: no wait behind the database writer before this first answer.
    found = await recent_images(
        bot.services.db, require_guild(interaction), interaction.user.id, RECENT_LIMIT + 1
    )
    choices = [job for job in found if job.id != start.id][:RECENT_LIMIT]
    if not choices:
        raise NotAnEndFrame(f"member {interaction.user.id} has no other image")
    options = [
        discord.SelectOption(
            label=f"#{job.id} · {motion_prompt('', job)}"[:MENU_LABEL_LIMIT], value=str(job.id)
        )
        for job in choices
    ]
    view = discord.ui.View(timeout=None)
    view.add_item(EndFrameSelect(start.id, options))
    await interaction.response.send_message(
        catalog.t(interaction.locale, "animate.pick_end", job=start.id), view=view, ephemeral=True
    )


class EndFrameSelect(
    Admitted,
    discord.ui.DynamicItem[discord.ui.Select[Any]],
    template=rf"atelier:animend:(?P<job>{JOB_ID})",
):
    """Which image is the last frame; a persistent item, so it works after a restart."""

    def __init__(self, job_id: int, options: list[discord.SelectOption] | None = None) -> None:
        super().__init__(
            discord.ui.Select(
                custom_id=f"atelier:animend:{job_id}",
                options=options or [discord.SelectOption(label="?")],
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> EndFrameSelect:
        return cls(int(match["job"]))

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        try:
            picked = str((interaction.data or {}).get("values", [""])[0])
            if not picked.isdigit():
                raise NotAnimatable(f"no image picked: {picked!r}")
            start = await image_job(interaction, self.job_id)
            end = await image_job(interaction, int(picked))
            await open_modal(interaction, start, end)
        except Exception as error:  # discord.py only logs a dynamic item's errors
            await interaction.client.report_error(interaction, error)


ANIMATE = ButtonAction("anim", _pressed_animate, job=JOB_ID)
ANIMATE_TO = ButtonAction("animto", _pressed_animate_to, job=JOB_ID)
ITEMS = (ANIMATE.item, ANIMATE_TO.item, EndFrameSelect, OptionsSelect)


class Animate(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(*ITEMS)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(*ITEMS)

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[AtelierBot]) -> None:
        if interaction.type is not discord.InteractionType.modal_submit:
            return
        match = MODAL_ID.fullmatch(str((interaction.data or {}).get("custom_id") or ""))
        if match is None or not await admit(interaction):
            return
        try:
            await submitted(interaction, match)
        except Exception as error:  # a listener's errors are only logged otherwise
            await interaction.client.report_error(interaction, error)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Animate(bot))
