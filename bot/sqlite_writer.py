"""SQLite's one writer, as a thread that runs whole transactions.

Through aiosqlite every statement, fetch, BEGIN and COMMIT is a round trip between the event loop
and the driver's thread; a hold and its settle took 77 of them. Here a unit of work is a plain
function run in this thread with the standard driver: one hop per transaction. Work that queues
up while a transaction runs is committed together in the next one (group commit), each unit in
its own SAVEPOINT, so one that fails (not enough credit) rolls back alone and the others stand.

The thread is the writer's own, fed through a plain queue and answering through
``call_soon_threadsafe``: a hop through ``run_in_executor`` cost 97 µs here against 38, and a
hold and its settle are two hops each. No task runs the batches: the turn to write
(bot/sqlite_turns.py) starts one, and the thread's answer sets each unit's future and starts
the next, so a unit costs its caller one wake-up. With a task draining the queue it was four,
and an empty unit took 190 µs.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from bot.sqlite_checkpoints import Checkpointer
from bot.sqlite_turns import WriteTurns

T = TypeVar("T")
# A batch larger than this waits for the next transaction: it bounds how long the first unit
# of a batch waits for its commit.
MAX_BATCH = 200

_Outcome = tuple[bool, Any]  # (succeeded, result or exception)
_Done = Callable[[_Outcome], None]
# What the thread is handed: a call to make, and where to answer (None: stop).
_Task = tuple[Callable[[], Any], asyncio.AbstractEventLoop, _Done] | None
_Unit = tuple[Callable[[Connection], Any], asyncio.Future[Any]]


class _Thread:
    """One thread that runs calls in order and hands each outcome to its loop."""

    def __init__(self, name: str) -> None:
        self._calls: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any], done: _Done) -> None:
        """Run ``fn`` in the thread; ``done(outcome)`` is then called in this event loop."""
        self._calls.put((fn, asyncio.get_running_loop(), done))

    def call(self, fn: Callable[[], T]) -> asyncio.Future[T]:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.submit(fn, lambda outcome: _settle(future, outcome))
        return future

    def _serve(self) -> None:
        while (task := self._calls.get()) is not None:
            fn, loop, done = task
            try:
                outcome: _Outcome = (True, fn())
            except BaseException as exc:  # handed to the caller, as run_in_executor does
                outcome = (False, exc)
            try:
                loop.call_soon_threadsafe(done, outcome)
            except RuntimeError:
                pass  # the loop is closed: nobody is left to answer

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join()


def _settle(future: asyncio.Future[Any], outcome: _Outcome) -> None:
    if future.done():  # cancelled: the caller is gone
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def _driver_sql(driver: sqlite3.Connection, sql: str) -> None:
    try:
        driver.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, (), exc, sqlite3.Error) from exc


def _end(conn: Connection, driver: sqlite3.Connection, *, commit: bool) -> None:
    """Commit or roll back the batch's transaction. A unit whose statement went through
    SQLAlchemy made it begin (``_configure_sqlite``'s listener then sends no BEGIN of its own),
    and it ends its transaction itself, so that it knows it is over."""
    if conn.in_transaction():
        conn.commit() if commit else conn.rollback()
    else:
        _driver_sql(driver, "COMMIT" if commit else "ROLLBACK")


class SQLiteWriter:
    """Runs ``work(connection)`` units in one thread; ``turns`` are shared with every other
    SQLite writer of the process (``Database.transaction``)."""

    def __init__(self, engine: Engine, turns: WriteTurns) -> None:
        self.engine = engine
        self.turns = turns
        self._thread = _Thread("sqlite-writer")
        self._conn: Connection | None = None
        self._queue: deque[_Unit] = deque()
        self._busy = False  # a batch runs, or waits for the turn
        self._closed = False
        self._idle: asyncio.Future[None] | None = None  # what ``close`` waits for
        self.checkpoints = Checkpointer(engine)

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` as (part of) one transaction; its exception means it was rolled back.

        Cancelled before its batch starts, the unit never runs; cancelled after, it still
        commits or rolls back whole, as the thread cannot be interrupted mid-transaction."""
        if self._closed:
            raise RuntimeError("the SQLite writer is closed")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if not self._busy:
            self._busy = True
            self.turns.take(self._start)
        return await future

    def _start(self) -> None:
        """With the turn: the next batch to the thread, or the turn back if none is left."""
        batch: list[_Unit] = []
        while self._queue and len(batch) < MAX_BATCH:
            unit = self._queue.popleft()
            if not unit[1].cancelled():
                batch.append(unit)
        if not batch:
            self._busy = False
            self.turns.release()
            if self._idle is not None and not self._idle.done():
                self._idle.set_result(None)
            return
        works = [work for work, _ in batch]
        self._thread.submit(
            lambda: self._run_batch(works), lambda outcome: self._finished(batch, outcome)
        )

    def _finished(self, batch: list[_Unit], outcome: _Outcome) -> None:
        ran, value = outcome
        # Not ran: the batch itself raised past its own handling (a BaseException).
        outcomes: list[_Outcome] = value if ran else [(False, value)] * len(batch)
        for (_, future), unit_outcome in zip(batch, outcomes, strict=True):
            _settle(future, unit_outcome)
        # After the callers just woken have run: what they queue next joins the next batch.
        asyncio.get_running_loop().call_soon(self._again)

    def _again(self) -> None:
        self.turns.release()  # a transaction waiting goes first; then the next batch
        self.turns.take(self._start)

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
        driver = conn.connection.dbapi_connection
        assert isinstance(driver, sqlite3.Connection)
        try:
            # BEGIN and COMMIT straight on the driver: through SQLAlchemy's transaction they
            # cost as much as a settle's statements.
            _driver_sql(driver, "BEGIN IMMEDIATE")
            try:
                outcomes = self._run_units(conn, works)
                _end(conn, driver, commit=True)
            finally:
                if driver.in_transaction:  # a unit, or the COMMIT, failed
                    _end(conn, driver, commit=False)
        except Exception as exc:
            # The unit alone (its own exception), or the COMMIT of the whole batch failed.
            return [(False, exc)] * len(works)
        self.checkpoints.wrote(len(works))
        return outcomes

    @staticmethod
    def _run_units(conn: Connection, works: list[Callable[[Connection], Any]]) -> list[_Outcome]:
        if len(works) == 1:
            return [(True, works[0](conn))]
        # Savepoints straight on the driver: through SQLAlchemy they cost as much as the
        # unit's own statements.
        driver = conn.connection.dbapi_connection
        assert driver is not None
        outcomes: list[_Outcome] = []
        for work in works:
            driver.execute("SAVEPOINT unit")
            try:
                outcomes.append((True, work(conn)))
            except Exception as exc:
                driver.execute("ROLLBACK TO unit")
                outcomes.append((False, exc))
            driver.execute("RELEASE unit")
        return outcomes

    async def close(self) -> None:
        """Finish what is queued, then stop; a unit run after this fails."""
        self._closed = True
        if self._busy:
            self._idle = asyncio.get_running_loop().create_future()
            await self._idle
        self.checkpoints.stop()
        # The connection belongs to the thread: close it there.
        await self._thread.call(self._close_now)
        self._thread.stop()

    def _close_now(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()
