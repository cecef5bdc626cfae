"""Both sandboxes, a database file and the real bot wired to them: one harness for tests and demo.

The bot reaches the sandboxes only through its ordinary configuration (``discord.api_base``,
``discord.gateway_url``, ``upstream.base_url``); nothing in the bot knows it is in a sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.app import EXTENSIONS, AtelierBot
from bot.config import Config, parse_config
from bot.db import Database
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from bot.services import Services, open_services

READY_TIMEOUT = 15.0
# Set to "postgres" to give every world its own PostgreSQL database instead of a SQLite file.
POSTGRES_SWITCH = "ATELIER_SANDBOX_DATABASE"
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class SandboxWorld:
    """Start with ``async with SandboxWorld() as world``; ``world.restart_bot()`` keeps the data."""

    def __init__(
        self,
        *,
        database_url: str | None = None,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        extensions: Sequence[str] = EXTENSIONS,
        discord_options: Mapping[str, Any] | None = None,
        guild_locale: str = "en-US",
        upstream_profile: str = "union",
    ) -> None:
        self.discord = DiscordSandbox(**dict(discord_options or {}))
        # Which gateway the upstream sandbox plays (bot/sandbox/upstream/profiles.py).
        self.upstream = UpstreamSandbox(profile=upstream_profile)
        self._database_url = database_url
        self._config_overrides = {k: dict(v) for k, v in (config or {}).items()}
        self._extensions = tuple(extensions)
        self._guild_locale = guild_locale
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._postgres_name: str | None = None
        self._stack: contextlib.AsyncExitStack | None = None
        self._task: asyncio.Task[None] | None = None
        self.bot: AtelierBot | None = None
        self.services: Services | None = None
        self.config: Config | None = None

    async def __aenter__(self) -> SandboxWorld:
        await self.discord.start()
        await self.upstream.start()
        guild = self.discord.add_guild(name="Atelier Sandbox", locale=self._guild_locale)
        self.guild_id: int = guild.id
        self.channel_id: int = guild.default_channel_id
        self.owner_id: int = guild.owner_id
        if self._database_url is None and os.environ.get(POSTGRES_SWITCH) == "postgres":
            self._database_url = await self._create_postgres_database()
        if self._database_url is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="atelier-")
            self._database_url = f"sqlite+aiosqlite:///{Path(self._tmp.name) / 'atelier.db'}"
        self.config = self._build_config()
        await self.start_bot()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop_bot()
        await self.upstream.close()
        await self.discord.close()
        if self._tmp is not None:
            self._tmp.cleanup()
        if self._postgres_name is not None:
            await self._drop_postgres_database()

    async def _admin(self, statement: str) -> None:
        admin = Database(self._postgres_base())
        try:
            async with admin.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.exec_driver_sql(statement)
        finally:
            await admin.close()

    @staticmethod
    def _postgres_base() -> str:
        return os.environ.get("ATELIER_TEST_POSTGRES_URL", DEFAULT_POSTGRES)

    async def _create_postgres_database(self) -> str:
        """A fresh PostgreSQL database per world, for running the end-to-end suite on it."""
        self._postgres_name = f"atelier_world_{uuid.uuid4().hex[:12]}"
        await self._admin(f"CREATE DATABASE {self._postgres_name}")
        return f"{self._postgres_base().rsplit('/', 1)[0]}/{self._postgres_name}"

    async def _drop_postgres_database(self) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS {self._postgres_name} WITH (FORCE)")

    def _build_config(self) -> Config:
        overrides: dict[str, dict[str, Any]] = {
            "discord": {
                "token": self.discord.token,
                "api_base": self.discord.api_base,
                "gateway_url": self.discord.gateway_url,
                "owner_ids": [self.owner_id],
                "sync_guild_ids": [self.guild_id],
            },
            "upstream": {
                "base_url": self.upstream.base_url,
                "api_key": self.upstream.api_key,
                "read_timeout": 10.0,
            },
            "database": {"url": self._database_url},
        }
        for section, values in self._config_overrides.items():
            overrides.setdefault(section, {}).update(values)
        return parse_config({}, env={}, overrides=overrides)

    async def start_bot(self) -> AtelierBot:
        """Start the real bot against the sandboxes and wait until it is ready."""
        assert self.config is not None
        self._stack = contextlib.AsyncExitStack()
        self.services = await self._stack.enter_async_context(open_services(self.config))
        self.bot = AtelierBot(self.services, extensions=self._extensions, guild_ready_timeout=0.1)
        self._task = asyncio.create_task(
            self.bot.start(self.config.discord.token.get_secret_value())
        )
        deadline = asyncio.get_running_loop().time() + READY_TIMEOUT
        # bot.wait_until_ready() raises before start() has begun, so poll and watch the task.
        while not self.bot.is_ready():
            if self._task.done():
                self._task.result()
                raise RuntimeError("the bot stopped before it was ready")
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the bot did not become ready")
            await asyncio.sleep(0.01)
        # What the gateway serves is found in the background; a test starts once it is known,
        # so that its own scripted answers (injections) are not taken by a probe.
        await self.services.capabilities.wait_discovered(READY_TIMEOUT)
        return self.bot

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._stack is not None:
            await self._stack.aclose()
        self.bot = self._task = self._stack = None

    async def restart_bot(self) -> AtelierBot:
        await self.stop_bot()
        return await self.start_bot()

    def add_member(self, username: str, *, locale: str = "en-US", **options: Any) -> int:
        return self.discord.add_member(self.guild_id, username, locale=locale, **options)
