"""/credit: the guild's credit as members see it, and the controls admins and operators use."""

from __future__ import annotations

import io
import logging
import re
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.app import AtelierBot, require_guild, role_ids
from bot.charts import daily_spend_png
from bot.errors import AtelierError, NotOperator
from bot.i18n import cmd
from bot.reports import Reports

log = logging.getLogger(__name__)

PAGE = 10
COMMANDS = ("gpt", "imagine", "song", "video")
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


def require_operator(interaction: discord.Interaction[AtelierBot]) -> None:
    if interaction.user.id not in interaction.client.services.config.discord.owner_ids:
        raise NotOperator(f"user {interaction.user.id} is not an operator")


def history_page(
    bot: AtelierBot, locale: Any, lines: list[Any], total: int, offset: int, member: int, kind: str
) -> dict[str, Any]:
    catalog = bot.services.catalog
    embed = discord.Embed(title=catalog.t(locale, "credit.history_title"), colour=0x5865F2)
    rows = [
        f"`{line.created_at:%m-%d %H:%M}` {f'<@{line.user_id}>' if line.user_id else '—'} "
        f"**{line.kind}** {line.amount:+,} · {line.command or line.note or ''} · `{line.key[:40]}`"
        for line in lines
    ]
    embed.description = "\n".join(rows) or catalog.t(locale, "credit.history_empty")
    pages = max(1, -(-total // PAGE))
    embed.set_footer(text=catalog.t(locale, "gpts.page", page=offset // PAGE + 1, pages=pages))
    view = discord.ui.View(timeout=None)
    view.add_item(HistoryButton(max(0, offset - PAGE), member, kind, "◀", disabled=offset == 0))
    view.add_item(HistoryButton(offset + PAGE, member, kind, "▶", disabled=offset + PAGE >= total))
    return {"embed": embed, "view": view}


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=rf"atelier:hist:(?P<offset>[0-9]{{1,9}}):(?P<member>{SNOWFLAKE}):(?P<kind>{KIND})",
):
    """Persistent pagination; the page, member and kind filter live in the custom_id."""

    def __init__(
        self, offset: int, member: int, kind: str, label: str = "▶", disabled: bool = False
    ):
        super().__init__(
            discord.ui.Button(
                label=label,
                disabled=disabled,
                style=discord.ButtonStyle.secondary,
                custom_id=f"atelier:hist:{offset}:{member}:{kind}",
            )
        )
        self.offset, self.member, self.kind = offset, member, kind

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> HistoryButton:
        return cls(int(match["offset"]), int(match["member"]), match["kind"])

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        try:
            require_manage_guild(interaction)
            guild_id = require_guild(interaction)
            lines, total = await Reports(interaction.client.services.db).history(
                guild_id,
                user_id=self.member or None,
                kind=self.kind or None,
                offset=self.offset,
                limit=PAGE,
            )
            page = history_page(
                interaction.client,
                interaction.locale,
                lines,
                total,
                self.offset,
                self.member,
                self.kind,
            )
            await interaction.response.edit_message(**page)
        except Exception as error:
            await interaction.client.report_error(interaction, error)


@app_commands.guild_only()
class Credit(
    commands.GroupCog,
    group_name=cmd("credit", "credit.name"),
    group_description=cmd("Your server's credit", "credit.description"),
):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self.reports = Reports(bot.services.db)

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(HistoryButton)
        self.services.spending.on_low_balance = self.post_low_balance

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(HistoryButton)
        self.services.spending.on_low_balance = None

    def t(self, interaction: discord.Interaction[Any], key: str, **params: Any) -> str:
        return self.services.catalog.t(interaction.locale, key, **params)

    async def post_low_balance(
        self, guild_id: int, channel_id: int, balance: int, limit: int
    ) -> None:
        guild = self.bot.get_guild(guild_id)
        locale = guild.preferred_locale if guild else None
        text = self.services.catalog.t(
            locale, "credit.low_balance", balance=f"{balance:,}", threshold=f"{limit:,}"
        )
        try:
            await self.bot.get_partial_messageable(channel_id).send(text)
        except discord.HTTPException as exc:
            log.warning("could not post the low-balance notice in %s: %s", channel_id, exc)

    @app_commands.command(
        name=cmd("balance", "credit.balance.name"),
        description=cmd("Show this server's credit balance", "credit.balance.description"),
    )
    async def balance(self, interaction: discord.Interaction[AtelierBot]) -> None:
        guild_id = require_guild(interaction)
        balance = await self.services.ledger.balance(guild_id)
        today, month = await self.reports.member_spend(guild_id, interaction.user.id)
        lines = [
            self.t(interaction, "credit.balance", balance=f"{balance:,}"),
            self.t(interaction, "credit.your_spend", today=f"{today:,}", month=f"{month:,}"),
        ]
        async with self.services.db.read() as conn:
            cap = await self.services.spending.daily_cap(
                conn, guild_id, interaction.user.id, role_ids(interaction.user)
            )
        if cap is not None:
            left = max(0, cap - today)
            lines.append(self.t(interaction, "credit.allowance", left=f"{left:,}", cap=f"{cap:,}"))
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(
        name=cmd("prices", "credit.prices.name"),
        description=cmd("What each command costs", "credit.prices.description"),
    )
    async def prices(self, interaction: discord.Interaction[AtelierBot]) -> None:
        pricing = self.services.config.pricing
        chat = [
            f"`{rule.pattern}` — "
            + self.t(
                interaction,
                "credit.chat_price",
                call=rule.per_call,
                input=rule.per_1k_input,
                output=rule.per_1k_output,
            )
            for rule in pricing.chat
        ]
        actions = [f"`{name}` — {price:,}" for name, price in sorted(pricing.actions.items())]
        embed = discord.Embed(title=self.t(interaction, "credit.prices_title"), colour=0x5865F2)
        embed.add_field(name="/gpt", value="\n".join(chat)[:1024], inline=False)
        embed.add_field(
            name=self.t(interaction, "credit.media"), value="\n".join(actions)[:1024], inline=False
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name=cmd("history", "credit.history.name"),
        description=cmd("The ledger, newest first (Manage Server)", "credit.history.description"),
    )
    async def history(
        self,
        interaction: discord.Interaction[AtelierBot],
        member: discord.Member | None = None,
        kind: Literal["opening", "grant", "hold", "release", "refund"] | None = None,
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        member_id = member.id if member else 0
        lines, total = await self.reports.history(
            guild_id, user_id=member_id or None, kind=kind, limit=PAGE
        )
        page = history_page(self.bot, interaction.locale, lines, total, 0, member_id, kind or "")
        await interaction.response.send_message(ephemeral=True, **page)

    @app_commands.command(
        name=cmd("usage", "credit.usage.name"),
        description=cmd(
            "Spend by member, command and model (Manage Server)", "credit.usage.description"
        ),
    )
    async def usage(
        self, interaction: discord.Interaction[AtelierBot], days: Literal[7, 30] = 7
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        usage = await self.reports.usage(guild_id, days)

        def top(items: list[tuple[Any, int]], mention: bool = False) -> str:
            shown = [f"{f'<@{k}>' if mention and k else k} — {v:,}" for k, v in items[:10]]
            return "\n".join(shown) or "—"

        embed = discord.Embed(
            title=self.t(interaction, "credit.usage_title", days=days, total=f"{usage.total:,}"),
            colour=0x5865F2,
        )
        embed.add_field(
            name=self.t(interaction, "credit.by_member"), value=top(usage.by_member, True)
        )
        embed.add_field(name=self.t(interaction, "credit.by_command"), value=top(usage.by_command))
        embed.add_field(name=self.t(interaction, "credit.by_model"), value=top(usage.by_model))
        chart = daily_spend_png(usage.by_day, f"Credits spent per day, last {days} days")
        embed.set_image(url="attachment://usage.png")
        await interaction.followup.send(
            embed=embed, file=discord.File(io.BytesIO(chart), "usage.png"), ephemeral=True
        )

    @app_commands.command(
        name=cmd("grant", "credit.grant.name"),
        description=cmd("Add credit to a server (bot operators)", "credit.grant.description"),
    )
    async def grant(
        self,
        interaction: discord.Interaction[AtelierBot],
        amount: app_commands.Range[int, 1, 10**9],
        note: app_commands.Range[str, 0, 200] | None = None,
        guild_id: str | None = None,
    ) -> None:
        require_operator(interaction)
        target = int(guild_id) if guild_id and guild_id.isdigit() else require_guild(interaction)
        balance = await self.services.ledger.grant(
            target,
            amount,
            key=f"interaction:{interaction.id}",
            user_id=interaction.user.id,
            note=note or f"granted by {interaction.user}",
        )
        await self.services.spending.balance_changed(target)
        await interaction.response.send_message(
            self.t(
                interaction,
                "credit.granted",
                amount=f"{amount:,}",
                guild=target,
                balance=f"{balance:,}",
            ),
            ephemeral=True,
        )

    @app_commands.command(
        name=cmd("set", "credit.set.name"),
        description=cmd("Set this server's balance (bot operators)", "credit.set.description"),
    )
    async def set_balance(
        self,
        interaction: discord.Interaction[AtelierBot],
        amount: app_commands.Range[int, 0, 10**9],
    ) -> None:
        require_operator(interaction)
        guild_id = require_guild(interaction)
        current = await self.services.ledger.balance(guild_id)
        balance = await self.services.ledger.grant(
            guild_id,
            amount - current,
            key=f"interaction:{interaction.id}",
            user_id=interaction.user.id,
            note=f"balance set to {amount} by {interaction.user}",
        )
        await self.services.spending.balance_changed(guild_id)
        await interaction.response.send_message(
            self.t(interaction, "credit.balance_set", balance=f"{balance:,}"), ephemeral=True
        )

    @app_commands.command(
        name=cmd("limit", "credit.limit.name"),
        description=cmd(
            "Daily cap for a member or a role (Manage Server)", "credit.limit.description"
        ),
    )
    async def limit(
        self,
        interaction: discord.Interaction[AtelierBot],
        target: discord.Member | discord.Role,
        amount: app_commands.Range[int, 0, 10**9],
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        kind = "role" if isinstance(target, discord.Role) else "member"
        await self.services.policies.set_limit(guild_id, kind, target.id, amount)
        await interaction.response.send_message(
            self.t(interaction, "credit.limit_set", target=target.mention, amount=f"{amount:,}"),
            ephemeral=True,
        )

    @app_commands.command(
        name=cmd("limit-clear", "credit.limit_clear.name"),
        description=cmd("Remove daily caps (Manage Server)", "credit.limit_clear.description"),
    )
    async def limit_clear(
        self,
        interaction: discord.Interaction[AtelierBot],
        target: discord.Member | discord.Role | None = None,
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        removed = await self.services.policies.clear_limits(guild_id, target.id if target else None)
        await interaction.response.send_message(
            self.t(interaction, "credit.limits_cleared", count=removed), ephemeral=True
        )

    @app_commands.command(
        name=cmd("cooldown", "credit.cooldown.name"),
        description=cmd(
            "Seconds between uses of a paid command (Manage Server)", "credit.cooldown.description"
        ),
    )
    async def cooldown(
        self,
        interaction: discord.Interaction[AtelierBot],
        command: Literal["gpt", "imagine", "song", "video"],
        seconds: app_commands.Range[int, 0, 86400],
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await self.services.policies.set_cooldown(guild_id, command, seconds)
        await interaction.response.send_message(
            self.t(interaction, "credit.cooldown_set", command=command, seconds=seconds),
            ephemeral=True,
        )

    @app_commands.command(
        name=cmd("alert", "credit.alert.name"),
        description=cmd(
            "Post a notice when the balance runs low (Manage Server)", "credit.alert.description"
        ),
    )
    async def alert(
        self,
        interaction: discord.Interaction[AtelierBot],
        channel: discord.TextChannel,
        threshold: app_commands.Range[int, 1, 10**9],
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await self.services.policies.set_alert(guild_id, channel.id, threshold)
        await interaction.response.send_message(
            self.t(
                interaction, "credit.alert_set", channel=channel.mention, threshold=f"{threshold:,}"
            ),
            ephemeral=True,
        )
        await self.services.spending.balance_changed(guild_id)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Credit(bot))
