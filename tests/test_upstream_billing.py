"""BillingClient against the sandbox gateway (upstream-api.md §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.errors import UpstreamFailure
from bot.sandbox.upstream import UpstreamSandbox
from bot.upstream import BillingClient, UpstreamClient


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox() as sb:
        yield sb


@pytest.fixture
async def client(sandbox: UpstreamSandbox) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(
            session, sandbox.base_url, sandbox.api_key, read_timeout=2, total_timeout=5
        )


async def test_balance(sandbox: UpstreamSandbox, client: UpstreamClient) -> None:
    sandbox.billing.hard_limit_usd = 25.0
    sandbox.billing.used_usd = 12.345
    balance = await BillingClient(client).balance()
    assert (balance.hard_limit_usd, balance.used_usd, balance.remaining_usd) == (
        25.0,
        12.345,
        12.655,
    )
    assert balance.access_until is None and not balance.unlimited
    sandbox.billing.access_until = 1_900_000_000
    sandbox.billing.unlimited = True
    balance = await BillingClient(client).balance()
    assert balance.access_until == datetime.fromtimestamp(1_900_000_000, UTC)
    assert balance.unlimited


async def test_balance_200_with_error_body_raises(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    sandbox.inject_error("billing_db_error", path_regex="/billing/usage$")
    with pytest.raises(UpstreamFailure) as info:
        await BillingClient(client).balance()
    assert info.value.status == 200
    assert info.value.detail == "database error: connection refused"


async def test_token_usage(sandbox: UpstreamSandbox, client: UpstreamClient) -> None:
    usage = await BillingClient(client).token_usage()
    assert usage.total_granted == 25 * 500_000
    assert usage.available_usd == pytest.approx(12.655)
