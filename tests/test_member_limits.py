"""The built-in per-member request window (bot/member_limits.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from bot.config import LimitsConfig
from bot.errors import TooManyRequests
from bot.member_limits import MemberLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_window_slides_and_says_when_to_retry() -> None:
    clock = Clock()
    limiter = MemberLimiter(LimitsConfig(requests_per_minute=3), clock)
    for seconds in (0.0, 10.0, 20.0):
        clock.now = 1000.0 + seconds
        await limiter.admit(1, 7)
    clock.now = 1030.0
    with pytest.raises(TooManyRequests) as refused:
        await limiter.admit(1, 7)
    assert refused.value.params == {"seconds": 30}  # the first request leaves the window then
    await limiter.admit(1, 8)  # another member, and the same member in another guild, are apart
    await limiter.admit(2, 7)
    clock.now = 1060.0  # exactly a minute after the first: it no longer counts
    await limiter.admit(1, 7)
    with pytest.raises(TooManyRequests) as again:
        await limiter.admit(1, 7)
    assert again.value.params == {"seconds": 10}
    clock.now = 1200.0
    await limiter.admit(1, 7)
    assert list(limiter._recent) == [(1, 7)]  # members who stopped asking are forgotten


async def test_zero_means_no_limit() -> None:
    limiter = MemberLimiter(LimitsConfig(requests_per_minute=0), Clock())
    for _ in range(1000):
        await limiter.admit(1, 7)
    assert limiter._recent == {}
