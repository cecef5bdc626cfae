"""Ledger throughput, old code beside new: hold + settle pairs per second at 1, 10, 100 workers.

    python bench/ledger.py [--seconds 3] [--base 9628317] [--postgres URL or ''] [--concurrent 3]
        [--backends sqlite,postgresql] [--workers 1,10,100]

Each worker loops: pass the spending gate (cooldown, cap, balance, hold), then settle 7 of the 10
held, for a fixed time. With ``--concurrent N`` the gate also counts running holds
(``limits.concurrent``, 3 in a default config; each worker is its own member). The old code is
the base commit's ``bot`` package, taken from git into a temporary folder at bench time; each
side runs in its own process with the same arguments.
The CPU columns are the process's CPU time per pair (all threads), which load from other
processes changes least. After each run the balance must equal the opening balance minus 7 per
pair (no lost update) and ``ledger check`` must find nothing. SQLite runs on a temporary file;
PostgreSQL in a throw-away schema.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUILD = 1_300_000_000_000_000_000
OPENING = 10**12
HELD, CHARGED = 10, 7
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_BASE = "9628317"  # the ledger before issue 14


async def measure(url: str, workers: int, seconds: float, concurrent: int) -> dict[str, object]:
    """One side's run, in this process, with whichever ``bot`` package is on the path."""
    from bot.db import Database
    from bot.ledger import Ledger
    from bot.migrations import upgrade
    from bot.spending import Spending, SpendRequest

    schema = None
    if url.startswith("postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = Database(url)
        async with admin.engine.begin() as conn:
            await conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        await admin.close()
        db = Database(url, connect_args={"server_settings": {"search_path": schema}})
    else:
        db = Database(url)
    try:
        await upgrade(db)
        ledger = Ledger(db, starting_balance=OPENING)
        limiter = None
        if concurrent:
            from bot.config import LimitsConfig
            from bot.member_limits import MemberLimiter

            limiter = MemberLimiter(LimitsConfig(requests_per_minute=0, concurrent=concurrent))
        spending = Spending(db, ledger, moderation=None, limiter=limiter)  # type: ignore[arg-type]
        counter = itertools.count()
        done = 0
        deadline = time.monotonic() + seconds

        async def worker(member: int) -> None:
            nonlocal done
            while time.monotonic() < deadline:
                request = SpendRequest(
                    GUILD, member, HELD, key=f"bench:{next(counter)}", command="gpt:x",
                    cooldown="gpt",
                )  # fmt: skip
                await ledger.settle(await spending.hold(request), CHARGED)
                done += 1

        started, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(*(worker(m) for m in range(workers)))
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        balance = await ledger.balance(GUILD)
        return {
            "rate": done / elapsed,
            # This process's CPU time (every thread) per pair: what a loaded machine changes
            # least, and what bounds the rate on an idle one.
            "cpu_ms": 1000 * cpu / max(done, 1),
            "pairs": done,
            "lost": (OPENING - CHARGED * done) - balance,  # credits moved but not recorded
            "check": await ledger.check() == [],
        }
    finally:
        await db.close()
        if schema:
            admin = Database(url)
            async with admin.engine.begin() as conn:
                await conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            await admin.close()


def extract_base(revision: str, folder: Path) -> Path:
    """The base commit's ``bot`` package, from git, into ``folder``."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "bot"], check=True, capture_output=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run_side(
    code: Path, url: str, workers: int, seconds: float, concurrent: int
) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    out = subprocess.run(
        [sys.executable, __file__, "--one", url, "--workers", str(workers),
         "--seconds", str(seconds), "--concurrent", str(concurrent)],
        check=True, capture_output=True, text=True, env=env, cwd=code,
    ).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--workers", default="1,10,100")
    parser.add_argument("--base", default=DEFAULT_BASE, help="git revision of the old code")
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="'' to skip PostgreSQL")
    parser.add_argument("--backends", default="sqlite,postgresql", help="which to measure")
    parser.add_argument("--concurrent", type=int, default=0, help="limits.concurrent (0: none)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # one side's run, in a child process
    args = parser.parse_args()
    if args.one:
        result = measure(args.one, int(args.workers), args.seconds, args.concurrent)
        print(json.dumps(asyncio.run(result)))
        return
    counts = [int(w) for w in args.workers.split(",")]
    print(
        f"old = {args.base}, new = the working tree; {args.seconds:g} s per run; "
        f"limits.concurrent = {args.concurrent or 'none'}"
    )
    print(
        f"{'backend':<11}{'workers':>8}{'old/s':>8}{'new/s':>8}{'ratio':>7}"
        f"{'old cpu':>9}{'new cpu':>9}  lost  ledger check"
    )
    with tempfile.TemporaryDirectory() as folder:
        old = extract_base(args.base, Path(folder) / "old")
        for backend in args.backends.split(","):
            if backend == "postgresql" and not args.postgres:
                break
            for workers in counts:
                results = []
                for side, code in (("old", old), ("new", ROOT)):
                    url = args.postgres
                    if backend == "sqlite":
                        url = f"sqlite+aiosqlite:///{Path(folder) / f'{side}-{workers}.db'}"
                    try:
                        results.append(run_side(code, url, workers, args.seconds, args.concurrent))
                    except subprocess.CalledProcessError as exc:
                        last = (exc.stderr or "").strip().splitlines()[-1:] or ["?"]
                        print(f"{backend}: {side} side failed: {last[0]}")
                        return
                before, after = results
                lost = f"{before['lost']}/{after['lost']}"
                checks = "/".join("ok" if r["check"] else "MISMATCH" for r in results)
                ratio = after["rate"] / max(before["rate"], 1e-9)  # type: ignore[operator]
                print(
                    f"{backend:<11}{workers:>8}{before['rate']:>8.0f}{after['rate']:>8.0f}"
                    f"{ratio:>6.1f}x{before['cpu_ms']:>7.2f}ms{after['cpu_ms']:>7.2f}ms"
                    f"  {lost:<5} {checks}"
                )


if __name__ == "__main__":
    main()
