"""``atelier doctor``: check config, database, Discord token and upstream key; say what to fix."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import aiohttp
from sqlalchemy import text

from bot.capabilities import Capabilities
from bot.config import Config, load_config
from bot.db import Database
from bot.errors import ConfigError, UpstreamAuthError, UpstreamError
from bot.upstream import BillingClient, UpstreamClient

TIMEOUT = aiohttp.ClientTimeout(total=15)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


async def check_database(config: Config) -> Check:
    db = Database(config.database.url)
    try:
        async with db.read() as conn:
            await conn.execute(text("SELECT 1"))
        return Check("database", True, config.database.url.split("://", 1)[0])
    except Exception as exc:  # any driver error is a finding, not a crash
        return Check("database", False, f"database.url: cannot connect ({type(exc).__name__})")
    finally:
        await db.close()


async def check_discord(config: Config, session: aiohttp.ClientSession) -> Check:
    url = f"{config.discord.api_base}/users/@me"
    headers = {"Authorization": f"Bot {config.discord.token.get_secret_value()}"}
    try:
        async with session.get(url, headers=headers, timeout=TIMEOUT) as resp:
            if resp.status == 401:
                return Check("discord", False, "discord.token: rejected by Discord (401)")
            if resp.status >= 400:
                return Check("discord", False, f"discord.api_base: answered HTTP {resp.status}")
            user = await resp.json(content_type=None)
            return Check("discord", True, f"logged in as {user.get('username', '?')}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check("discord", False, f"discord.api_base: unreachable ({type(exc).__name__})")


async def check_upstream(config: Config, session: aiohttp.ClientSession) -> Check:
    up = config.upstream
    client = UpstreamClient(
        session,
        up.base_url,
        up.api_key.get_secret_value(),
        connect_timeout=up.connect_timeout,
        read_timeout=up.read_timeout,
        total_timeout=30,
    )
    try:
        balance = await BillingClient(client).balance()
    except UpstreamAuthError:
        return Check("upstream", False, "upstream.api_key: rejected by the gateway")
    except UpstreamError as exc:
        return Check("upstream", False, f"upstream.base_url: {exc.detail or 'request failed'}")
    if balance.unlimited:
        return Check("upstream", True, "key accepted (unlimited)")
    return Check("upstream", True, f"key accepted, ${balance.remaining_usd:,.2f} remaining")


async def check_capabilities(config: Config, session: aiohttp.ClientSession) -> Check:
    """What the gateway serves, per family, as a table (the same probes the bot runs)."""
    up = config.upstream
    key = up.api_key.get_secret_value()
    client = UpstreamClient(session, up.base_url, key, total_timeout=30)
    capabilities = Capabilities(client, up.capabilities)
    await capabilities.refresh()
    rows = capabilities.table()
    served = sum(answer == "served" for _, answer, _ in rows)
    width = max(len(family) for family, _, _ in rows)
    table = [f"    {family:<{width}}  {answer:<12}  {source}" for family, answer, source in rows]
    rejected = [family for family, answer, _ in rows if answer == "key rejected"]
    summary = f"{served} of {len(rows)} families served"
    if rejected:
        summary = f"upstream.api_key: rejected on {', '.join(rejected)}; {summary}"
    return Check("capabilities", not rejected, "\n".join([summary, *table]))


async def run_checks(config: Config) -> list[Check]:
    checks = [await check_database(config)]
    async with aiohttp.ClientSession() as session:
        checks.append(await check_discord(config, session))
        checks.append(await check_upstream(config, session))
        checks.append(await check_capabilities(config, session))
    return checks


async def doctor(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as error:
        checks = [Check("config", False, f"{path}: {reason}") for path, reason in error.problems]
    else:
        checks = [Check("config", True, "valid"), *await run_checks(config)]
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.name:<{width}}  {'ok  ' if check.ok else 'FAIL'}  {check.detail}")
    return 0 if all(c.ok for c in checks) else 1
