"""/gpts: the guild's shared catalog of custom GPTs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import acknowledge, answer, answer_privately
from bot.app import Admitted, AtelierBot, require_guild
from bot.errors import AtelierError, NotOffered, UpstreamError
from bot.gpt_catalog import GPTAlreadyShared, GPTEntry, InvalidGPTId, parse_gizmo_id
from bot.i18n import cmd
from bot.upstream.gpts import GizmoSearchResult
from cogs.autocomplete import shared_gpt_choices
from cogs.buttons import ButtonAction
from cogs.cards import embed_image_url

log = logging.getLogger(__name__)

PAGE_SIZE = 5
SEARCH_RESULTS = 5
# A lookup slower than this falls back to asking for a name (the member is waiting).
LOOKUP_TIMEOUT = 2.0
PRIMARY, SUCCESS = discord.ButtonStyle.primary, discord.ButtonStyle.success


class NotAllowed(AtelierError):
    key = "gpts.not_allowed"


def list_page(bot: AtelierBot, locale: Any, entries: list[GPTEntry], page: int) -> dict[str, Any]:
    """Embed and buttons for one page of the catalog (kwargs for send/edit)."""
    catalog = bot.services.catalog
    pages = max(1, -(-len(entries) // PAGE_SIZE))
    page = min(max(page, 0), pages - 1)
    embed = discord.Embed(title=catalog.t(locale, "gpts.list_title"), colour=0x10A37F)
    if not entries:
        embed.description = catalog.t(locale, "gpts.list_empty")
    for entry in entries[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]:
        uses = catalog.t(locale, "gpts.uses", uses=entry.uses)
        embed.add_field(
            name=f"{entry.name} · {uses}",
            value=f"`{entry.gizmo_id}` {entry.description[:150]}".strip(),
            inline=False,
        )
    embed.set_footer(text=catalog.t(locale, "gpts.page", page=page + 1, pages=pages))
    view = discord.ui.View(timeout=None)
    view.add_item(PAGE.button(page=page - 1, label="◀", disabled=page == 0))
    view.add_item(PAGE.button(page=page + 1, label="▶", disabled=page >= pages - 1))
    return {"embed": embed, "view": view}


class NameModal(Admitted, discord.ui.Modal):
    """Asked when the GPT lookup fails: the GPT is still added, under the member's name for it."""

    def __init__(self, cog: GPTs, gizmo_id: str, locale: Any, opener: int) -> None:
        catalog = cog.bot.services.catalog
        super().__init__(title=catalog.t(locale, "gpts.modal_title")[:45], timeout=600)
        self.opener = opener
        self.cog = cog
        self.gizmo_id = gizmo_id
        self.name: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=catalog.t(locale, "gpts.modal_label")[:45], max_length=100, custom_id="name"
        )
        self.add_item(self.name)

    async def allows(self, interaction: discord.Interaction[Any]) -> bool:
        # Discord only lets the member it was shown to submit it; a forged submit is ignored.
        return interaction.user.id == self.opener

    async def on_submit(self, interaction: discord.Interaction[AtelierBot]) -> None:
        # Whitespace passes Discord's "required"; a GPT listed as "" could not be found by name.
        name = self.name.value.strip() or self.gizmo_id
        entry = GPTEntry(self.gizmo_id, name, added_by=interaction.user.id)
        await self.cog.store(interaction, entry)

    async def on_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        await self.cog.bot.report_error(interaction, error)


