"""The Bot: holds the services, loads the cogs, and turns every error into one kind of reply."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.endpoints import use_discord_endpoints
from bot.errors import AtelierError, NotInGuild
from bot.i18n import CatalogTranslator
from bot.services import Services

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.credit",
    "cogs.admin",
    "cogs.gpt",
    "cogs.gpts",
    "cogs.imagine",
)


class AtelierTree(app_commands.CommandTree["AtelierBot"]):
    async def on_error(
        self, interaction: discord.Interaction[AtelierBot], error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        await interaction.client.report_error(interaction, original)


class AtelierBot(commands.Bot):
    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        **options: Any,
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = True  # thread conversations read members' replies
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("http_trace", services.traffic.trace_config)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=AtelierTree,
            help_command=None,
            **options,
        )
        self.services = services
        self.extension_names = tuple(extensions)

    async def login(self, token: str) -> None:
        discord_cfg = self.services.config.discord
        use_discord_endpoints(discord_cfg.api_base, discord_cfg.gateway_url)
        await super().login(token)

    async def setup_hook(self) -> None:
        await self.tree.set_translator(CatalogTranslator(self.services.catalog))
        for name in self.extension_names:
            await self.load_extension(name)
        await self.sync_commands()
        # After the cogs registered their presenters: resumed jobs are delivered through them.
        await self.services.jobs.start()

    async def close(self) -> None:
        await self.services.jobs.stop()
        await super().close()

    async def sync_commands(self) -> None:
        guild_ids = self.services.config.discord.sync_guild_ids
        if not guild_ids:
            await self.tree.sync()
            return
        for guild_id in guild_ids:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)

    async def report_error(self, interaction: discord.Interaction[Any], error: Exception) -> None:
        """The one place an error becomes a reply; unexpected ones are logged with context."""
        if not isinstance(error, AtelierError | app_commands.CheckFailure):
            command = interaction.command.qualified_name if interaction.command else None
            log.error(
                "unhandled error guild=%s user=%s command=%s",
                interaction.guild_id,
                interaction.user.id,
                command,
                exc_info=error,
            )
        text = self.services.catalog.error(interaction.locale, error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True)
            else:
                await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not deliver an error message to interaction %s", interaction.id)


def require_guild(interaction: discord.Interaction[Any]) -> int:
    """The paying guild of an interaction; a DM has none."""
    if interaction.guild_id is None:
        raise NotInGuild("command used outside a guild")
    return interaction.guild_id


def role_ids(user: discord.abc.User) -> tuple[int, ...]:
    """The member's role ids (daily caps can be set per role); none outside a guild."""
    roles = getattr(user, "roles", None) or []
    return tuple(role.id for role in roles)
