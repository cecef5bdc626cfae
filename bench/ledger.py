"""Ledger throughput: hold + settle pairs per second with 1, 10 and 100 concurrent workers.

    python bench/ledger.py [--seconds 5] [--postgres postgresql+asyncpg://postgres@127.0.0.1/test]

Each worker loops: pass the spending gate (cooldown, cap, balance, hold), then settle part of
it, for a fixed time. SQLite runs on a temporary file; PostgreSQL in a throw-away schema.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import tempfile
import time
import uuid
from pathlib import Path

from bot.db import Database
from bot.ledger import Ledger
from bot.migrations import upgrade
from bot.spending import Spending, SpendRequest

GUILD = 1_300_000_000_000_000_000
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


async def run(db: Database, workers: int, seconds: float) -> tuple[float, int, bool]:
    await upgrade(db)
    ledger = Ledger(db, starting_balance=10**12)
    spending = Spending(db, ledger, moderation=None)  # type: ignore[arg-type]
    counter = itertools.count()
    done = 0
    deadline = time.monotonic() + seconds

    async def worker(member: int) -> None:
        nonlocal done
        while time.monotonic() < deadline:
            n = next(counter)
            hold = await spending.hold(
                SpendRequest(GUILD, member, 10, key=f"bench:{n}", command="gpt:x", cooldown="gpt")
            )
            await ledger.settle(hold, 7)
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(m) for m in range(workers)))
    elapsed = time.monotonic() - started
    consistent = await ledger.check() == []
    return done / elapsed, done, consistent


async def sqlite_db(folder: Path, workers: int) -> Database:
    return Database(f"sqlite+aiosqlite:///{folder / f'bench-{workers}.db'}")


async def postgres_db(url: str) -> tuple[Database, str]:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = Database(url)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    await admin.close()
    return Database(url, connect_args={"server_settings": {"search_path": schema}}), schema


async def drop_schema(url: str, schema: str) -> None:
    admin = Database(url)
    async with admin.engine.begin() as conn:
        await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    await admin.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", default="1,10,100")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="'' to skip PostgreSQL")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"{'backend':<11}{'workers':>8}{'pairs/s':>10}{'pairs':>8}  ledger check")
    with tempfile.TemporaryDirectory() as folder:
        for workers in counts:
            db = await sqlite_db(Path(folder), workers)
            rate, total, ok = await run(db, workers, args.seconds)
            await db.close()
            print(
                f"{'sqlite':<11}{workers:>8}{rate:>10.0f}{total:>8}  {'ok' if ok else 'MISMATCH'}"
            )
    if args.postgres:
        for workers in counts:
            try:
                db, schema = await postgres_db(args.postgres)
            except OSError as exc:
                print(f"postgresql: not reachable ({exc}); skipped")
                break
            rate, total, ok = await run(db, workers, args.seconds)
            await db.close()
            await drop_schema(args.postgres, schema)
            verdict = "ok" if ok else "MISMATCH"
            print(f"{'postgresql':<11}{workers:>8}{rate:>10.0f}{total:>8}  {verdict}")


if __name__ == "__main__":
    asyncio.run(main())
