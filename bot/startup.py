"""``atelier run``: open the services, wait for Discord, connect, and stop cleanly on a signal.

Every ordinary way a start can fail leaves here as an ``OperatorError`` (bot/errors.py) that
names the setting or service; ``bot/__main__.py`` prints it and exits with its code.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading

import aiohttp
import discord

from bot.config import Config
from bot.errors import (
    BadSetting,
    PortalSettingMissing,
    ServiceUnreachable,
    UpstreamAuthError,
    UpstreamError,
)
from bot.reachability import TOKEN_HELP, network_reason, wait_for_discord
from bot.services import Services

log = logging.getLogger(__name__)

# What stops working while the upstream cannot be reached (the bot itself keeps running).
UPSTREAM_COMMANDS = (
    "/gpt, /gpts add and search, /imagine, /describe, /blend, /song, /lyrics, /video and "
    "/admin upstream"
)
INTENT_HELP = (
    "Discord closed the gateway with code 4014: the bot needs the privileged Message Content "
    "Intent. Turn it on at https://discord.com/developers/applications > your application > "
    "Bot > Privileged Gateway Intents > Message Content Intent, then start again"
)


async def report_upstream(services: Services) -> None:
    """At start, say once when the upstream cannot be used, and which commands that affects."""
    base = services.config.upstream.base_url
    try:
        await services.chat.list_models()
    except UpstreamAuthError:
        log.warning(
            "upstream.api_key: rejected by the gateway at %s; %s fail until it is fixed",
            base,
            UPSTREAM_COMMANDS,
        )
    except UpstreamError as exc:
        if exc.status is None:  # not an HTTP answer: nothing reached the gateway
            log.warning(
                "the upstream at %s cannot be reached (%s); the bot runs, but %s fail until "
                "it answers",
                base,
                exc.detail or "no answer",
                UPSTREAM_COMMANDS,
            )


def discord_error(exc: BaseException, config: Config) -> Exception | None:
    """The operator's message for how discord.py gave up; None for anything else."""
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        return PortalSettingMissing(INTENT_HELP)
    if isinstance(exc, discord.LoginFailure):
        return BadSetting(f"discord.token: rejected by Discord (401); {TOKEN_HELP}")
    if isinstance(exc, discord.ConnectionClosed):
        if exc.code == 4004:
            return BadSetting(f"discord.token: rejected by the Discord gateway; {TOKEN_HELP}")
        return ServiceUnreachable(
            f"the Discord gateway at {config.discord.gateway_url} closed the connection "
            f"(code {exc.code}); check discord.gateway_url"
        )
    return None


async def run(config: Config) -> None:
    """Serve until SIGTERM or Ctrl-C; a signal before the bot is ready just stops the start."""
    from bot.app import AtelierBot
    from bot.services import open_services

    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    assert main is not None
    bot: AtelierBot | None = None
    stopping = False
    shutdowns: list[asyncio.Future[None]] = []

    def on_signal() -> None:
        nonlocal stopping
        if bot is not None and bot.gateway_connected:
            # Serving: drain running answers first (runtime.shutdown_grace).
            shutdowns.append(asyncio.ensure_future(bot.shutdown()))
        elif not stopping:
            # Still connecting: nothing to drain; unwind the start (closing what it opened).
            stopping = True
            main.cancel()

    # Signals reach only the main thread (``main()`` called from a test's thread has none).
    if threading.current_thread() is threading.main_thread():
        for signame in ("SIGTERM", "SIGINT"):
            # SIGTERM from Docker or systemd, SIGINT from Ctrl-C: both stop gracefully.
            loop.add_signal_handler(getattr(signal, signame), on_signal)
    token = config.discord.token.get_secret_value()
    try:
        async with open_services(config) as services:
            probe = asyncio.create_task(report_upstream(services))
            try:
                await wait_for_discord(
                    config.discord.api_base,
                    token,
                    connect_timeout=config.discord.connect_timeout,
                    startup_timeout=config.discord.startup_timeout,
                )
                async with AtelierBot(services) as bot:
                    await bot.start(token)
            finally:
                probe.cancel()
    except asyncio.CancelledError:
        if not stopping:
            raise
        log.info("stopped before the bot was connected")
    except discord.DiscordException as exc:
        raise (discord_error(exc, config) or exc) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        # Discord answered the probe, then went away while discord.py logged in.
        raise ServiceUnreachable(
            f"lost Discord at {config.discord.api_base} while logging in: {network_reason(exc)}"
        ) from exc
