"""Acknowledgement benchmark: how long N members wait for "thinking…" under slow dependencies.

    python bench/ack.py                      # N = 1, 50, 200; /gpt and /imagine; SQLite, PostgreSQL
    python bench/ack.py --old 9628317        # the same, and the code of that commit beside it
    python bench/ack.py --n 200 --db sqlite --command gpt

Each (command, N, database) runs in a fresh ``SandboxWorld`` in a child process: the real bot,
the sandbox Discord with Discord's 3-second acknowledgement deadline and 80 ms added to every
REST answer, the sandbox upstream. Before the N interactions arrive (all at once, N members),
every dependency that can be slow is made slow: the guild has moderation on and the moderation
service answers after 3.5 s; the low-balance alert channel answers its post with a 429 asking
to retry after 3.5 s (the first hold posts it); another transaction holds the database writer
(on PostgreSQL, the guild's account row every hold locks) for 2 s from the moment they arrive.

The figure is the time from the interaction's creation to the arrival of its first callback
(a defer or a reply) at the sandbox Discord, which is what Discord judges its deadline by; a
callback after 3 s is refused (404/10062) and counted as missed. ``--old REV`` runs the same
scenarios against ``git archive REV`` with today's ``bot/sandbox`` laid over it, in the same
run: the sandbox is the outside world, not the code measured, and imports none of the bot
(tests/test_sandbox_outside.py); each side fails if any of its bot modules came from the other
tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEADLINE = 3.0
MODERATION_DELAY = 3.5
ALERT_RETRY_AFTER = 3.5
WRITER_HELD = 2.0
ROUND_TRIP = 0.08
FAST_JOBS = {"poll_initial": 0.5, "poll_max": 2.0, "poll_floor": 0.1, "progress_interval": 5.0}
OPTIONS = {"gpt": {"prompt": "hello there"}, "imagine": {"prompt": "a red fox in snow"}}


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


async def scenario(command: str, n: int) -> dict[str, Any]:
    """One run in this process; ``ATELIER_SANDBOX_DATABASE`` picks the database."""
    from sqlalchemy import select

    from bot.db import GuildAccount, table
    from bot.sandbox.world import SandboxWorld

    accounts = table(GuildAccount)
    config = {
        "chat": {"refresh_models": False, "edit_interval": 0.5},
        "jobs": FAST_JOBS,
        "credit": {"starting_balance": 10**9},
        # Many members at once is what is measured, not the per-member limits.
        "limits": {"requests_per_minute": 0, "concurrent": 0},
    }
    async with SandboxWorld(config=config) as w:
        services = w.services
        members = [w.add_member(f"m{i}") for i in range(n)]
        alerts = w.discord.add_channel(w.guild_id, "alerts")
        await services.policies.set_moderation(w.guild_id, True, None)
        await services.policies.set_alert(w.guild_id, alerts, 10**12)
        w.discord.inject(
            "POST", rf"^/channels/{alerts}/messages$", status=429, retry_after=ALERT_RETRY_AFTER
        )
        w.upstream.moderation.delay = MODERATION_DELAY
        w.upstream.midjourney.durations = (0.0, 0.0, 0.0)
        w.discord.latency = ROUND_TRIP
        assert w.discord.settings.interaction_ack_deadline == DEADLINE
        taken = asyncio.Event()

        async def hold_writer() -> None:
            async with services.db.transaction() as conn:
                await services.ledger.ensure_in(conn, w.guild_id)
                query = select(accounts.c.balance).where(accounts.c.guild_id == w.guild_id)
                await conn.execute(query.with_for_update())
                taken.set()
                await asyncio.sleep(WRITER_HELD)

        writer = asyncio.create_task(hold_writer())
        await taken.wait()
        handles = await asyncio.gather(
            *(
                w.discord.slash(w.guild_id, w.channel_id, m, command, OPTIONS[command])
                for m in members
            )
        )
        await writer
        # Late callbacks are refused, and some never come: wait for all at once, bounded.
        patience = DEADLINE + ALERT_RETRY_AFTER + MODERATION_DELAY + 5
        await asyncio.gather(
            *(handle.wait_response(timeout=patience) for handle in handles),
            return_exceptions=True,
        )
        waits: list[float] = []
        missed = 0
        for handle in handles:
            calls = [
                r
                for r in w.discord.records
                if f"/interactions/{handle.id}/" in r["path"] and r["method"] == "POST"
            ]
            if not calls:
                missed += 1
                waits.append(float("inf"))
                continue
            waits.append(calls[0]["t"] - handle.created_at)
            missed += calls[0].get("code") == 10062
        return {
            "command": command,
            "n": n,
            "db": "postgres" if services.db.url.startswith("postgresql") else "sqlite",
            "p50": pct(waits, 0.5),
            "p99": pct(waits, 0.99),
            "max": max(waits),
            "missed": missed,
        }


def child(commands: Sequence[str], ns: Sequence[int], dbs: Sequence[str]) -> None:
    """Run every scenario here and print one JSON line each (what ``main`` collects)."""
    logging.basicConfig(level=logging.CRITICAL)
    for db in dbs:
        os.environ["ATELIER_SANDBOX_DATABASE"] = db
        for command in commands:
            for n in ns:
                print(json.dumps(asyncio.run(scenario(command, n))), flush=True)
    # The editable install of today's tree stays on the import path: a module the measured tree
    # lacks would quietly come from today's code, and the "old" figures would be a mixture.
    tree = Path.cwd().resolve()
    foreign = sorted(
        f"{name} ({module.__file__})"
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("bot", "cogs")
        and getattr(module, "__file__", None)
        and not Path(module.__file__).resolve().is_relative_to(tree)
    )
    if foreign:
        raise SystemExit(f"modules from outside the measured tree {tree}: {', '.join(foreign)}")


def old_tree(rev: str, into: Path) -> Path:
    """``rev``'s code with today's sandbox over it."""
    archive = into / "old.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "-C", str(ROOT), "archive", rev], stdout=out, check=True)
    tree = into / "old"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    # The harness that starts the bot (world.py) belongs to the bot it starts; the rest of the
    # sandbox is the outside world, today's.
    harness = (tree / "bot" / "sandbox" / "world.py").read_bytes()
    shutil.rmtree(tree / "bot" / "sandbox")
    shutil.copytree(ROOT / "bot" / "sandbox", tree / "bot" / "sandbox")
    (tree / "bot" / "sandbox" / "world.py").write_bytes(harness)
    return tree


def run(label: str, path: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    env = {**os.environ, "PYTHONPATH": str(path)}
    command = [sys.executable, __file__, "--child", "--n", *map(str, args.n),
               "--command", *args.command, "--db", *args.db]  # fmt: skip
    done = subprocess.run(command, env=env, cwd=path, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"the {label} run failed (exit {done.returncode})")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return [{**row, "code": label} for row in rows]


def fmt(seconds: float) -> str:
    return "—" if seconds == float("inf") else f"{seconds:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--command", nargs="+", default=["gpt", "imagine"], choices=OPTIONS)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--old", metavar="REV", help="also measure this commit's code")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.command, args.n, args.db)
        return
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="atelier-ack-") as tmp:
        if args.old:
            rows += run(f"old ({args.old})", old_tree(args.old, Path(tmp)), args)
        rows += run("new", ROOT, args)
    print("| code | db | command | N | p50 (s) | p99 (s) | max (s) | missed the 3 s deadline |")
    print("|---|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (r["db"], r["command"], r["n"], r["code"] != "new")):
        print(f"| {row['code']} | {row['db']} | /{row['command']} | {row['n']} | "
              f"{fmt(row['p50'])} | {fmt(row['p99'])} | {fmt(row['max'])} | "
              f"{row['missed']}/{row['n']} |")  # fmt: skip


if __name__ == "__main__":
    main()
