"""Sandbox balance routes (upstream-api.md §5), all derived from two USD figures, and the
site's ``/api/status`` naming the unit the billing routes answer in (§7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiohttp import web

from bot.sandbox.upstream.wire import json_response

UNLIMITED_HARD_LIMIT = 100_000_000
QUOTA_PER_USD = 500_000


@dataclass(slots=True)
class BillingState:
    """What the key has. ``used_usd`` feeds ``total_usage`` (×100) and the token-usage route."""

    hard_limit_usd: float = 25.0
    used_usd: float = 12.345
    access_until: int = 0  # Unix seconds; 0 = never expires
    unlimited: bool = False
    token_name: str = "sandbox"
    # The site's display unit: newer new-api fills the ``*_usd`` fields in it (§7).
    display_unit: Literal["USD", "CNY", "TOKENS"] = "USD"
    usd_exchange_rate: float = 7.3  # yuan per US$1, for display_unit CNY
    # Whether /api/status answers (one-api's and older builds' may be closed, or HTML).
    status_route: bool = True

    def shown(self, usd: float) -> float:
        """A dollar amount as the billing routes show it in the site's unit."""
        if self.display_unit == "CNY":
            return usd * self.usd_exchange_rate
        if self.display_unit == "TOKENS":
            return usd * QUOTA_PER_USD
        return usd


BILLING = web.AppKey("upstream_sandbox_billing", BillingState)


async def subscription(request: web.Request) -> web.Response:
    state = request.app[BILLING]
    limit = UNLIMITED_HARD_LIMIT if state.unlimited else round(state.shown(state.hard_limit_usd), 6)
    return json_response(
        {
            "object": "billing_subscription",
            "has_payment_method": True,
            "soft_limit_usd": limit,
            "hard_limit_usd": limit,
            "system_hard_limit_usd": limit,
            "access_until": state.access_until,
        }
    )


async def usage(request: web.Request) -> web.Response:
    state = request.app[BILLING]
    # new-api reports usage in cents; round as it would after its float division.
    used = state.shown(state.used_usd)
    return json_response({"object": "list", "total_usage": round(used * 100, 6)})


async def token_usage(request: web.Request) -> web.Response:
    state = request.app[BILLING]
    granted = round(state.hard_limit_usd * QUOTA_PER_USD)
    used = round(state.used_usd * QUOTA_PER_USD)
    return json_response(
        {
            "code": True,
            "message": "ok",
            "data": {
                "object": "token_usage",
                "name": state.token_name,
                "total_granted": granted,
                "total_used": used,
                "total_available": granted - used,
                "unlimited_quota": state.unlimited,
                "model_limits": {},
                "model_limits_enabled": False,
                "expires_at": state.access_until,
            },
        }
    )


async def status(request: web.Request) -> web.Response:
    """The public site status; only the fields about amounts are served."""
    state = request.app[BILLING]
    if not state.status_route:
        raise web.HTTPNotFound()
    data = {
        "quota_per_unit": QUOTA_PER_USD,
        "quota_display_type": state.display_unit,
        "display_in_currency": state.display_unit != "TOKENS",
        "usd_exchange_rate": state.usd_exchange_rate,
    }
    return json_response({"success": True, "message": "", "data": data})


def setup(app: web.Application, state: BillingState) -> None:
    # Imported here: the server module imports this one to compose the app.
    from bot.sandbox.upstream.server import public

    app[BILLING] = state
    for prefix in ("/v1", ""):
        app.router.add_get(f"{prefix}/dashboard/billing/subscription", subscription)
        app.router.add_get(f"{prefix}/dashboard/billing/usage", usage)
    app.router.add_get("/api/usage/token/", token_usage)
    app.router.add_get("/api/usage/token", token_usage)
    app.router.add_get("/api/status", public(status))
