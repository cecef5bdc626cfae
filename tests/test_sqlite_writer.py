"""SQLite's writer (bot/sqlite_writer.py) and the turns it shares with transactions on aiosqlite
connections (bot/sqlite_turns.py): first come, first served, nothing left waiting, the batches'
checkpoints off the writer's thread (bot/sqlite_checkpoints.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.db import Database
from bot.sqlite_checkpoints import EVERY_UNITS


async def made(tmp_path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    async with db.transaction() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY, who TEXT)"))
    return db


def insert(n: int, who: str):  # type: ignore[no-untyped-def]
    return lambda conn: conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)", (n, who)).rowcount


async def rows(db: Database) -> list[tuple[int, str]]:
    async with db.read() as conn:
        return [tuple(r) for r in await conn.execute(text("SELECT n, who FROM t ORDER BY n"))]


async def test_units_and_transactions_take_turns_in_order(tmp_path: Path) -> None:
    db = await made(tmp_path)
    try:
        order: list[str] = []
        entered = asyncio.Event()
        leave = asyncio.Event()

        async def long_transaction() -> None:
            async with db.transaction() as conn:
                entered.set()
                await conn.execute(text("INSERT INTO t VALUES (0, 'tx')"))
                await leave.wait()
            order.append("tx")

        async def unit(n: int) -> None:
            await db.write(insert(n, "unit"))
            order.append(f"unit {n}")

        async def second_transaction() -> None:
            async with db.transaction() as conn:
                await conn.execute(text("INSERT INTO t VALUES (100, 'tx2')"))
            order.append("tx2")

        first = asyncio.create_task(long_transaction())
        await entered.wait()
        units = [asyncio.create_task(unit(n)) for n in range(1, 21)]
        await asyncio.sleep(0)
        second = asyncio.create_task(second_transaction())
        await asyncio.sleep(0.05)
        assert order == []  # everyone waits for the transaction that holds the turn
        leave.set()
        await asyncio.gather(first, second, *units)
        # The units queued first went first, as one batch; the later transaction after them.
        assert order[0] == "tx" and order[-1] == "tx2"
        assert len(await rows(db)) == 22
    finally:
        await db.close()


async def test_a_cancelled_waiter_leaves_the_turn_to_the_next(tmp_path: Path) -> None:
    db = await made(tmp_path)
    try:
        holding = asyncio.Event()
        leave = asyncio.Event()

        async def holder() -> None:
            async with db.transaction():
                holding.set()
                await leave.wait()

        async def waiter() -> None:
            async with db.transaction() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1, 'never')"))

        first = asyncio.create_task(holder())
        await holding.wait()
        cancelled = asyncio.create_task(waiter())
        unit = asyncio.create_task(db.write(insert(2, "unit")))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        leave.set()
        assert await asyncio.wait_for(unit, 10) == 1
        await first
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await rows(db) == [(2, "unit")]
        await asyncio.wait_for(db.write(insert(3, "after")), 10)  # the turn is free again
    finally:
        await db.close()


async def test_a_failing_unit_rolls_back_alone_in_its_batch(tmp_path: Path) -> None:
    db = await made(tmp_path)
    try:
        outcomes = await asyncio.gather(
            *(db.write(insert(n, "ok")) for n in range(10)),
            db.write(insert(3, "duplicate")),
            return_exceptions=True,
        )
        assert outcomes[:10] == [1] * 10
        assert isinstance(outcomes[10], Exception)
        assert [who for _, who in await rows(db)] == ["ok"] * 10
    finally:
        await db.close()


async def test_checkpoints_run_beside_the_writer_and_close_finishes_the_queue(
    tmp_path: Path,
) -> None:
    db = await made(tmp_path)
    writer = db._writer
    assert writer is not None
    for n in range(3 * EVERY_UNITS):
        await db.write(insert(n, "unit"))
    await asyncio.sleep(0)
    # Every EVERY_UNITS units the checkpointer is due; it runs in its own thread.
    for _ in range(500):
        if writer.checkpoints.done >= 1:
            break
        await asyncio.sleep(0.01)
    assert writer.checkpoints.done >= 1
    queued = [asyncio.create_task(db.write(insert(10_000 + n, "last"))) for n in range(5)]
    await asyncio.sleep(0)
    await db.close()  # waits for what is queued
    assert [t.result() for t in queued] == [1] * 5
    with pytest.raises(RuntimeError, match="closed"):
        await writer.run(insert(1, "too late"))
    reopened = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        assert len(await rows(reopened)) == 3 * EVERY_UNITS + 5
    finally:
        await reopened.close()
