"""The ranges credit amounts and guild ids live in.

Balances stay far below 2**63 - 1 so that no balance, hold, price times quantity or sum of a
guild's ledger rows can overflow a signed 64-bit integer on SQLite or PostgreSQL: a release
returning an open hold to a balance granted up to the maximum reaches at most twice it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from pydantic import AfterValidator

from bot.errors import AmountOutOfRange, NotAGuildId

# Largest balance a guild may hold, and so the largest grant, set, cap or alert threshold.
MAX_BALANCE = 10**15
# Largest price of one call, 1,000 tokens, one action or one second of video.
MAX_PRICE = 10**9
# Discord ids are snowflakes: positive, and signed 64-bit in every database column they go to.
MAX_SNOWFLAKE = 2**63 - 1
# Longest video a model may offer, in seconds: bounds price_per_second times duration.
MAX_VIDEO_SECONDS = 3600


def _between(low: int, high: int) -> Callable[[int], int]:
    def check(value: int) -> int:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:,} and {high:,}")
        return value

    return check


# Configuration values (bot/config.py, bot/pricing.py); the error names the key and the range.
Credits = Annotated[int, AfterValidator(_between(0, MAX_BALANCE))]
Price = Annotated[int, AfterValidator(_between(0, MAX_PRICE))]


def check_amount(option: str, value: int, low: int, high: int = MAX_BALANCE) -> int:
    """``value`` when ``low <= value <= high``; otherwise AmountOutOfRange naming ``option``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AmountOutOfRange(
            f"{option} = {value!r} is outside {low}..{high}",
            option=option,
            low=f"{low:,}",
            high=f"{high:,}",
        )
    return value


def check_guild_id(value: int) -> int:
    """A Discord guild id: a positive snowflake that fits a signed 64-bit column."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_SNOWFLAKE:
        raise NotAGuildId(f"not a guild id: {value!r}", value=str(value)[:40])
    return value
