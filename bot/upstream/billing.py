"""The key's balance at the gateway (upstream-api.md §5), in the site's display unit (§7).

This is the *gateway* account the bot spends from, not a guild's credit. The billing routes keep
OpenAI's ``*_usd`` field names, but newer new-api fills them in the unit the site displays:
US dollars, yuan (CNY), or raw quota units ("tokens"). The site's ``/api/status`` says which;
where it cannot be read, ``upstream.display_unit`` does.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from bot.errors import UpstreamError, UpstreamFailure
from bot.upstream.client import UpstreamClient
from bot.upstream.parsing import as_text, validate

log = logging.getLogger(__name__)

SUBSCRIPTION_PATH = "/v1/dashboard/billing/subscription"
USAGE_PATH = "/v1/dashboard/billing/usage"
TOKEN_USAGE_PATH = "/api/usage/token/"
STATUS_PATH = "/api/status"
# An unlimited key reports this hard limit.
UNLIMITED_HARD_LIMIT = 100_000_000
# new-api's QuotaPerUnit: raw quota units per US$1.
QUOTA_PER_USD = 500_000
UnitCode = Literal["USD", "CNY", "TOKENS", "CUSTOM"]
UNIT_SYMBOLS = {"USD": "$", "CNY": "¥"}


@dataclass(frozen=True, slots=True)
class DisplayUnit:
    """The unit a site's amounts are in; ``per_usd`` is how many of it make one US dollar
    (1 for USD, the site's exchange rate for CNY, its quota per unit for tokens)."""

    code: UnitCode = "USD"
    per_usd: float = 1.0
    symbol: str = "$"

    def from_usd(self, usd: float) -> float:
        """A US-dollar amount (a configured threshold) in this unit."""
        return usd * self.per_usd

    def format(self, amount: float, tokens: str = "tokens") -> str:
        """``$12.35``, ``¥86.42`` or ``6,172,500 tokens`` (``tokens``: the word, translated)."""
        if self.code == "TOKENS":
            return f"{amount:,.0f} {tokens}"
        return f"{self.symbol}{amount:,.2f}"


USD = DisplayUnit()


def unit_from_status(data: Any, fallback: DisplayUnit = USD) -> DisplayUnit:
    """The display unit a ``/api/status`` ``data`` object names: ``quota_display_type`` (newer
    builds), else ``display_in_currency`` (older ones: false means tokens); ``fallback`` when
    it names none."""
    if not isinstance(data, dict):
        return fallback
    kind = as_text(data.get("quota_display_type")).strip().upper()
    if not kind and isinstance(data.get("display_in_currency"), bool):
        kind = "USD" if data["display_in_currency"] else "TOKENS"
    per_unit = _positive(data.get("quota_per_unit")) or QUOTA_PER_USD
    if kind == "USD":
        return USD
    if kind == "CNY":
        rate = _positive(data.get("usd_exchange_rate"))
        return DisplayUnit("CNY", rate, "¥") if rate else fallback
    if kind == "TOKENS":
        return DisplayUnit("TOKENS", per_unit, "")
    if kind == "CUSTOM":
        rate = _positive(data.get("custom_currency_exchange_rate"))
        symbol = as_text(data.get("custom_currency_symbol")).strip() or "¤"
        return DisplayUnit("CUSTOM", rate, symbol) if rate else fallback
    return fallback


def configured_unit(code: str, per_usd: float | None) -> DisplayUnit:
    """The unit pinned in config (``upstream.display_unit``, ``upstream.display_per_usd``)."""
    if code == "TOKENS":
        return DisplayUnit("TOKENS", per_usd or QUOTA_PER_USD, "")
    if code == "CNY":
        return DisplayUnit("CNY", per_usd or 1.0, "¥")
    return USD


class UpstreamBalance(BaseModel):
    """Balance of the configured key in ``unit``; ``access_until`` is ``None`` when the key
    never expires."""

    model_config = ConfigDict(frozen=True)

    hard_limit: float
    used: float
    remaining: float
    access_until: datetime | None
    unit: DisplayUnit = USD

    @property
    def unlimited(self) -> bool:
        return self.hard_limit >= UNLIMITED_HARD_LIMIT

    def below(self, threshold_usd: float) -> bool:
        """Whether the remainder is under a threshold configured in US dollars."""
        return not self.unlimited and self.remaining < self.unit.from_usd(threshold_usd)


class TokenUsage(BaseModel):
    """``/api/usage/token/`` (newer builds only); raw quota units, see ``QUOTA_PER_USD``."""

    model_config = ConfigDict(frozen=True)

    name: str = ""
    total_granted: int = 0
    total_used: int = 0
    total_available: int = 0
    unlimited_quota: bool = False
    expires_at: int = 0

    @property
    def available_usd(self) -> float:
        return self.total_available / QUOTA_PER_USD


class _Subscription(BaseModel):
    hard_limit_usd: float = 0.0
    access_until: float = 0


class _Usage(BaseModel):
    total_usage: float = 0.0  # hundredths of the display unit: used × 100


class _TokenUsageEnvelope(BaseModel):
    code: bool = False
    message: str = ""
    data: TokenUsage | None = None


class BillingClient:
    """Reads the gateway balance; built once over the shared ``UpstreamClient``.

    ``unit`` is ``"auto"`` (read the site's ``/api/status``, falling back to ``fallback``) or
    a pinned ``DisplayUnit``."""

    def __init__(
        self,
        client: UpstreamClient,
        unit: DisplayUnit | Literal["auto"] = "auto",
        *,
        fallback: DisplayUnit = USD,
    ) -> None:
        self._client = client
        self._unit = unit
        self._fallback = fallback

    def __repr__(self) -> str:
        return f"BillingClient({self._client!r})"

    async def balance(self) -> UpstreamBalance:
        """Limit, usage and remainder of the key: remaining = hard limit - total_usage / 100."""
        sub_obj, usage_obj, unit = await asyncio.gather(
            self._get(SUBSCRIPTION_PATH), self._get(USAGE_PATH), self.display_unit()
        )
        sub = validate(_Subscription, sub_obj)
        used = validate(_Usage, usage_obj).total_usage / 100
        return UpstreamBalance(
            hard_limit=sub.hard_limit_usd,
            used=round(used, 6),
            remaining=round(sub.hard_limit_usd - used, 6),
            access_until=(
                datetime.fromtimestamp(sub.access_until, UTC) if sub.access_until > 0 else None
            ),
            unit=unit,
        )

    async def display_unit(self) -> DisplayUnit:
        """The unit the billing routes answer in: the pinned one, or the site's own."""
        if self._unit != "auto":
            return self._unit
        try:
            obj = await self._client.request_json("GET", STATUS_PATH)
        except UpstreamError as exc:
            # one-api and older builds may lack it, or answer their web page: not a failure.
            log.info("%s unreadable (%s): amounts taken as %s", STATUS_PATH, exc, self._fallback)
            return self._fallback
        data = obj.get("data") if isinstance(obj, dict) else None
        return unit_from_status(data, self._fallback)

    async def token_usage(self) -> TokenUsage:
        """Raw quota figures of the key; raises ``UpstreamFailure`` where the route is missing."""
        envelope = validate(_TokenUsageEnvelope, await self._get(TOKEN_USAGE_PATH))
        if not envelope.code or envelope.data is None:
            raise UpstreamFailure(envelope.message or "token usage unavailable", status=200)
        return envelope.data

    async def _get(self, path: str) -> Any:
        obj = await self._client.request_json("GET", path)
        # On a DB error these routes answer HTTP 200 with an {"error": …} body.
        self._client.raise_for_error_body(obj)
        return obj


def _positive(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value > 0 else None
