"""The Bot: holds the services, loads the cogs, and turns every error into one kind of reply."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import answer_privately
from bot.command_sync import sync_commands
from bot.endpoints import use_discord_endpoints
from bot.errors import AtelierError, BadSetting, NotInGuild, ServiceUnreachable
from bot.i18n import CatalogTranslator
from bot.log_setup import bind
from bot.services import Services

log = logging.getLogger(__name__)

EXTENSIONS: tuple[str, ...] = (
    "cogs.credit",
    "cogs.admin",
    "cogs.gpt",
    "cogs.gpts",
    "cogs.imagine",
    "cogs.imagine_command",
    "cogs.song",
    "cogs.video",
    "cogs.jobs",
    "cogs.shorten",
    "cogs.speech",
    "cogs.animate",
    "cogs.swapface",
)


async def admit(interaction: discord.Interaction[AtelierBot]) -> bool:
    """Every interaction's first step: slash commands (``AtelierTree``), buttons and modals
    (``Admitted``). Tags the task's log lines with its ids; while the bot drains for a
    shutdown, answers "restarting" and refuses, so nothing new is held or started."""
    # Runs in the task that handles this interaction: its log lines carry these ids.
    bind(
        guild=interaction.guild_id,
        member=interaction.user.id,
        command=_command_name(interaction),
    )
    bot = interaction.client
    if bot.draining and interaction.type is not discord.InteractionType.autocomplete:
        text = bot.services.catalog.t(interaction.locale, "error.restarting")
        await interaction.response.send_message(text, ephemeral=True)
        return False
    return True


# Every persistent button's custom_id starts with this (``atelier:mj:<job>:<index>``, …).
CUSTOM_ID_PREFIX = "atelier:"


class AtelierTree(app_commands.CommandTree["AtelierBot"]):
    async def interaction_check(self, interaction: discord.Interaction[AtelierBot]) -> bool:
        return await admit(interaction)

    async def on_error(
        self, interaction: discord.Interaction[AtelierBot], error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        await interaction.client.report_error(interaction, original)


class Admitted:
    """Mixed into every button (``DynamicItem``) and modal of the cogs, first among the bases.

    discord.py has no bot-wide check for components: each item's and modal's
    ``interaction_check`` is what runs before its callback, so this one routes them all
    through ``admit``. A class with a rule of its own overrides ``allows``, never
    ``interaction_check``; ``tests/test_draining.py`` fails for a cog class that bypasses it.
    """

    async def interaction_check(self, interaction: discord.Interaction[AtelierBot], /) -> bool:
        return await admit(interaction) and await self.allows(interaction)

    async def allows(self, interaction: discord.Interaction[Any]) -> bool:
        """The class's own rule (who may submit it, say); runs once ``admit`` let it through."""
        return True


def _command_name(interaction: discord.Interaction[Any]) -> str | None:
    if interaction.command is not None:
        return interaction.command.qualified_name
    data = interaction.data or {}
    return str(data.get("name") or data.get("custom_id") or "") or None


