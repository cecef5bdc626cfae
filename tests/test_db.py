"""The database layer itself: what a cancelled unit of work leaves behind."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from bot.db import Database

# An UPDATE that keeps SQLite busy for a good fraction of a second after it has taken the write
# lock, so that a task can be cancelled while its statement is still running.
SLOW_UPDATE = text(
    "UPDATE slow SET x = (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
    "WHERE n < 2000000) SELECT max(n) FROM c) RETURNING x"
)


async def test_a_write_cancelled_mid_statement_does_not_keep_the_lock(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'atelier.db'}")
    try:
        async with db.transaction() as conn:
            await conn.execute(text("CREATE TABLE slow (x INTEGER)"))
            await conn.execute(text("INSERT INTO slow VALUES (0)"))

        async def slow_write() -> None:
            async with db.transaction() as conn:
                await conn.execute(SLOW_UPDATE)

        task = asyncio.create_task(slow_write())
        await asyncio.sleep(0.05)  # the statement is running in the driver's thread
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        # The next writer gets the lock at once (not after the 30 s busy timeout), and the
        # cancelled update was rolled back.
        async with asyncio.timeout(5):
            async with db.transaction() as conn:
                await conn.execute(text("UPDATE slow SET x = x + 1"))
        async with db.read() as conn:
            assert await conn.scalar(text("SELECT x FROM slow")) == 1
    finally:
        await db.close()
