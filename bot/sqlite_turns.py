"""Whose turn it is to write a SQLite file: one writer at a time, first come, first served.

SQLite allows one writer. The process has two kinds: transactions on an aiosqlite connection
(``Database.transaction``), which await their turn like an ``asyncio.Lock``, and the writer
thread's batches (bot/sqlite_writer.py), which take it with a callback instead. A batch then
starts the moment the turn is free, from whatever released it, with no task to wake: at one
movement at a time, the task and its wake-ups cost as much as the movement's statements.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType


class WriteTurns:
    def __init__(self) -> None:
        self._held = False
        # A waiting transaction's future, or the callback of a batch that waits.
        self._waiting: deque[asyncio.Future[None] | Callable[[], None]] = deque()

    def take(self, then: Callable[[], None]) -> None:
        """Call ``then`` with the turn held: now if it is free, else when it comes round.
        ``then`` must ``release`` it."""
        if not self._held:
            self._held = True
            then()
        else:
            self._waiting.append(then)

    def release(self) -> None:
        """Hand the turn to the first still waiting, or free it."""
        while self._waiting:
            waiter = self._waiting.popleft()
            if not isinstance(waiter, asyncio.Future):
                waiter()
                return
            if not waiter.done():  # a cancelled transaction has left the queue
                waiter.set_result(None)
                return
        self._held = False

    async def __aenter__(self) -> None:
        if not self._held:  # free: then nobody waits either (``release`` hands it on first)
            self._held = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed the turn just as it was cancelled: pass it on
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()
