"""SQLite's one writer, as a thread that runs whole transactions.

Through aiosqlite every statement, fetch, BEGIN and COMMIT is a round trip between the event loop
and the driver's thread; a hold and its settle took 77 of them. Here a unit of work is a plain
function run in this thread with the standard driver: one hop per transaction. Work that queues
up while a transaction runs is committed together in the next one (group commit), each unit in
its own SAVEPOINT, so one that fails (not enough credit) rolls back alone and the others stand.

The thread is the writer's own, fed through a plain queue and answering through
``call_soon_threadsafe``: a hop through ``run_in_executor`` cost 97 µs here against 38, and a
hold and its settle are two hops each.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")
# A batch larger than this waits for the next transaction: it bounds how long the first unit
# of a batch waits for its commit.
MAX_BATCH = 200

_Outcome = tuple[bool, Any]  # (succeeded, result or exception)
# What the thread is handed: a call to make, and the future that gets its result (None: stop).
_Task = tuple[Callable[[], Any], asyncio.Future[Any]] | None


class _Thread:
    """One thread that runs calls in order and sets each one's asyncio future."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls.put((fn, future))
        return future

    def _serve(self) -> None:
        while (task := self._calls.get()) is not None:
            fn, future = task
            try:
                outcome: _Outcome = (True, fn())
            except BaseException as exc:  # handed to the caller, as run_in_executor does
                outcome = (False, exc)
            future.get_loop().call_soon_threadsafe(_settle, future, outcome)

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join()


def _settle(future: asyncio.Future[Any], outcome: _Outcome) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class SQLiteWriter:
    """Runs ``work(connection)`` units in one thread; ``lock`` is the asyncio lock every other
    SQLite writer of the process takes too (``Database.transaction``)."""

    def __init__(self, engine: Engine, lock: asyncio.Lock) -> None:
        self.engine = engine
        self.lock = lock
        self._thread = _Thread("sqlite-writer")
        self._conn: Connection | None = None
        self._queue: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` as (part of) one transaction; its exception means it was rolled back.

        Cancelled before its batch starts, the unit never runs; cancelled after, it still
        commits or rolls back whole, as the thread cannot be interrupted mid-transaction."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="sqlite-writer")
        return await future

    async def _drain(self) -> None:
        try:
            await self._drain_batches()
        except BaseException as exc:
            # The thread is gone (closed) or this task was cancelled: no caller may wait forever.
            failed, self._queue = self._queue, []
            for _, future in failed:
                if not future.done():
                    future.set_exception(RuntimeError(f"the SQLite writer stopped: {exc!r}"))
            if not isinstance(exc, Exception):
                raise  # cancellation goes on; an error has been handed to every caller

    async def _drain_batches(self) -> None:
        while self._queue:
            batch = [(w, f) for w, f in self._queue[:MAX_BATCH] if not f.cancelled()]
            del self._queue[:MAX_BATCH]
            if not batch:
                continue
            try:
                async with self.lock:
                    works = [w for w, _ in batch]
                    job = self._thread.call(lambda works=works: self._run_batch(works))
                    # Shielded: the thread finishes what it started.
                    outcomes = await asyncio.shield(job)
            except BaseException:
                self._queue[:0] = batch  # their callers are told below, by _drain
                raise
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _connection(self) -> Connection:
        # Kept open between transactions: a pool checkout and its reset-on-return rollback
        # cost more than a small transaction itself.
        if self._conn is None or self._conn.invalidated:
            if self._conn is not None:
                self._conn.close()
            self._conn = self.engine.connect()
        return self._conn

    def _run_batch(self, works: list[Callable[[Connection], Any]]) -> list[_Outcome]:
        conn = self._connection()
        outcomes: list[_Outcome] = []
        try:
            with conn.begin():
                if len(works) == 1:
                    return [(True, works[0](conn))]
                # Savepoints straight on the driver: through SQLAlchemy they cost as much as
                # the unit's own statements.
                driver = conn.connection.dbapi_connection
                assert driver is not None
                for work in works:
                    driver.execute("SAVEPOINT unit")
                    try:
                        outcomes.append((True, work(conn)))
                    except Exception as exc:
                        driver.execute("ROLLBACK TO unit")
                        outcomes.append((False, exc))
                    driver.execute("RELEASE unit")
        except Exception as exc:
            # The unit alone (its own exception), or the COMMIT of the whole batch failed.
            return [(False, exc)] * len(works)
        return outcomes

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._drainer is not None:
                await self._drainer
        # The connection belongs to the thread: close it there.
        await self._thread.call(self._close_now)
        self._thread.stop()

    def _close_now(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()
