"""The bot token's budget of REST requests, kept under Discord's global limit of 50 a second.

Discord counts every request that carries the bot's token against one global limit, across
every process and shard; interaction callbacks and follow-ups (token in the path, no
``Authorization``) are not counted. The budget is spent in one place, the hook on discord.py's
HTTP session (``DiscordTraffic``), right before each request leaves, retries included: a slot
taken earlier (before discord.py's per-route lock, say) could be spent seconds late, and late
requests arrive bunched. Streams read ``share_interval`` to pace their edits so that their
requests rarely wait for a slot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from bot.shared_limits import RETRY_AFTER, SharedStore

# Seconds between refreshes of the count of streams across processes (with a shared store).
COUNT_EVERY = 0.5
# A slot woken up more than LATE seconds after its time is given up for a fresh one, at most
# LATE_TRIES times a request: the 10 of Discord's 50 a second the default budget leaves free
# absorb a quarter of a second of bunching, this leaves the rest for the way to Discord.
LATE = 0.1
LATE_TRIES = 3


class WriteBudget:
    """Slots of ``per_second`` for the whole bot: every counted request waits for its own.

    Slots follow one another at an even interval with no burst allowance, so any second,
    however Discord lines up its windows, holds at most ``per_second + 1`` of them; the gap to
    50 is room for requests that leave later than their slot on a busy event loop. With a shared
    store the slots and the count of streams span every process of the bot; while the store is
    unreachable this process keeps to ``share`` of the budget, and for a while after it answers
    again too: another process may not have tried it yet and still spends its own share.
    """

    def __init__(
        self,
        per_second: float = 40.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        store: SharedStore | None = None,
        share: float = 1.0,
    ):
        self.per_second = per_second
        self._clock = clock
        self._next = 0.0
        self.active = 0
        self.store = store
        self.share = share
        self.elsewhere = 0  # streams active in the other processes, as last counted
        self._counted = -COUNT_EVERY
        self.slots = 0  # requests that waited for a slot, shared or local
        self.late = 0  # slots given up because the request would have left late
        self._fell_back = False
        self._alone_until = float("-inf")

    def share_interval(self) -> float:
        """The smallest interval each active stream can keep without exceeding the budget."""
        if self.store is not None and self.store.available:
            return max(1, self.active + self.elsewhere) / self.per_second
        return max(1, self.active) / self._own_rate()

    def _own_rate(self) -> float:
        return self.per_second if self.store is None else self.per_second * self.share

    async def acquire(self) -> None:
        """Wait for the next slot: the shared one when the store answers, else this process's.

        A slot woken up late (a busy event loop, a slow store) is given up for a fresh one: a
        request that leaves late lands beside the ones on the slots after it, and enough of
        those fill a second past Discord's limit. After LATE_TRIES the request goes anyway.
        """
        self.slots += 1
        for _ in range(LATE_TRIES):
            asked = self._clock()
            wait = await self._reserve()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._clock() - (asked + wait) <= LATE:
                return
            self.late += 1

    async def _reserve(self) -> float:
        """Take the next slot; seconds until it."""
        wait = None
        if self.store is not None:
            if self._clock() - self._counted >= COUNT_EVERY:
                self._counted = self._clock()
                total = await self.store.count_streams(self.active)
                if total is not None:
                    self.elsewhere = max(0, total - self.active)
            wait = await self.store.reserve_write(self.per_second)
            if wait is None:
                self._fell_back = True
            elif self._fell_back:
                # Every other process retries the store within RETRY_AFTER of it answering
                # again; until then one may still spend its share beside the shared budget.
                self._fell_back = False
                self._alone_until = self._clock() + RETRY_AFTER
        if wait is None or self._clock() < self._alone_until:
            wait = max(wait or 0.0, self._take_own_slot())
        return wait

    def _take_own_slot(self) -> float:
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + 1.0 / self._own_rate()
        return slot - now
