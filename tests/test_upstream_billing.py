"""BillingClient against the sandbox gateway (upstream-api.md §5)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from bot.errors import UpstreamFailure
from bot.sandbox.upstream import UpstreamSandbox
from bot.upstream import BillingClient, UpstreamClient
from bot.upstream.billing import USD, configured_unit, unit_from_status


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
    assert (balance.hard_limit, balance.used, balance.remaining) == (
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


@pytest.mark.parametrize(
    ("unit", "shown", "remaining"),
    [
        ("USD", "$12.65", 12.655),
        ("CNY", "¥92.38", 92.3815),  # 12.655 × 7.3
        ("TOKENS", "6,327,500 tokens", 6_327_500),  # 12.655 × 500,000
    ],
)
async def test_balance_is_read_in_the_sites_display_unit(
    sandbox: UpstreamSandbox, client: UpstreamClient, unit: str, shown: str, remaining: float
) -> None:
    sandbox.billing.display_unit = unit  # type: ignore[assignment]
    balance = await BillingClient(client).balance()
    assert balance.unit.code == unit
    assert balance.remaining == pytest.approx(remaining)
    assert balance.unit.format(balance.remaining) == shown
    # A US$20 alert threshold compares in the same unit: 12.655 dollars is below it.
    assert balance.below(20.0) and not balance.below(12.0)


async def test_a_closed_status_route_falls_back_to_the_pinned_unit(
    sandbox: UpstreamSandbox, client: UpstreamClient
) -> None:
    sandbox.billing.status_route = False
    sandbox.billing.display_unit = "CNY"
    assert (await BillingClient(client).display_unit()).code == "USD"
    pinned = configured_unit("CNY", 7.3)
    balance = await BillingClient(client, pinned).balance()
    assert balance.unit.format(balance.remaining) == "¥92.38"
    assert not sandbox.requests_to("/api/status")[1:]  # the pinned unit asks nothing


def test_status_fields_old_and_new() -> None:
    assert unit_from_status({"quota_display_type": "CNY", "usd_exchange_rate": 7.2}).per_usd == 7.2
    assert unit_from_status({"display_in_currency": False}).code == "TOKENS"
    assert unit_from_status({"display_in_currency": True}).code == "USD"
    custom = {"quota_display_type": "CUSTOM", "custom_currency_symbol": "€",
              "custom_currency_exchange_rate": 0.9}  # fmt: skip
    assert unit_from_status(custom).format(10) == "€10.00"
    # CNY without a rate cannot be converted: the fallback holds.
    assert unit_from_status({"quota_display_type": "CNY"}).code == "USD"
    assert unit_from_status("<html>") == USD
