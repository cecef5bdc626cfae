"""The key's balance at the gateway (upstream-api.md §5).

This is the *gateway* account the bot spends from, not a guild's credit. Amounts are in the
site's display currency, normally USD.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient

log = logging.getLogger(__name__)

SUBSCRIPTION_PATH = "/v1/dashboard/billing/subscription"
USAGE_PATH = "/v1/dashboard/billing/usage"
TOKEN_USAGE_PATH = "/api/usage/token/"
# An unlimited key reports this hard limit.
UNLIMITED_HARD_LIMIT = 100_000_000
# new-api's QuotaPerUnit: raw quota units per US$1.
QUOTA_PER_USD = 500_000
_M = TypeVar("_M", bound=BaseModel)


class UpstreamBalance(BaseModel):
    """Balance of the configured key; ``access_until`` is ``None`` when the key never expires."""

    model_config = ConfigDict(frozen=True)

    hard_limit_usd: float
    used_usd: float
    remaining_usd: float
    access_until: datetime | None

    @property
    def unlimited(self) -> bool:
        return self.hard_limit_usd >= UNLIMITED_HARD_LIMIT


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
    total_usage: float = 0.0  # US cents: used × 100


class _TokenUsageEnvelope(BaseModel):
    code: bool = False
    message: str = ""
    data: TokenUsage | None = None


class BillingClient:
    """Reads the gateway balance; built once over the shared ``UpstreamClient``."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"BillingClient({self._client!r})"

    async def balance(self) -> UpstreamBalance:
        """Limit, usage and remainder of the key: remaining = hard limit - total_usage / 100."""
        sub_obj, usage_obj = await asyncio.gather(
            self._get(SUBSCRIPTION_PATH), self._get(USAGE_PATH)
        )
        sub = _validate(_Subscription, sub_obj)
        used = _validate(_Usage, usage_obj).total_usage / 100
        return UpstreamBalance(
            hard_limit_usd=sub.hard_limit_usd,
            used_usd=round(used, 6),
            remaining_usd=round(sub.hard_limit_usd - used, 6),
            access_until=(
                datetime.fromtimestamp(sub.access_until, UTC) if sub.access_until > 0 else None
            ),
        )

    async def token_usage(self) -> TokenUsage:
        """Raw quota figures of the key; raises ``UpstreamFailure`` where the route is missing."""
        envelope = _validate(_TokenUsageEnvelope, await self._get(TOKEN_USAGE_PATH))
        if not envelope.code or envelope.data is None:
            raise UpstreamFailure(envelope.message or "token usage unavailable", status=200)
        return envelope.data

    async def _get(self, path: str) -> Any:
        obj = await self._client.request_json("GET", path)
        # On a DB error these routes answer HTTP 200 with an {"error": …} body.
        self._client.raise_for_error_body(obj)
        return obj


def _validate(model: type[_M], obj: Any) -> _M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False)[:3]
        log.warning("unexpected %s shape: %s", model.__name__, problems)
        raise UpstreamFailure("the upstream sent an unexpected answer", status=200) from None
