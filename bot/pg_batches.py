"""PostgreSQL's movements of one kind, sent together while one is in flight.

Every movement of a guild changes its account row, and PostgreSQL keeps that row locked until
the movement's commit has reached the disk. One movement at a time per guild, whatever the number
of connections: ten or a hundred concurrent holds and settles ran no faster than one, and
waiting on the row cost more than the update. Here the first movement of a kind goes at once as
its one statement; those that arrive while it runs wait, and go next as one statement over arrays
(bot/ledger_pg.py): one round trip, one lock of each account, one commit for them all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause
from sqlalchemy.exc import IntegrityError

# A batch larger than this waits for the next statement: it bounds one statement's work.
MAX_BATCH = 200

Rows = list[Sequence[Any]]
# Runs a statement; with guild ids, in a transaction that first locks their accounts, in order.
Run = Callable[[TextClause, Mapping[str, Any], list[int] | None], Awaitable[Rows]]


@dataclass(frozen=True, eq=False)  # one batcher per statement: compared as itself
class Batched:
    """A movement's statement (``one``) and its form for many (``many``): the same parameters,
    each an array, and rows that start with ``n``, the request's place in the arrays from 1.
    ``encode`` turns a parameter the array cannot hold as it is into one it can. ``locked``:
    the statements must start with the accounts of their ``guild`` parameter locked."""

    one: TextClause
    many: TextClause
    encode: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)
    locked: bool = False


class Batcher:
    def __init__(self, batched: Batched, run: Run) -> None:
        self._batched = batched
        self._run = run
        self._waiting: list[tuple[Mapping[str, Any], asyncio.Future[Rows]]] = []
        self._busy = False
        self._sending: set[asyncio.Task[None]] = set()
        self.batched = 0  # requests sent in a statement for many: what the tests look at

    async def rows(self, params: Mapping[str, Any]) -> Rows:
        """The rows ``one`` gives for ``params``: from ``one`` itself, or from ``many`` (those
        that start with the request's ``n``, without it). A request that moved nothing in a
        batch gets no rows; one whose batch broke a unique key (a concurrent replay) gets none
        either, and the caller's usual path finds out what happened."""
        if self._busy:
            turn: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
            self._waiting.append((params, turn))
            return await turn
        self._busy = True
        try:
            return await self._one(params)
        finally:
            self._next()

    async def _one(self, params: Mapping[str, Any]) -> Rows:
        lock = [params["guild"]] if self._batched.locked else None
        return await self._run(self._batched.one, params, lock)

    def _next(self) -> None:
        if not self._waiting:
            self._busy = False
            return
        task = asyncio.create_task(self._send(), name="ledger-batch")
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self) -> None:
        # Taken when the task starts, not when it was made: the callers the last statement
        # answered have run by then, and what they sent next goes too.
        batch = [(p, turn) for p, turn in self._waiting[:MAX_BATCH] if not turn.done()]
        del self._waiting[:MAX_BATCH]
        try:
            if not batch:
                return
            if len(batch) == 1:
                params, turn = batch[0]
                _answer(turn, await self._one(params))
                return
            self.batched += len(batch)
            arrays = self._arrays([p for p, _ in batch])
            lock = sorted(set(arrays["guild"])) if self._batched.locked else None
            rows = await self._run(self._batched.many, arrays, lock)
            mine: dict[int, Rows] = {}
            for row in rows:
                mine.setdefault(row[0], []).append(row[1:])
            for n, (_, turn) in enumerate(batch, 1):
                _answer(turn, mine.get(n, []))
        except IntegrityError:
            for _, turn in batch:
                _answer(turn, [])
        except BaseException as exc:
            for _, turn in batch:
                if not turn.done():
                    turn.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self._next()

    def _arrays(self, requests: list[Mapping[str, Any]]) -> dict[str, list[Any]]:
        encode = self._batched.encode
        return {
            name: [encode[name](r[name]) if name in encode else r[name] for r in requests]
            for name in requests[0]
        }

    async def drain(self) -> None:
        """Wait until nothing is in flight or waiting."""
        while self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)


def _answer(turn: asyncio.Future[Rows], rows: Rows) -> None:
    if not turn.done():  # not cancelled: its caller still waits
        turn.set_result(rows)