async def _turned_page(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """The page lives in the custom_id; the entries are read anew on every press."""
    bot = interaction.client
    entries = await bot.services.gpt_catalog.list(require_guild(interaction))
    page = list_page(bot, interaction.locale, entries, int(values["page"]))
    await interaction.response.edit_message(**page)


def _cog(interaction: discord.Interaction[AtelierBot]) -> GPTs:
    cog = interaction.client.get_cog("GPTs")
    assert isinstance(cog, GPTs)
    return cog


async def _pressed_add(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """ "Add to this server" under a search result."""
    await _cog(interaction).add_gpt(interaction, values["gizmo"])


async def _pressed_name(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """Opens the name modal for a GPT whose lookup failed."""
    modal = NameModal(_cog(interaction), values["gizmo"], interaction.locale, interaction.user.id)
    await interaction.response.send_modal(modal)


GIZMO = r"g-[A-Za-z0-9]{5,40}"
PAGE = ButtonAction("gpts:page", _turned_page, page=r"-?[0-9]{1,6}")
ADD = ButtonAction("gpts:add", _pressed_add, gizmo=GIZMO)
NAME = ButtonAction("gpts:name", _pressed_name, gizmo=GIZMO)


@app_commands.guild_only()
class GPTs(
    commands.GroupCog,
    name="GPTs",
    group_name=cmd("gpts", "gpts.name"),
    group_description=cmd("Custom GPTs shared in this server", "gpts.description"),
):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(PAGE.item, ADD.item, NAME.item)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(PAGE.item, ADD.item, NAME.item)

    def t(self, interaction: discord.Interaction[Any], key: str, **params: Any) -> str:
        return self.bot.services.catalog.t(interaction.locale, key, **params)

    async def add_gpt(self, interaction: discord.Interaction[AtelierBot], gizmo_id: str) -> None:
        services = self.bot.services
        # Checked before the lookup: no upstream call, and no name asked for in vain.
        shared = await services.gpt_catalog.get(require_guild(interaction), gizmo_id)
        if shared is not None:
            raise GPTAlreadyShared(gizmo_id, name=shared.name)
        await acknowledge(interaction, private=False)  # the lookup and the write take a while
        # Free, but it reaches the upstream: counted against the member's rate (after the
        # acknowledgement: with a shared store it is a round trip; a refusal is made private).
        await services.limiter.admit(require_guild(interaction), interaction.user.id)
        try:
            if not services.capabilities.served("gpts"):
                # Stock new-api and one-api have no GPTs info route: ask for the name at once.
                raise NotOffered("gpts")
            info = await asyncio.wait_for(services.gpts.info(gizmo_id), LOOKUP_TIMEOUT)
        except (UpstreamError, NotOffered, TimeoutError) as exc:
            log.warning("GPT lookup failed for %s, asking for a name: %s", gizmo_id, exc)
            # A modal can only be the first answer to an interaction; this one is answered
            # already, so the member opens it with a button.
            view = discord.ui.View(timeout=None)
            label = self.t(interaction, "gpts.lookup.name_button")
            view.add_item(NAME.button(gizmo=gizmo_id, label=label, style=PRIMARY))
            text = self.t(interaction, "gpts.lookup.name_needed")
            await answer_privately(interaction, text, view)
            return
        entry = GPTEntry(
            gizmo_id=gizmo_id,
            name=info.name,
            description=info.description,
            author=info.author,
            avatar_url=info.avatar_url,
            starters=info.starters,
            added_by=interaction.user.id,
        )
        await self.store(interaction, entry)

    async def store(self, interaction: discord.Interaction[AtelierBot], entry: GPTEntry) -> None:
        guild_id = require_guild(interaction)
        await acknowledge(interaction, private=False)  # the write waits for the database writer
        entry = await self.bot.services.gpt_catalog.add(guild_id, entry)
        await answer(
            interaction,
            content=self.t(interaction, "gpts.added", name=entry.name, id=entry.gizmo_id),
            embed=info_embed(self.bot, interaction.locale, entry),
        )

    @app_commands.command(
        name=cmd("add", "gpts.add.name"),
        description=cmd("Share a GPT in this server", "gpts.add.description"),
    )
    @app_commands.describe(id=cmd("g-… id or a chatgpt.com/g/… link", "gpts.add.id"))
    async def add(self, interaction: discord.Interaction[AtelierBot], id: str) -> None:
        await self.add_gpt(interaction, parse_gizmo_id(id))

    @app_commands.command(
        name=cmd("list", "gpts.list.name"),
        description=cmd("GPTs shared in this server, most used first", "gpts.list.description"),
    )
    async def list(self, interaction: discord.Interaction[AtelierBot]) -> None:
        entries = await self.bot.services.gpt_catalog.list(require_guild(interaction))
        await interaction.response.send_message(
            **list_page(self.bot, interaction.locale, entries, 0)
        )

    @app_commands.command(
        name=cmd("info", "gpts.info.name"),
        description=cmd("Details of a shared GPT", "gpts.info.description"),
    )
    @app_commands.describe(gpt=cmd("A GPT shared in this server", "gpts.info.gpt"))
    async def info(self, interaction: discord.Interaction[AtelierBot], gpt: str) -> None:
        entry = await self.bot.services.gpt_catalog.find(require_guild(interaction), gpt)
        await interaction.response.send_message(
            embed=info_embed(self.bot, interaction.locale, entry)
        )

    @app_commands.command(
        name=cmd("remove", "gpts.remove.name"),
        description=cmd("Remove a GPT from this server", "gpts.remove.description"),
    )
    @app_commands.describe(gpt=cmd("The GPT to remove", "gpts.remove.gpt"))
    async def remove(self, interaction: discord.Interaction[AtelierBot], gpt: str) -> None:
        guild_id = require_guild(interaction)
        catalog = self.bot.services.gpt_catalog
        entry = await catalog.find(guild_id, gpt)
        allowed = entry.added_by == interaction.user.id or interaction.permissions.manage_guild
        if not allowed:
            raise NotAllowed("remove", name=entry.name)
        await acknowledge(interaction, private=False)
        await catalog.remove(guild_id, entry.gizmo_id)
        await answer(interaction, content=self.t(interaction, "gpts.removed", name=entry.name))

    @app_commands.command(
        name=cmd("search", "gpts.search.name"),
        description=cmd("Search public GPTs", "gpts.search.description"),
    )
    @app_commands.describe(query=cmd("Words in the GPT's name or description", "gpts.search.query"))
    async def search(
        self, interaction: discord.Interaction[AtelierBot], query: app_commands.Range[str, 1, 100]
    ) -> None:
        self.bot.services.capabilities.require("gpts")
        # Public; a failure replaces it with a private answer (see bot/acknowledge.py).
        await acknowledge(interaction, private=False)
        # Free, but it reaches the upstream: it counts against the member's built-in rate.
        await self.bot.services.limiter.admit(require_guild(interaction), interaction.user.id)
        results = addable(await self.bot.services.gpts.search(query))[:SEARCH_RESULTS]
        if not results:
            await answer(interaction, content=self.t(interaction, "gpts.search_empty", query=query))
            return
        embed = discord.Embed(title=self.t(interaction, "gpts.search_title", query=query))
        view = discord.ui.View(timeout=None)
        label = self.t(interaction, "gpts.add_button")
        for number, result in enumerate(results, start=1):
            embed.add_field(
                name=f"{number}. {result.title}"[:256],
                value=f"`{result.id}` {result.description[:200]}".strip(),
                inline=False,
            )
            view.add_item(ADD.button(gizmo=result.id, label=f"{label} {number}", style=SUCCESS))
        await answer(interaction, embed=embed, view=view)

    @app_commands.command(
        name=cmd("default", "gpts.default.name"),
        description=cmd("Set the GPT /gpt uses when none is named", "gpts.default.description"),
    )
    @app_commands.describe(gpt=cmd("The GPT /gpt uses when none is named", "gpts.default.gpt"))
    @app_commands.checks.has_permissions(manage_guild=True)
    async def default(self, interaction: discord.Interaction[AtelierBot], gpt: str) -> None:
        guild_id = require_guild(interaction)
        catalog = self.bot.services.gpt_catalog
        entry = await catalog.find(guild_id, gpt)
        await acknowledge(interaction, private=False)
        await catalog.set_default(guild_id, entry.gizmo_id)
        await answer(interaction, content=self.t(interaction, "gpts.default_set", name=entry.name))

    info.autocomplete("gpt")(shared_gpt_choices)
    remove.autocomplete("gpt")(shared_gpt_choices)
    default.autocomplete("gpt")(shared_gpt_choices)


def addable(results: list[GizmoSearchResult]) -> list[GizmoSearchResult]:
    """Results an "Add" button can carry: a well-formed id, each once (custom_ids must differ)."""
    seen: set[str] = set()
    kept = []
    for result in results:
        try:
            valid = parse_gizmo_id(result.id) == result.id
        except InvalidGPTId:
            valid = False
        if valid and result.id not in seen:
            seen.add(result.id)
            kept.append(result)
    return kept


def info_embed(bot: AtelierBot, locale: Any, entry: GPTEntry) -> discord.Embed:
    catalog = bot.services.catalog
    embed = discord.Embed(title=entry.name, description=entry.description[:2000] or None)
    embed.add_field(name="ID", value=f"`{entry.gizmo_id}`")
    if entry.author:
        embed.add_field(name=catalog.t(locale, "gpts.author"), value=entry.author[:200])
    if entry.added_by:
        embed.add_field(name=catalog.t(locale, "gpts.added_by"), value=f"<@{entry.added_by}>")
    if entry.starters:
        embed.add_field(
            name=catalog.t(locale, "gpts.starters"),
            value="\n".join(f"• {s[:200]}" for s in entry.starters[:4]),
            inline=False,
        )
    if avatar := embed_image_url(entry.avatar_url):
        embed.set_thumbnail(url=avatar)
    return embed


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(GPTs(bot))
