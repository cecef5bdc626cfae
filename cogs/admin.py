"""/admin: the upstream account (operators) and prompt moderation (server admins)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import acknowledge, answer
from bot.app import AtelierBot, require_guild
from bot.errors import UpstreamError
from bot.i18n import cmd
from bot.upstream import UpstreamBalance
from cogs.credit import require_manage_guild, require_operator

log = logging.getLogger(__name__)


@app_commands.guild_only()
class Admin(
    commands.GroupCog,
    group_name=cmd("admin", "admin.name"),
    group_description=cmd("Bot administration", "admin.description"),
):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services
        self._watch: asyncio.Task[None] | None = None
        self._alerted = False

    async def cog_load(self) -> None:
        self.services.spending.on_flagged = self.log_flagged
        discord_config = self.services.config.discord
        # Every shard process shares the one upstream account: the process with shard 0 (each
        # deployment has exactly one) watches it, so operators get one DM, not one per process.
        owns_shard_zero = not discord_config.shard_ids or 0 in discord_config.shard_ids
        if self.services.config.admin.upstream_alert_usd > 0 and owns_shard_zero:
            self._watch = asyncio.create_task(self._watch_upstream(), name="upstream-balance")

    async def cog_unload(self) -> None:
        self.services.spending.on_flagged = None
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

    def t(self, locale: Any, key: str, **params: Any) -> str:
        return self.services.catalog.t(locale, key, **params)

    async def log_flagged(
        self, guild_id: int, channel_id: int, user_id: int, prompt: str, categories: list[str]
    ) -> None:
        """Tell the guild's admins in their log channel, when they chose one."""
        policies = await self.services.policies.get(guild_id)
        if policies.log_channel_id is None:
            log.info("flagged prompt in guild %s by %s: %s", guild_id, user_id, categories)
            return
        guild = self.bot.get_guild(guild_id)
        text = self.t(
            guild.preferred_locale if guild else None,
            "admin.flagged_log",
            user=f"<@{user_id}>",
            channel=f"<#{channel_id}>",
            categories=", ".join(categories),
            prompt=prompt[:1500].replace("`", "'"),
        )
        try:
            await self.bot.get_partial_messageable(policies.log_channel_id).send(text)
        except discord.HTTPException as exc:
            log.warning("could not post to the moderation log of guild %s: %s", guild_id, exc)

    def describe_balance(self, locale: Any, balance: UpstreamBalance) -> str:
        """The balance in the gateway's own unit ($, ¥ or tokens), never assumed dollars."""
        tokens = self.t(locale, "gateways.tokens")

        def shown(amount: float) -> str:
            return balance.unit.format(amount, tokens)

        if balance.unlimited:
            return self.t(locale, "admin.upstream_unlimited", used=shown(balance.used))
        return self.t(
            locale,
            "admin.upstream_balance",
            remaining=shown(balance.remaining),
            used=shown(balance.used),
            limit=shown(balance.hard_limit),
        )

    @app_commands.command(
        name=cmd("upstream", "admin.upstream.name"),
        description=cmd(
            "The upstream account's balance (bot operators)", "admin.upstream.description"
        ),
    )
    async def upstream(self, interaction: discord.Interaction[AtelierBot]) -> None:
        require_operator(interaction)
        await acknowledge(interaction)
        balance = await self.services.billing.balance()
        await answer(interaction, content=self.describe_balance(interaction.locale, balance))

    @app_commands.command(
        name=cmd("moderation", "admin.moderation.name"),
        description=cmd(
            "Check every prompt with the moderation service (Manage Server)",
            "admin.moderation.description",
        ),
    )
    @app_commands.describe(
        enabled=cmd("Turn moderation on or off", "admin.moderation.enabled"),
        log_channel=cmd("Where to log refused prompts (optional)", "admin.moderation.log_channel"),
    )
    async def moderation(
        self,
        interaction: discord.Interaction[AtelierBot],
        enabled: bool,
        log_channel: discord.TextChannel | None = None,
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await acknowledge(interaction)
        await self.services.policies.set_moderation(
            guild_id, enabled, log_channel.id if log_channel else None
        )
        key = "admin.moderation_on" if enabled else "admin.moderation_off"
        await answer(interaction, content=self.t(interaction.locale, key))

    @app_commands.command(
        name=cmd("reasoning", "admin.reasoning.name"),
        description=cmd(
            "What members see of a reasoning model's thinking (Manage Server)",
            "admin.reasoning.description",
        ),
    )
    @app_commands.describe(
        mode=cmd(
            "collapsed: a button; shown: above the answer; off: nothing", "admin.reasoning.mode"
        ),
    )
    async def reasoning(
        self,
        interaction: discord.Interaction[AtelierBot],
        mode: Literal["collapsed", "shown", "off"],
    ) -> None:
        require_manage_guild(interaction)
        guild_id = require_guild(interaction)
        await acknowledge(interaction)
        await self.services.policies.set_reasoning_mode(guild_id, mode)
        await answer(interaction, content=self.t(interaction.locale, f"reasoning.mode_{mode}"))

    async def _watch_upstream(self) -> None:
        """DM the operators once when the upstream balance falls below the configured amount."""
        config = self.services.config.admin
        await self.bot.wait_until_ready()
        while True:
            try:
                balance = await self.services.billing.balance()
                # The threshold is configured in dollars; the balance is in the site's unit.
                low = balance.below(config.upstream_alert_usd)
                if low and not self._alerted:
                    await self._alert_operators(balance)
                self._alerted = low
            except UpstreamError as exc:
                log.warning("upstream balance check failed: %s", exc)
            await asyncio.sleep(config.upstream_check_minutes * 60)

    async def _alert_operators(self, balance: UpstreamBalance) -> None:
        threshold = self.services.config.admin.upstream_alert_usd
        for owner_id in self.services.config.discord.owner_ids:
            text = self.t(
                None,
                "admin.upstream_low",
                remaining=balance.unit.format(balance.remaining),
                threshold=balance.unit.format(balance.unit.from_usd(threshold)),
            )
            try:
                user = await self.bot.fetch_user(owner_id)
                await user.send(text)
            except discord.HTTPException as exc:
                log.warning("could not DM operator %s: %s", owner_id, exc)


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Admin(bot))
