"""Point discord.py at the configured Discord REST base and gateway.

discord.py has no setting for these, only class attributes read when each request is built and
each connection is opened; ``api_base`` and ``gateway_url`` exist for operators behind a
Discord-compatible reverse proxy, and the sandbox uses the very same path.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def use_discord_endpoints(api_base: str, gateway_url: str) -> None:
    discord.http.Route.BASE = api_base.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
