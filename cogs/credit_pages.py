"""The paginated /credit reports, ledger history and usage, with buttons that work after a
restart: what a page shows lives in its buttons' custom_ids. Not an extension."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import discord

from bot.acknowledge import acknowledge, answer
from bot.app import Admitted, AtelierBot, require_guild
from bot.charts import daily_spend_png
from bot.errors import AtelierError
from bot.reports import Reports

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


def arrow(custom_id: str, label: str, disabled: bool) -> discord.ui.Button[Any]:
    return discord.ui.Button(
        label=label, disabled=disabled, style=discord.ButtonStyle.secondary, custom_id=custom_id
    )


class PageButton(Admitted):
    """◀ or ▶ of a report: re-reads the report and shows the page its custom_id names."""

    async def render(self, bot: AtelierBot, locale: Any, guild_id: int) -> dict[str, Any]:
        raise NotImplementedError

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        try:
            require_manage_guild(interaction)
            guild_id = require_guild(interaction)
            await acknowledge(interaction, update=True)  # the report and its chart take a while
            page = await self.render(interaction.client, interaction.locale, guild_id)
            await answer(interaction, **page)
        except Exception as error:
            await interaction.client.report_error(interaction, error)


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
    view.add_item(HistoryButton(max(0, offset - PAGE), member, kind, "◀", disabled=offset == 0))
    view.add_item(HistoryButton(offset + PAGE, member, kind, "▶", disabled=offset + PAGE >= total))
    return {"embed": embed, "view": view}


class HistoryButton(
    PageButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"atelier:hist:(?P<offset>[0-9]{{1,9}}):(?P<member>{SNOWFLAKE}):(?P<kind>{KIND})",
):
    """The page, member and kind filter live in the custom_id."""

    def __init__(
        self, offset: int, member: int, kind: str, label: str = "▶", disabled: bool = False
    ):
        super().__init__(arrow(f"atelier:hist:{offset}:{member}:{kind}", label, disabled))
        self.offset, self.member, self.kind = offset, member, kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> HistoryButton:
        return cls(int(match["offset"]), int(match["member"]), match["kind"])

    async def render(self, bot: AtelierBot, locale: Any, guild_id: int) -> dict[str, Any]:
        return await history_page(bot, locale, guild_id, self.offset, self.member, self.kind)


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
    view.add_item(UsageButton(days, max(0, page - 1), "◀", disabled=page == 0))
    view.add_item(UsageButton(days, page + 1, "▶", disabled=page + 1 >= pages))
    file = discord.File(io.BytesIO(chart), "usage.png")
    return {"embed": embed, "view": view, "attachments": [file]}


class UsageButton(
    PageButton,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"atelier:usage:(?P<days>7|30):(?P<page>[0-9]{1,4})",
):
    """The period and the page live in the custom_id."""

    def __init__(self, days: int, page: int, label: str = "▶", disabled: bool = False):
        super().__init__(arrow(f"atelier:usage:{days}:{page}", label, disabled))
        self.days, self.page = days, page

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> UsageButton:
        return cls(int(match["days"]), int(match["page"]))

    async def render(self, bot: AtelierBot, locale: Any, guild_id: int) -> dict[str, Any]:
        return await usage_page(bot, locale, guild_id, self.days, self.page)
