"""The long-lived resources, built once at start and handed to the bot."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp

from bot.config import Config
from bot.db import Database
from bot.i18n import Catalog
from bot.ledger import Ledger
from bot.upstream import BillingClient, ChatClient, UpstreamClient


@dataclass(frozen=True, slots=True)
class Services:
    config: Config
    db: Database
    ledger: Ledger
    catalog: Catalog
    http: aiohttp.ClientSession
    upstream: UpstreamClient
    chat: ChatClient
    billing: BillingClient


@contextlib.asynccontextmanager
async def open_services(config: Config) -> AsyncIterator[Services]:
    """Create the database schema, the HTTP session and the clients; close them on exit."""
    db = Database(config.database.url)
    await db.create_all()
    http = aiohttp.ClientSession()
    try:
        up = config.upstream
        upstream = UpstreamClient(
            http,
            up.base_url,
            up.api_key.get_secret_value(),
            connect_timeout=up.connect_timeout,
            read_timeout=up.read_timeout,
            total_timeout=up.total_timeout,
        )
        yield Services(
            config=config,
            db=db,
            ledger=Ledger(db, starting_balance=config.credit.starting_balance),
            catalog=Catalog.load(),
            http=http,
            upstream=upstream,
            chat=ChatClient(upstream),
            billing=BillingClient(upstream),
        )
    finally:
        await http.close()
        await db.close()
