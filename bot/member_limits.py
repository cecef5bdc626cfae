"""The built-in per-member limit on upstream requests, whatever an admin configured.

Admins' cooldowns and daily caps are optional and per command; this limit is always there, so
that one member cannot flood the upstream (and the operator's bill) by firing commands, pressing
buttons or replying in threads as fast as Discord lets them. ``Spending.admit`` consults it
before anything is held or sent; free lookups (/gpts) consult it directly.

With a shared store (``[redis] url``) the window is counted there, one window per member
across every process; without one, or while it is unreachable, in this process's memory (enough
to stop a flood: Discord routes one guild to one shard, so one member's requests mostly land on
one process). What runs at once (``concurrent``) is counted from the database, see
``Spending._check_running``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from bot.config import LimitsConfig
from bot.errors import TooManyRequests
from bot.shared_limits import SharedStore

WINDOW = 60.0  # seconds: requests_per_minute is counted over a sliding minute


class MemberLimiter:
    """A sliding one-minute window of upstream requests per (guild, member)."""

    def __init__(
        self,
        config: LimitsConfig,
        clock: Callable[[], float] = time.monotonic,
        *,
        store: SharedStore | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self._clock = clock
        self._recent: dict[tuple[int, int], deque[float]] = {}
        self._swept = clock()

    async def admit(self, guild_id: int, user_id: int) -> None:
        """Count one request, or raise TooManyRequests saying in how many seconds to retry."""
        limit = self.config.requests_per_minute
        if limit == 0:
            return
        if self.store is not None:
            wait = await self.store.admit_member(guild_id, user_id, limit, WINDOW)
            if wait is not None:
                if wait > 0:
                    raise TooManyRequests(
                        f"member {user_id} in guild {guild_id}: {limit} requests in a minute",
                        seconds=max(1, math.ceil(wait)),
                    )
                return
        self._admit_here(guild_id, user_id, limit)

    def _admit_here(self, guild_id: int, user_id: int, limit: int) -> None:
        now = self._clock()
        if now - self._swept >= WINDOW:
            self._forget_before(now - WINDOW)
            self._swept = now
        recent = self._recent.setdefault((guild_id, user_id), deque())
        while recent and recent[0] <= now - WINDOW:
            recent.popleft()
        if len(recent) >= limit:
            wait = recent[0] + WINDOW - now
            raise TooManyRequests(
                f"member {user_id} in guild {guild_id}: {len(recent)} requests in a minute",
                seconds=max(1, math.ceil(wait)),
            )
        recent.append(now)

    def _forget_before(self, cutoff: float) -> None:
        # Once a minute, so members who stopped asking do not stay in memory.
        for key in list(self._recent):
            recent = self._recent[key]
            while recent and recent[0] <= cutoff:
                recent.popleft()
            if not recent:
                del self._recent[key]
