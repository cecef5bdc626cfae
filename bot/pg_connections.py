"""A few asyncpg connections for the ledger's one-statement movements (bot/pg_statements.py).

asyncpg's own pool cost this process more CPU per statement than the statement did: an acquire
context, a proxy object, a shielded release and a reset coroutine on every checkout. The
movements need none of it: each statement is its own transaction and leaves the session as it
found it. Here a checkout is a list pop; the connection most recently used goes out first, so at
low load one connection stays warm; a caller beyond ``size`` waits for the next one given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Mapping
from typing import Any

# An idle connection older than this is closed rather than used: a proxy or firewall between
# here and the server may have dropped it (the SQLAlchemy engine recycles at the same age).
IDLE_LIFETIME = 300.0


class PgConnections:
    def __init__(self, options: Mapping[str, Any], size: int) -> None:
        self._options = dict(options)
        self._size = size
        self._open = 0  # connections made and not yet closed, idle or out
        self._idle: list[tuple[Any, float]] = []  # (connection, when it came back)
        # Callers waiting for a connection; handed one, or None: open your own.
        self._waiting: deque[asyncio.Future[Any]] = deque()
        self._closed = False

    async def take(self) -> Any:
        while self._idle:
            conn, since = self._idle.pop()
            if not conn.is_closed() and time.monotonic() - since < IDLE_LIFETIME:
                return conn
            self._forget(conn)
        if self._open >= self._size:
            turn: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                conn = await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # handed one as it was cancelled
                    self._pass_on(turn.result())
                raise
            if conn is not None:
                return conn
        return await self._connect()

    async def _connect(self) -> Any:
        import asyncpg  # the [postgres] extra: present whenever a PostgreSQL URL got this far

        self._open += 1
        try:
            return await asyncpg.connect(**self._options)
        except BaseException:
            self._open -= 1
            self._pass_on(None)  # a waiter may try in this one's place
            raise

    def give_back(self, conn: Any) -> None:
        """A connection whose statement ended, committed or rolled back."""
        if self._closed or conn.is_closed():
            self._forget(conn)
        else:
            self._pass_on(conn)

    def discard(self, conn: Any) -> None:
        """A connection in an unknown state (its statement was cancelled, or it broke): the
        server rolls back whatever it had open when the socket closes."""
        self._forget(conn)

    def _forget(self, conn: Any) -> None:
        conn.terminate()
        self._open -= 1
        self._pass_on(None)

    def _pass_on(self, conn: Any) -> None:
        """To the first caller still waiting (None: the room to open one), else idle."""
        while self._waiting:
            turn = self._waiting.popleft()
            if not turn.done():
                turn.set_result(conn)
                return
        if conn is not None:
            self._idle.append((conn, time.monotonic()))

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            self._open -= 1
            with contextlib.suppress(Exception):  # gone already: nothing to say goodbye to
                await conn.close()