class Activity:
    """Counts work that must finish before a graceful shutdown (streaming answers)."""

    def __init__(self) -> None:
        self.running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: list[asyncio.Task[Any]] = []

    @contextlib.asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.append(task)
        self.running += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.running -= 1
            if task is not None:
                self._tasks.remove(task)
            if self.running == 0:
                self._idle.set()

    async def cancel(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Stop the work still running once the grace is over, before the sessions close under
        it: cut off mid-way, an answer neither settles nor refunds, and its hold is left to
        the orphan sweep (``JobEngine.refund_orphaned_holds``) of a later start."""
        tasks = list(dict.fromkeys(self._tasks))
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def wait_idle(self, timeout: float) -> bool:  # noqa: ASYNC109
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class AtelierBot(commands.AutoShardedBot):
    """Sharded even with one shard, so several processes can split the guilds (shard_ids)."""

    def __init__(
        self,
        services: Services,
        *,
        extensions: Sequence[str] = EXTENSIONS,
        **options: Any,
    ) -> None:
        # The bot uses no voice: discord.py's warnings that voice libraries are missing would
        # only make an admin wonder what to install.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.default()
        intents.message_content = True  # thread conversations read members' replies
        options.setdefault("allowed_mentions", discord.AllowedMentions.none())
        options.setdefault("http_trace", services.traffic.trace_config)
        discord_config = services.config.discord
        options.setdefault("shard_count", discord_config.shard_count)
        options.setdefault("shard_ids", list(discord_config.shard_ids) or None)
        options.setdefault("shard_connect_timeout", discord_config.connect_timeout)
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            tree_cls=AtelierTree,
            help_command=None,
            **options,
        )
        self.services = services
        self.extension_names = tuple(extensions)
        self.work = Activity()
        self.draining = False
        # Set once every shard of this process has reached the gateway: from then on a signal
        # drains (``shutdown``); before, it just abandons the start.
        self.gateway_connected = False
        # The templates of our persistent buttons, to tell a stale or forged id of ours apart.
        self._button_templates: dict[type, re.Pattern[str]] = {}

    async def login(self, token: str) -> None:
        discord_cfg = self.services.config.discord
        use_discord_endpoints(discord_cfg.api_base, discord_cfg.gateway_url)
        await super().login(token)

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        """discord.py retries a shard's first connection every 5 s for ever; give up after
        ``discord.startup_timeout`` instead, so an unreachable gateway is said and ends."""
        discord_cfg = self.services.config.discord
        bound = max(discord_cfg.startup_timeout, discord_cfg.connect_timeout)
        log.info("connecting shard %d to the Discord gateway at %s", shard_id, gateway)
        try:
            async with asyncio.timeout(bound):
                await super().launch_shard(gateway, shard_id, initial=initial)
        except TimeoutError:
            raise ServiceUnreachable(
                f"cannot connect to the Discord gateway at {gateway} within {bound:g} s; "
                "check the network, or discord.gateway_url if you use a proxy"
            ) from None

    async def launch_shards(self) -> None:
        await super().launch_shards()
        self.gateway_connected = True

    async def setup_hook(self) -> None:
        # In the background: until it answers, every family counts as served (or as pinned).
        self.services.capabilities.start()
        await self.tree.set_translator(CatalogTranslator(self.services.catalog))
        for name in self.extension_names:
            await self.load_extension(name)
        await self.sync_commands()
        # After the cogs registered their presenters: resumed jobs are delivered through them.
        await self.services.jobs.start()
        listen = self.services.config.metrics.listen
        if listen:
            try:
                await self.services.metrics.serve(listen, self.services.db, self.is_ready)
            except OSError as exc:  # the port is taken, or the address is not this host's
                raise BadSetting(
                    f"metrics.listen: cannot listen on {listen}: {exc.strerror or exc}; choose "
                    "a free host:port or leave it empty"
                ) from exc

    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: Any
    ) -> None:
        log.info("command %s done", command.qualified_name)
        self.services.metrics.command_done(
            command.qualified_name, "ok", interaction.created_at.timestamp()
        )

    async def shutdown(self) -> None:
        """Graceful stop: refuse new commands, let answers finish (bounded), keep jobs for later.

        Jobs need nothing: they live in the database and the next start resumes them. An answer
        still running when ``runtime.shutdown_grace`` is over is cut off; its hold is refunded
        by the orphan sweep once no answer could still own it.
        """
        if self.draining:
            return
        self.draining = True
        grace = self.services.config.runtime.shutdown_grace
        log.info("shutting down: waiting up to %gs for %d answers", grace, self.work.running)
        if not await self.work.wait_idle(grace):
            log.warning("%d answers still running after %gs; cut off", self.work.running, grace)
            await self.work.cancel()
        await self.close()

    async def close(self) -> None:
        self.draining = True
        await self.services.capabilities.stop()
        await self.services.jobs.stop()
        await self.services.background.close()
        await self.services.metrics.close()
        await super().close()

    def add_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        super().add_dynamic_items(*items)
        for item in items:
            self._button_templates[item] = item.__discord_ui_compiled_template__

    def remove_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        super().remove_dynamic_items(*items)
        for item in items:
            self._button_templates.pop(item, None)

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        """Answer a press of a button of ours that no handler takes: its id has our prefix but
        fits none of our templates (an old format, or forged). discord.py drops such a press
        silently and the member would see "This interaction failed"; say so privately instead.

        Ids without our prefix are left alone: they may belong to a live, non-persistent View
        (discord.py gives those random ids), which answers them itself.
        """
        if interaction.type is not discord.InteractionType.component:
            return
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if not custom_id.startswith(CUSTOM_ID_PREFIX) or any(
            template.fullmatch(custom_id) for template in self._button_templates.values()
        ):
            return
        log.info("a button with an id no handler takes: %r", custom_id[:100])
        text = self.services.catalog.t(interaction.locale, "error.stale_button")
        try:
            await interaction.response.send_message(text, ephemeral=True)
        except discord.HTTPException:
            log.warning("could not answer the stale button of interaction %s", interaction.id)

    async def sync_commands(self) -> None:
        await sync_commands(self.tree, self.services.config.discord.sync_guild_ids)

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
        name = _command_name(interaction) or "?"
        outcome = (
            "refused" if isinstance(error, AtelierError | app_commands.CheckFailure) else "failed"
        )
        self.services.metrics.command_done(name, outcome, interaction.created_at.timestamp())
        text = self.services.catalog.error(interaction.locale, error)
        try:
            await answer_privately(interaction, text)
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
