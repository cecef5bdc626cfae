"""/imagine: a prompt, up to three image prompts, a style and a character reference, and the
model (Midjourney, or another image model the gateway serves).

Everything a member can get wrong (a file that is not an image or too large, a reference the
prompt's Midjourney version cannot take, a reference for a model that takes none) is refused
privately before anything is held. The jobs themselves are ``cogs.imagine``'s.
"""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot
from bot.chat_input import require_prompt
from bot.errors import AtelierError, UnknownModel
from bot.i18n import cmd
from bot.mj_references import References
from cogs.autocomplete import fitting_choices
from cogs.imagine import imagine_job
from cogs.media import IMAGE_PROVIDERS, start_media_job
from cogs.references import STYLE, mj_parameters, reference_url


class ReferenceNotSupported(AtelierError):
    key = "mj.reference_not_supported"


class ImagineCommand(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(STYLE.item)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(STYLE.item)

    @app_commands.command(
        name=cmd("imagine", "mj.imagine.name"),
        description=cmd("Create images with Midjourney", "mj.imagine.description"),
    )
    @app_commands.describe(
        prompt=cmd("What to draw (Midjourney parameters like --ar 16:9 work)", "mj.imagine.prompt"),
        image=cmd("A reference image", "mj.imagine.image"),
        niji=cmd("Use the Niji (anime) model", "mj.imagine.niji"),
        model=cmd("Image model (Midjourney by default)", "mj.imagine.model"),
        image2=cmd("A second image prompt", "mj.imagine.image2"),
        image3=cmd("A third image prompt", "mj.imagine.image3"),
        style=cmd("An image whose style to follow (--sref)", "mj.imagine.style"),
        character=cmd(
            "A character or object to keep (--cref on V6, --oref on V7)", "mj.imagine.character"
        ),
        style_weight=cmd(
            "How strongly to follow the style (--sw, 0-1000)", "mj.imagine.style_weight"
        ),
        character_weight=cmd(
            "How closely to keep the character (--cw 0-100, --ow 1-1000)",
            "mj.imagine.character_weight",
        ),
    )
    @app_commands.guild_only()
    async def imagine(
        self,
        interaction: discord.Interaction[AtelierBot],
        prompt: app_commands.Range[str, 1, 4000],
        image: discord.Attachment | None = None,
        niji: bool = False,
        model: str | None = None,
        image2: discord.Attachment | None = None,
        image3: discord.Attachment | None = None,
        style: discord.Attachment | None = None,
        character: discord.Attachment | None = None,
        style_weight: app_commands.Range[int, 0, 1000] | None = None,
        character_weight: app_commands.Range[int, 0, 1000] | None = None,
    ) -> None:
        config = self.bot.services.config
        require_prompt(prompt)
        chosen = config.image.model(model)
        if chosen is None:
            raise UnknownModel(model or "", model=(model or "")[:100])
        # Before anything is held: a family this gateway does not serve costs nothing.
        self.bot.services.capabilities.require_adapter(chosen.adapter)
        limit = config.image.reference_max_bytes
        urls = [reference_url(a, limit) for a in (image, image2, image3) if a is not None]
        refs = References(
            styles=(reference_url(style, limit),) if style is not None else (),
            character=reference_url(character, limit) if character is not None else None,
            style_weight=style_weight,
            character_weight=character_weight,
        )
        if chosen.adapter == "midjourney":
            extra = mj_parameters(self.bot, prompt, refs, niji=niji)
            await imagine_job(interaction, prompt, image_urls=urls, niji=niji, parameters=extra)
            return
        if urls or refs or style_weight is not None or character_weight is not None:
            raise ReferenceNotSupported(chosen.name, model=chosen.name)
        await start_media_job(
            interaction,
            media="image",
            provider=IMAGE_PROVIDERS[chosen.adapter],
            model=chosen.name,
            prompt=prompt,
            price=chosen.price
            if chosen.price is not None
            else config.pricing.action_price("image"),
            deadline_minutes=config.jobs.image_deadline,
            cooldown="imagine",
        )

    @imagine.autocomplete("model")
    async def _model_autocomplete(
        self, _interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        served = self.bot.services.capabilities.adapter_served
        names = [m.name for m in self.bot.services.config.image.models if served(m.adapter)]
        return fitting_choices((n, n) for n in names if needle in n.casefold())


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(ImagineCommand(bot))
