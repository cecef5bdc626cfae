"""/jobs: the member's recent jobs (any kind) with their state, cost and a link to each card;
a Manage Server member may list the whole server's. Paginated with buttons that work after a
restart: the page and the scope live in their custom_ids, and who may see the server's is
checked again on every press."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot, require_guild
from bot.i18n import cmd
from bot.job_list import JobLine, job_page
from cogs.buttons import ButtonAction
from cogs.credit_pages import COLOUR, PAGE, page_footer, require_manage_guild

Scope = Literal["me", "server"]
STATE_ICONS = {"succeeded": "✅", "failed": "❌", "timed_out": "⌛", "awaiting": "⏸️"}


def job_row(bot: AtelierBot, locale: Any, guild_id: int, line: JobLine, scope: Scope) -> str:
    catalog = bot.services.catalog
    state_key = f"jobs_list.state_{line.status}"
    state = catalog.t(locale, state_key) if catalog.get("en-US", state_key) else line.status
    icon = STATE_ICONS.get(line.status, "⏳")
    if line.hold_status in ("refunded", "released"):
        cost = catalog.t(locale, "jobs_list.cost_refunded")
    elif line.hold_status == "open":
        cost = catalog.t(locale, "jobs_list.cost_held", price=line.cost)
    else:
        cost = catalog.t(locale, "jobs_list.cost", price=line.cost)
    what = line.kind.replace(":", " · ")
    parts = [f"`#{line.id}` {icon} **{what}** · {state} · {cost}"]
    if scope == "server":
        parts.append(f"<@{line.user_id}>")
    if link := line.link(guild_id):
        parts.append(f"[{catalog.t(locale, 'jobs_list.card')}]({link})")
    parts.append(f"<t:{int(line.created_at.timestamp())}:R>")
    return " · ".join(parts)


async def jobs_page(
    bot: AtelierBot, locale: Any, guild_id: int, user_id: int, scope: Scope, page: int
) -> dict[str, Any]:
    """One page of /jobs; keyword arguments for ``send_message`` or ``edit_message``."""
    member = None if scope == "server" else user_id
    lines, total = await job_page(bot.services.db, guild_id, member, page * PAGE, PAGE)
    pages = max(1, -(-total // PAGE))
    catalog = bot.services.catalog
    embed = discord.Embed(title=catalog.t(locale, f"jobs_list.title_{scope}"), colour=COLOUR)
    rows = [job_row(bot, locale, guild_id, line, scope) for line in lines]
    embed.description = "\n".join(rows) or catalog.t(locale, "jobs_list.empty")
    embed.set_footer(text=page_footer(bot, locale, page, pages))
    view = discord.ui.View(timeout=None)
    view.add_item(
        JOBS_PAGE.button(scope=scope, page=max(0, page - 1), label="◀", disabled=page == 0)
    )
    view.add_item(
        JOBS_PAGE.button(scope=scope, page=page + 1, label="▶", disabled=page + 1 >= pages)
    )
    return {"embed": embed, "view": view}


async def _turned(interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]) -> None:
    """◀ or ▶ of /jobs. "me" lists the presser's own jobs, so a forwarded id shows no one
    else's; "server" asks for Manage Server again on every press."""
    scope: Scope = "server" if values["scope"] == "server" else "me"
    if scope == "server":
        require_manage_guild(interaction)
    guild_id = require_guild(interaction)
    # One read (never behind the database writer), then the page itself is the answer.
    page = await jobs_page(
        interaction.client, interaction.locale, guild_id, interaction.user.id, scope,
        int(values["page"]),
    )  # fmt: skip
    await interaction.response.edit_message(**page)


JOBS_PAGE = ButtonAction("jobs", _turned, scope="me|server", page="[0-9]{1,6}")


class Jobs(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(JOBS_PAGE.item)

    @app_commands.command(
        name=cmd("jobs", "jobs_list.name"),
        description=cmd("Your recent jobs: state, cost and card", "jobs_list.description"),
    )
    @app_commands.describe(
        scope=cmd("me: your jobs; server: everyone's (Manage Server)", "jobs_list.scope")
    )
    @app_commands.guild_only()
    async def jobs(self, interaction: discord.Interaction[AtelierBot], scope: Scope = "me") -> None:
        if scope == "server":
            require_manage_guild(interaction)  # server-side, whatever the client showed
        guild_id = require_guild(interaction)
        page = await jobs_page(
            self.bot, interaction.locale, guild_id, interaction.user.id, scope, 0
        )
        await interaction.response.send_message(ephemeral=True, **page)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Jobs(bot))
