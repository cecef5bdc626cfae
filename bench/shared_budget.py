"""Shared write budget: two bot processes (two shards) streaming thread conversations at once.

    python bench/shared_budget.py [--n 100] [--store none,redis]

Discord's global limit (50 requests a second) belongs to the bot token, whatever the number of
processes. Each run starts one sandbox Discord (which counts that limit for the token across
both processes), one sandbox upstream, a throw-away PostgreSQL database and two real
``python -m bot run`` processes, one per shard, each serving one guild with N conversation
threads. Every member then replies in their thread at once and the upstream streams each answer
at a steady pace (bench/stream.py's answers: 2,000 to 4,400 characters at 400 a second).

``none`` is each process keeping its own budget (what a bot without ``[redis] url`` does);
``redis`` shares one budget through Redis on 127.0.0.1:6379. The figures come from the sandbox
Discord's records and message history only. Needs PostgreSQL and Redis as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the test helpers start the bot processes

from bench.stream import (  # noqa: E402
    CHUNK_CHARS,
    LENGTHS,
    MIN_CHARS,
    PACE,
    STEP_CHARS,
    Measured,
    is_final,
    last_user_text,
    measure,
    pair_up,
    pct,
    reply_for,
)
from bot.sandbox.discord import DiscordSandbox, Message  # noqa: E402
from bot.sandbox.upstream import UpstreamSandbox  # noqa: E402
from tests.bot_process import BotProcess, write_config  # noqa: E402
from tests.helpers import throwaway_postgres, wait_until  # noqa: E402

REDIS_URL = os.environ.get("ATELIER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ANSWER_TIMEOUT = 240.0
SETUP_TIMEOUT = 300.0
SETUP_BATCH = 10


@dataclass
class Run:
    store: str
    n: int
    measured: Measured
    global_429: int
    all_429: int
    setup_429: int
    wall: float
    peak: int  # the most requests on the token in any one second (sliding), as the sandbox saw
    limited: Counter[tuple[str, int | None]]  # 429s by route and the shard that earned them


def busiest_second(times: list[float]) -> int:
    times = sorted(times)
    start, peak = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - 1.0:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def shard_of_path(path: str, shards: dict[str, int]) -> int | None:
    """The shard (so the process) a request came from: its channel or thread is in one guild."""
    parts = path.split("/")
    return shards.get(parts[2]) if len(parts) > 2 and parts[1] == "channels" else None


def guilds_per_shard(discord: DiscordSandbox) -> dict[int, Any]:
    """One guild in each of the two shards (a guild's shard follows from its id)."""
    found: dict[int, Any] = {}
    while len(found) < 2:
        guild = discord.add_guild(name=f"guild {len(found)}")
        found.setdefault(DiscordSandbox.shard_of(guild.id, 2), guild)
    return found


def bot_messages(discord: DiscordSandbox, channel: int, after: int = 0) -> list[Message]:
    return [
        m
        for m in discord.messages(channel)
        if m.author_id == discord.bot_user_id and m.id > after and not m.deleted
    ]


def count_429(discord: DiscordSandbox, *, is_global: bool | None = None) -> int:
    return sum(
        1
        for r in discord.records
        if r["status"] == 429 and (is_global is None or r["is_global"] == is_global)
    )


async def run(store: str, n: int, database_url: str, folder: Path) -> Run:
    # The acknowledgement deadline is widened: what is measured is the thread replies' writes,
    # and opening 2 x N conversations on a loaded machine must not fail the setup.
    sandbox = DiscordSandbox(shard_count=2, interaction_ack_deadline=30.0)
    async with sandbox as discord, UpstreamSandbox() as upstream:
        by_shard = guilds_per_shard(discord)
        channels = {s: [discord.add_channel(g.id, f"bench-{i}") for i in range(n)]
                    for s, g in by_shard.items()}  # fmt: skip
        members = {s: [discord.add_member(g.id, f"member-{s}-{i}") for i in range(n)]
                   for s, g in by_shard.items()}  # fmt: skip
        procs = []
        for shard in (0, 1):
            sections: dict[str, dict[str, Any]] = {
                "discord": {"shard_count": 2, "shard_ids": [shard],
                            "sync_guild_ids": [g.id for g in by_shard.values()]},
                "credit": {"starting_balance": 10_000_000},
                "limits": {"requests_per_minute": 0, "concurrent": 0},
            }  # fmt: skip
            if store == "redis":
                sections["redis"] = {"url": REDIS_URL}
            config = write_config(
                folder / f"{store}-{shard}.toml", discord, upstream, database_url, **sections
            )
            procs.append(BotProcess(config, folder / f"{store}-{shard}.log", discord, shard=shard))
        try:
            for proc in procs:  # one after the other: the first start creates the schema
                await proc.start()

            # Setup, not measured: N conversations per guild, opened by /gpt with a short
            # first answer, a few at a time (what is measured is the thread replies after).
            upstream.chat.reply = "A short first answer; the conversation continues below."
            every = [(s, i) for i in range(n) for s in (0, 1)]
            handles: dict[int, dict[int, Any]] = {0: {}, 1: {}}
            for start in range(0, len(every), SETUP_BATCH):
                batch = every[start : start + SETUP_BATCH]
                for s, i in batch:
                    handles[s][i] = await discord.slash(
                        by_shard[s].id, channels[s][i], members[s][i], "gpt",
                        {"prompt": f"topic {s}-{i}"},
                    )  # fmt: skip
                await asyncio.gather(*(handles[s][i].wait_response(timeout=30) for s, i in batch))

            def hinted() -> int:
                # A thread takes its message's id; the bot posts a hint in it once it is open.
                return sum(
                    1
                    for s, i in every
                    if bot_messages(discord, handles[s][i].original_message_id or 0)
                )

            try:
                await wait_until(lambda: hinted() == len(every), timeout=SETUP_TIMEOUT)
            except TimeoutError:
                statuses = Counter((r["method"], r["route"], r["status"]) for r in discord.records)
                sys.exit(f"setup: {hinted()} of {len(every)} conversations opened; {statuses}")
            setup_429 = count_429(discord)
            records_before = len(discord.records)

            prompts = {(s, i): f"follow-up {s}-{i}" for s, i in every}
            chars = {p: MIN_CHARS + STEP_CHARS * (k * LENGTHS // len(every))
                     for k, p in enumerate(prompts.values())}  # fmt: skip
            chat = upstream.chat
            chat.reply = lambda body: reply_for(last_user_text(body), chars[last_user_text(body)])
            chat.chunk_chars, chat.pace = CHUNK_CHARS, PACE
            chat.stream_logs = []
            wall0 = time.monotonic()
            threads = {k: handles[k[0]][k[1]].original_message_id or 0 for k in every}
            asked = {
                k: await discord.post_user_message(threads[k], members[k[0]][k[1]], prompts[k])
                for k in every
            }

            def answers() -> list[list[Message]]:
                return [bot_messages(discord, threads[k], asked[k]) for k in every]

            try:
                await wait_until(lambda: all(is_final(a) for a in answers()), ANSWER_TIMEOUT)
            except (TimeoutError, AssertionError):
                pass  # counted below as incomplete
            wall = time.monotonic() - wall0
            offset = time.monotonic() - discord.clock.now()
            measured = measure(pair_up(chat.stream_logs, list(prompts.values()), answers()), offset)
            during = discord.records[records_before:]
            token = f"Bot {discord.settings.token}"
            shards = {str(c): s for s, cs in channels.items() for c in cs}
            shards.update({str(threads[k]): k[0] for k in every})
            return Run(
                store,
                2 * n,
                measured,
                sum(1 for r in during if r["status"] == 429 and r["is_global"]),
                sum(1 for r in during if r["status"] == 429),
                setup_429,
                wall,
                busiest_second([r["t"] for r in during if r["auth"] == token]),
                Counter(
                    (f"{r['method']} {r['route']}", shard_of_path(r["path"], shards))
                    for r in discord.records
                    if r["status"] == 429
                ),
            )
        finally:
            await asyncio.gather(*(p.stop() for p in procs))


HEADER = (
    "| budget | answers | complete | global 429s | all 429s | busiest second "
    "| staleness p50 / max (s) | wall (s) |\n|---|---|---|---|---|---|---|---|"
)


def table_row(r: Run) -> str:
    m = r.measured
    label = "one per process (no store)" if r.store == "none" else "shared in Redis"
    return (
        f"| {label} | {r.n} | {m.complete} | {r.global_429} | {r.all_429} | {r.peak} "
        f"| {pct(m.staleness, 50):.1f} / {max(m.staleness, default=0):.1f} | {r.wall:.0f} |"
    )


async def main(n: int, stores: Sequence[str]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for store in stores:
            async with throwaway_postgres(f"atelier_bench_{store}") as url:
                rows.append(await run(store, n, url, Path(folder)))
    print(f"2 processes x {n} thread conversations, one sandbox Discord (50/s global)")
    print(HEADER)
    for row in rows:
        print(table_row(row))
    for row in rows:
        # Setup included: which route and which process (shard) each 429 came from.
        for (route, shard), count in row.limited.most_common():
            print(f"{row.store}: {count} x 429 on {route} from shard {shard}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="conversations per process")
    parser.add_argument("--store", default="none,redis", help="none, redis, or both")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    asyncio.run(main(args.n, args.store.split(",")))
