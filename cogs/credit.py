"""/credit: the guild's credit as members see it, and the controls admins and operators use."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import acknowledge, answer
from bot.amounts import MAX_BALANCE, check_guild_id
from bot.app import AtelierBot, require_guild, role_ids
from bot.config import Config
from bot.errors import NotAGuildId, NotOperator
from bot.i18n import cmd
from bot.reports import Reports
from bot.video_pricing import rule_text
from cogs.credit_pages import (
    HISTORY,
    SNOWFLAKE,
    USAGE,
    history_page,
    require_manage_guild,
    usage_page,
)

log = logging.getLogger(__name__)


def parse_guild_id(value: str) -> int:
    """A server id an operator typed or pasted; anything else is refused, never guessed."""
    text = value.strip()
    if re.fullmatch(SNOWFLAKE, text):
        with contextlib.suppress(NotAGuildId):
            return check_guild_id(int(text))
    raise NotAGuildId(f"not a guild id: {value!r}", value=value[:40].replace("`", "'"))


def require_operator(interaction: discord.Interaction[AtelierBot]) -> None:
    if interaction.user.id not in interaction.client.services.config.discord.owner_ids:
        raise NotOperator(f"user {interaction.user.id} is not an operator")


def image_prices(config: Config) -> list[str]:
    """What one /imagine costs with each model, as the command charges it."""
    pricing = config.pricing
    lines = []
    for model in config.image.models:
        if model.adapter == "midjourney":
            price = pricing.action_price("mj_imagine")
        else:
            price = model.price if model.price is not None else pricing.action_price("image")
        lines.append(f"`{model.name}` — {price:,}")
    return lines


def video_prices(config: Config) -> list[str]:
    """What one /video costs with each model, for each length it offers."""
    action_price = config.pricing.action_price
    return [
        f"`{m.name}` — "
        + (
            " · ".join(f"{d} s: {m.cost(d, action_price(m.price_key)):,}" for d in m.durations)
            if not m.prices
            else "; ".join(rule_text(rule) for rule in m.prices)  # the first that matches
        )
        for m in config.video.models
    ]


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
        self.bot.add_dynamic_items(HISTORY.item, USAGE.item)
        self.services.spending.on_low_balance = self.post_low_balance

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(HISTORY.item, USAGE.item)
        self.services.spending.on_low_balance = None

    def t(self, interaction: discord.Interaction[Any], key: str, **params: Any) -> str:
        return self.services.catalog.t(interaction.locale, key, **params)

    async def _managed(self, interaction: discord.Interaction[AtelierBot]) -> int:
        """A Manage Server command's checks, then its acknowledgement; the guild it acts on."""
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await acknowledge(interaction)
        return guild_id

    async def _confirm(
        self, interaction: discord.Interaction[AtelierBot], key: str, **params: Any
    ) -> None:
        await answer(interaction, content=self.t(interaction, key, **params))

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
        embed.add_field(name="/imagine", value="\n".join(image_prices(self.services.config))[:1024])
        embed.add_field(name="/video", value="\n".join(video_prices(self.services.config))[:1024])
        embed.add_field(
            name=self.t(interaction, "credit.media"), value="\n".join(actions)[:1024], inline=False
        )
        audio = self.services.config.audio
        speech = self.t(interaction, "speech.price", price=audio.speech_price_per_1k_chars)
        embed.add_field(name="/speak", value=f"`{audio.speech_model}` — {speech}", inline=False)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(
        name=cmd("history", "credit.history.name"),
        description=cmd("The ledger, newest first (Manage Server)", "credit.history.description"),
    )
    @app_commands.describe(
        member=cmd("Only this member's rows", "credit.history.member"),
        kind=cmd("Only rows of this kind", "credit.history.kind"),
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
        page = await history_page(self.bot, interaction.locale, guild_id, 0, member_id, kind or "")
        await interaction.response.send_message(ephemeral=True, **page)

    @app_commands.command(
        name=cmd("usage", "credit.usage.name"),
        description=cmd(
            "Spend by member, command and model (Manage Server)", "credit.usage.description"
        ),
    )
    @app_commands.describe(days=cmd("How many days back to count", "credit.usage.days"))
    async def usage(
        self, interaction: discord.Interaction[AtelierBot], days: Literal[7, 30] = 7
    ) -> None:
        guild_id = await self._managed(interaction)  # the report and the chart take a while
        page = await usage_page(self.bot, interaction.locale, guild_id, days, 0)
        await answer(interaction, **page)

    @app_commands.command(
        name=cmd("grant", "credit.grant.name"),
        description=cmd("Add credit to a server (bot operators)", "credit.grant.description"),
    )
    @app_commands.describe(
        amount=cmd("Credits to add", "credit.grant.amount"),
        note=cmd("Why the credit was added, kept in the ledger", "credit.grant.note"),
        guild_id=cmd("Another server's ID (default: this server)", "credit.grant.guild_id"),
    )
    async def grant(
        self,
        interaction: discord.Interaction[AtelierBot],
        amount: app_commands.Range[int, 1, MAX_BALANCE],
        note: app_commands.Range[str, 0, 200] | None = None,
        guild_id: str | None = None,
    ) -> None:
        require_operator(interaction)
        target = parse_guild_id(guild_id) if guild_id is not None else require_guild(interaction)
        await acknowledge(interaction)  # the grant waits for the database writer
        balance = await self.services.ledger.grant(
            target,
            amount,
            key=f"interaction:{interaction.id}",
            user_id=interaction.user.id,
            note=note or f"granted by {interaction.user}",
        )
        self.services.spending.balance_changed(target)
        await answer(
            interaction,
            content=self.t(
                interaction,
                "credit.granted",
                amount=f"{amount:,}",
                guild=target,
                balance=f"{balance:,}",
            ),
        )

    @app_commands.command(
        name=cmd("set", "credit.set.name"),
        description=cmd("Set this server's balance (bot operators)", "credit.set.description"),
    )
    @app_commands.describe(amount=cmd("The new balance in credits", "credit.set.amount"))
    async def set_balance(
        self,
        interaction: discord.Interaction[AtelierBot],
        amount: app_commands.Range[int, 0, MAX_BALANCE],
    ) -> None:
        require_operator(interaction)
        guild_id = require_guild(interaction)
        await acknowledge(interaction)
        balance = await self.services.ledger.set_balance(
            guild_id,
            amount,
            key=f"interaction:{interaction.id}",
            user_id=interaction.user.id,
            note=f"balance set to {amount} by {interaction.user}",
        )
        self.services.spending.balance_changed(guild_id)
        await self._confirm(interaction, "credit.balance_set", balance=f"{balance:,}")

    @app_commands.command(
        name=cmd("limit", "credit.limit.name"),
        description=cmd(
            "Daily cap for a member or a role (Manage Server)", "credit.limit.description"
        ),
    )
    @app_commands.describe(
        target=cmd("The member or role to cap", "credit.limit.target"),
        amount=cmd("Most credits per day", "credit.limit.amount"),
    )
    async def limit(
        self,
        interaction: discord.Interaction[AtelierBot],
        target: discord.Member | discord.Role,
        amount: app_commands.Range[int, 0, 10**9],
    ) -> None:
        guild_id = await self._managed(interaction)
        kind = "role" if isinstance(target, discord.Role) else "member"
        await self.services.policies.set_limit(guild_id, kind, target.id, amount)
        await self._confirm(
            interaction, "credit.limit_set", target=target.mention, amount=f"{amount:,}"
        )

    @app_commands.command(
        name=cmd("limit-clear", "credit.limit_clear.name"),
        description=cmd("Remove daily caps (Manage Server)", "credit.limit_clear.description"),
    )
    @app_commands.describe(
        target=cmd(
            "Only this member's or role's cap (default: every cap)", "credit.limit_clear.target"
        )
    )
    async def limit_clear(
        self,
        interaction: discord.Interaction[AtelierBot],
        target: discord.Member | discord.Role | None = None,
    ) -> None:
        guild_id = await self._managed(interaction)
        removed = await self.services.policies.clear_limits(guild_id, target.id if target else None)
        await self._confirm(interaction, "credit.limits_cleared", count=removed)

    @app_commands.command(
        name=cmd("cooldown", "credit.cooldown.name"),
        description=cmd(
            "Seconds between uses of a paid command (Manage Server)", "credit.cooldown.description"
        ),
    )
    @app_commands.describe(
        command=cmd("The paid command to slow down", "credit.cooldown.command"),
        seconds=cmd("Seconds a member waits between uses (0 = none)", "credit.cooldown.seconds"),
    )
    async def cooldown(
        self,
        interaction: discord.Interaction[AtelierBot],
        command: Literal["gpt", "imagine", "song", "video", "speak"],
        seconds: app_commands.Range[int, 0, 86400],
    ) -> None:
        guild_id = await self._managed(interaction)
        await self.services.policies.set_cooldown(guild_id, command, seconds)
        await self._confirm(interaction, "credit.cooldown_set", command=command, seconds=seconds)

    @app_commands.command(
        name=cmd("alert", "credit.alert.name"),
        description=cmd(
            "Post a notice when the balance runs low (Manage Server)", "credit.alert.description"
        ),
    )
    @app_commands.describe(
        channel=cmd("Where to post the notice", "credit.alert.channel"),
        threshold=cmd(
            "Post when the balance falls below this many credits", "credit.alert.threshold"
        ),
    )
    async def alert(
        self,
        interaction: discord.Interaction[AtelierBot],
        channel: discord.TextChannel,
        threshold: app_commands.Range[int, 1, 10**9],
    ) -> None:
        guild_id = await self._managed(interaction)
        await self.services.policies.set_alert(guild_id, channel.id, threshold)
        await self._confirm(
            interaction, "credit.alert_set", channel=channel.mention, threshold=f"{threshold:,}"
        )
        await self.services.spending.alert_changed(guild_id)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Credit(bot))
