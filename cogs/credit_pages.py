"""The paginated /credit reports, ledger history and usage, with buttons that work after a
restart: what a page shows lives in its buttons' custom_ids. Not an extension."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

from bot.acknowledge import acknowledge, answer
from bot.app import AtelierBot, require_guild
from bot.charts import daily_spend_png
from bot.errors import AtelierError
from bot.reports import Reports
from cogs.buttons import ButtonAction

PAGE = 10
COLOUR = 0x5865F2
LEDGER_KINDS = ("opening", "grant", "hold", "release", "refund")
# custom_id parts. ASCII digits only (\d also takes "١" or "３"), and few enough that every value
# fits a 64-bit database integer: a forged id then matches nothing instead of failing a query.
# Snowflakes stay below 9e18 until about 2083.
SNOWFLAKE = "[1-8]?[0-9]{1,18}"
KIND = "|".join((*LEDGER_KINDS, ""))  # "" = every kind


class MissingManageGuild(AtelierError):
    key = "error.missing_permissions"


def require_manage_guild(interaction: discord.Interaction[Any]) -> None:
    """Checked on every path (commands, buttons), not only hidden in Discord's UI."""
    if not interaction.permissions.manage_guild:
        raise MissingManageGuild("manage guild required")


def page_footer(bot: AtelierBot, locale: Any, page: int, pages: int) -> str:
    return bot.services.catalog.t(locale, "gpts.page", page=page + 1, pages=pages)


async def turned_page(
    interaction: discord.Interaction[AtelierBot],
    render: Callable[[AtelierBot, Any, int], Awaitable[dict[str, Any]]],
) -> None:
    """◀ or ▶ of a report: re-reads the report and shows the page its custom_id names."""
    require_manage_guild(interaction)
    guild_id = require_guild(interaction)
    await acknowledge(interaction, update=True)  # the report and its chart take a while
    page = await render(interaction.client, interaction.locale, guild_id)
    await answer(interaction, **page)


# ---- history ---------------------------------------------------------------------------------


async def history_page(
    bot: AtelierBot, locale: Any, guild_id: int, offset: int, member: int, kind: str
) -> dict[str, Any]:
    """One page of the ledger, newest first; ``member`` 0 and ``kind`` "" mean everyone, all."""
    lines, total = await Reports(bot.services.db).history(
        guild_id, user_id=member or None, kind=kind or None, offset=offset, limit=PAGE
    )
    catalog = bot.services.catalog
    embed = discord.Embed(title=catalog.t(locale, "credit.history_title"), colour=COLOUR)
    rows = [
        f"`{line.created_at:%m-%d %H:%M}` {f'<@{line.user_id}>' if line.user_id else '—'} "
        f"**{line.kind}** {line.amount:+,} · {line.command or line.note or ''} · `{line.key[:40]}`"
        for line in lines
    ]
    embed.description = "\n".join(rows) or catalog.t(locale, "credit.history_empty")
    embed.set_footer(text=page_footer(bot, locale, offset // PAGE, max(1, -(-total // PAGE))))
    view = discord.ui.View(timeout=None)
    back, forward = max(0, offset - PAGE), offset + PAGE
    view.add_item(
        HISTORY.button(offset=back, member=member, kind=kind, label="◀", disabled=offset == 0)
    )
    view.add_item(
        HISTORY.button(
            offset=forward, member=member, kind=kind, label="▶", disabled=forward >= total
        )
    )
    return {"embed": embed, "view": view}


async def _turned_history(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """The page, member and kind filter live in the custom_id."""
    offset, member, kind = int(values["offset"]), int(values["member"]), values["kind"]

    async def render(bot: AtelierBot, locale: Any, guild_id: int) -> dict[str, Any]:
        return await history_page(bot, locale, guild_id, offset, member, kind)

    await turned_page(interaction, render)


HISTORY = ButtonAction("hist", _turned_history, offset="[0-9]{1,9}", member=SNOWFLAKE, kind=KIND)


# ---- usage -----------------------------------------------------------------------------------


async def usage_page(
    bot: AtelierBot, locale: Any, guild_id: int, days: int, page: int
) -> dict[str, Any]:
    """Spend by member, command and model, top spenders first, ``PAGE`` of each per page, with
    the chart of daily spend; keyword arguments for ``edit_message``."""
    usage = await Reports(bot.services.db).usage(guild_id, days)
    catalog = bot.services.catalog
    longest = max(len(usage.by_member), len(usage.by_command), len(usage.by_model))
    pages = max(1, -(-longest // PAGE))
    page = min(page, pages - 1)
    start = page * PAGE

    def top(items: list[tuple[Any, int]], mention: bool = False) -> str:
        shown = [
            f"{f'<@{k}>' if mention and k else k} — {v:,}" for k, v in items[start : start + PAGE]
        ]
        return "\n".join(shown) or "—"

    embed = discord.Embed(
        title=catalog.t(locale, "credit.usage_title", days=days, total=f"{usage.total:,}"),
        colour=COLOUR,
    )
    embed.add_field(name=catalog.t(locale, "credit.by_member"), value=top(usage.by_member, True))
    embed.add_field(name=catalog.t(locale, "credit.by_command"), value=top(usage.by_command))
    embed.add_field(name=catalog.t(locale, "credit.by_model"), value=top(usage.by_model))
    embed.set_footer(text=page_footer(bot, locale, page, pages))
    # matplotlib takes tens of milliseconds per chart: not on the event loop.
    title = f"Credits spent per day, last {days} days"
    chart = await asyncio.to_thread(daily_spend_png, usage.by_day, title)
    embed.set_image(url="attachment://usage.png")
    view = discord.ui.View(timeout=None)
    view.add_item(USAGE.button(days=days, page=max(0, page - 1), label="◀", disabled=page == 0))
    view.add_item(USAGE.button(days=days, page=page + 1, label="▶", disabled=page + 1 >= pages))
    file = discord.File(io.BytesIO(chart), "usage.png")
    return {"embed": embed, "view": view, "attachments": [file]}


async def _turned_usage(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    """The period and the page live in the custom_id."""
    days, page = int(values["days"]), int(values["page"])

    async def render(bot: AtelierBot, locale: Any, guild_id: int) -> dict[str, Any]:
        return await usage_page(bot, locale, guild_id, days, page)

    await turned_page(interaction, render)


USAGE = ButtonAction("usage", _turned_usage, days="7|30", page="[0-9]{1,4}")
