"""The sandbox's global limit counts a sliding second: no second anywhere holds more than the
limit, however it lines up with the first request (Discord does not say how it lines up its)."""

from __future__ import annotations

import pytest

from bot.sandbox.discord.ratelimit import RateLimiter

ROUTE = "PATCH /channels/{channel_id}/messages/{message_id}"


def take(limiter: RateLimiter, now: float, *, exempt: bool = False, channel: int = 1) -> bool:
    return limiter.check(ROUTE, str(channel), now, global_exempt=exempt).allowed


def test_no_second_across_a_window_edge_holds_more_than_the_limit() -> None:
    limiter = RateLimiter(bucket_limit=100, bucket_window=5.0, global_limit=3)
    assert take(limiter, 0.0)
    assert take(limiter, 0.8, channel=2) and take(limiter, 0.9, channel=3)
    # A window opened by the first request would close at 1.0 and take three more at once:
    # six in the 0.3 s from 0.8 to 1.1. The second from 0.1 to 1.1 already holds two.
    assert take(limiter, 1.05, channel=4)
    verdict = limiter.check(ROUTE, "5", 1.1, global_exempt=False)
    assert not verdict.allowed and verdict.is_global
    # The one that filled the limit (at 0.8) leaves the second at 1.8.
    assert verdict.reset_after == pytest.approx(0.7)
    assert not take(limiter, 1.79, channel=5)
    assert take(limiter, 1.8, channel=5)


def test_interaction_routes_neither_count_nor_wait() -> None:
    limiter = RateLimiter(bucket_limit=100, bucket_window=5.0, global_limit=2)
    assert all(take(limiter, 0.01 * i, exempt=True, channel=i) for i in range(10))
    assert take(limiter, 0.2) and take(limiter, 0.3, channel=2)
    assert take(limiter, 0.4, exempt=True, channel=3)  # the token route, past the limit
    assert not take(limiter, 0.5, channel=4)
