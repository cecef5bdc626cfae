"""Building the upstream clients from ``[upstream]``: one place, so the bot and ``atelier doctor``
talk to the gateway the same way (key, timeouts, /mj authentication, display unit)."""

from __future__ import annotations

import aiohttp

from bot.config import UpstreamConfig
from bot.upstream.billing import BillingClient, configured_unit
from bot.upstream.client import UpstreamClient


def upstream_client(
    session: aiohttp.ClientSession, config: UpstreamConfig, *, total_timeout: float | None = None
) -> UpstreamClient:
    """The shared client; ``total_timeout`` shortens the configured one (a quick check)."""
    return UpstreamClient(
        session,
        config.base_url,
        config.api_key.get_secret_value(),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        total_timeout=total_timeout or config.total_timeout,
        mj_auth=config.mj_auth,
    )


def billing_client(client: UpstreamClient, config: UpstreamConfig) -> BillingClient:
    """Balance reads in the site's unit: read from the gateway, or the one pinned in config."""
    if config.display_unit == "auto":
        return BillingClient(client)
    return BillingClient(client, configured_unit(config.display_unit, config.display_per_usd))
