"""Work the bot owns that no handler waits for: alert and log-channel posts.

A member's command must not wait on a post to another channel (a 429 there can last seconds,
past Discord's 3-second acknowledgement deadline), and a failed post must not undo what the
command did (a hold taken, credit granted). Such work is spawned here: it runs on its own, a
failure is logged, and the bot waits for it (bounded) or cancels it when it closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


# At most this many run at once; the rest wait their turn. A burst of paid commands must not
# turn into as many extra database connections or channel posts at the same moment.
CONCURRENCY = 4


class Background:
    def __init__(self, concurrency: int = CONCURRENCY) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(concurrency)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run ``work`` without waiting for it; its exceptions are logged, never raised."""
        task = asyncio.create_task(self._guarded(work, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            async with self._slots:
                await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background work %s failed", name)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def wait_idle(self, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
        """Wait for what runs now (and what it spawns meanwhile); False when time ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._tasks:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await asyncio.wait(list(self._tasks), timeout=left)
        return True

    async def close(self, grace: float = 2.0) -> None:
        """Give running posts ``grace`` seconds, then cancel the rest."""
        if await self.wait_idle(grace):
            return
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
