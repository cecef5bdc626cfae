"""Reaching Discord at start (and from ``atelier doctor``): one probe, failures in words.

A start that cannot reach Discord must never be silent: each failed attempt logs where the bot
is waiting and why, the pauses grow (1 s, 2 s, 4 s … at most ``MAX_PAUSE``), and after
``discord.startup_timeout`` seconds the bot gives up with a typed error (exit status 4). The
growing pause also keeps a container restarted by ``restart: unless-stopped`` from looping.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import yarl

from bot.errors import BadSetting, ServiceUnreachable

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0
MAX_PAUSE = 30.0

TOKEN_HELP = (
    "reset it in the Discord developer portal (Bot > Reset Token) and set it in config.toml "
    "or ATELIER_DISCORD_TOKEN"
)


def network_reason(exc: BaseException, timeout: float | None = None) -> str:
    """What went wrong reaching a host, in words (no secrets: exceptions name hosts only)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"its TLS certificate is not trusted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientConnectorSSLError | aiohttp.ClientSSLError | ssl.SSLError):
        return "the TLS handshake failed (is it a plain-HTTP address behind https://?)"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "unknown host (the name does not resolve)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused (nothing listens there)"
        return f"cannot connect ({exc.os_error.strerror or exc.os_error})"
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout else ""
        return f"no answer{within}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "it closed the connection without answering"
    if isinstance(exc, aiohttp.ClientError | OSError):
        return f"the connection failed ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}"


def is_lasting(exc: BaseException) -> bool:
    """A failure that waiting will not fix: retrying only delays the message."""
    return isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError)


@dataclass(frozen=True, slots=True)
class DiscordIdentity:
    username: str
    user_id: str


async def probe_discord(
    session: aiohttp.ClientSession,
    api_base: str,
    token: str,
    timeout: float,  # noqa: ASYNC109
) -> DiscordIdentity:
    """One ``GET /users/@me``: who the token logs in as.

    Raises ``BadSetting`` for a token Discord rejects, ``ServiceUnreachable`` otherwise; the
    network error itself is the ``__cause__``.
    """
    url = f"{api_base}/users/@me"
    headers = {"Authorization": f"Bot {token}"}
    try:
        async with session.get(
            url, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            if resp.status == 401:
                raise BadSetting(f"discord.token: rejected by Discord (401); {TOKEN_HELP}")
            if resp.status >= 400:
                raise ServiceUnreachable(
                    f"Discord at {api_base} answered HTTP {resp.status}; check discord.api_base"
                )
            user: dict[str, Any] = await resp.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ServiceUnreachable(
            f"cannot reach Discord at {api_base}: {network_reason(exc, timeout)}; check the "
            "network, or discord.api_base if you use a proxy"
        ) from exc
    return DiscordIdentity(str(user.get("username", "?")), str(user.get("id", "?")))


async def wait_for_discord(
    api_base: str, token: str, *, connect_timeout: float, startup_timeout: float
) -> DiscordIdentity:
    """Probe until Discord answers, pausing longer each time; give up after the timeout."""
    deadline = time.monotonic() + startup_timeout
    pause = FIRST_PAUSE
    address = yarl.URL(api_base).origin()
    async with aiohttp.ClientSession() as session:
        while True:
            log.info("connecting to Discord at %s", address)
            try:
                return await probe_discord(session, api_base, token, connect_timeout)
            except ServiceUnreachable as error:
                cause = error.__cause__
                left = deadline - time.monotonic()
                if (cause is not None and is_lasting(cause)) or left <= 0:
                    raise
                pause = min(pause, left)
                log.warning(
                    "waiting for Discord at %s: %s; retrying in %.0f s (giving up %.0f s "
                    "from now, discord.startup_timeout)",
                    address, network_reason(cause, connect_timeout) if cause else error,
                    pause, left,
                )  # fmt: skip
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
