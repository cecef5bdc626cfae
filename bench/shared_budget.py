"""Shared write budget: two bot processes (two shards) streaming thread conversations at once.

    python bench/shared_budget.py [--n 100] [--store none,redis]

Discord's global limit (50 requests a second) belongs to the bot token, whatever the number of
processes. Each run starts one sandbox Discord (which counts that limit for the token across
both processes), one sandbox upstream, a throw-away PostgreSQL database and two real
``python -m bot run`` processes, one per shard, each serving one guild with N conversation
threads, opened first at 10 a second (a pace that needs no shared budget; not measured). Every
member then replies in their thread at once and the upstream streams each answer at a steady
pace (bench/stream.py's answers: 2,000 to 4,400 characters at 400 a second).

``none`` is each process keeping its own budget (what a bot without ``[redis] url`` does);
``redis`` shares one budget through Redis on 127.0.0.1:6379. The figures come from the sandbox
Discord's records and message history only. Needs PostgreSQL and Redis as the tests do.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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
# Opening a conversation costs the token two requests (the thread and its hint; the first
# answer goes through the interaction's webhook, outside the global limit): 10 a second keep
# two processes together well under Discord's 50 even with no shared budget, and a retry
# after a 429 room to land. The setup is not what is measured; the answers after it are.
SETUP_BATCH = 10
SETUP_SECONDS = 1.0
SETUP_PATIENCE = 30.0  # for one batch's threads, on a loaded machine
SETUP_TRIES = 3
SETTLE = 2.0


@dataclass
class Setup:
    """The unmeasured opening of the conversations: requests on the token, as the sandbox saw."""

    requests: int
    limited: int  # 429s among them
    peak: int
    seconds: float


@dataclass
class Run:
    store: str
    n: int
    measured: Measured
    global_429: int
    all_429: int
    setup: Setup
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


async def open_conversations(
    discord: DiscordSandbox,
    by_shard: dict[int, Any],
    channels: dict[int, list[int]],
    members: dict[int, list[int]],
    every: list[tuple[int, int]],
) -> dict[int, dict[int, Any]]:
    """/gpt in every (shard, i) channel, SETUP_BATCH at a time and at most one batch each
    SETUP_SECONDS; a batch is done once each of its threads holds the bot's hint. A
    conversation whose thread did not open (the bot gave up on a 429) is asked again, as a
    member would, up to SETUP_TRIES times; the bench stops if one still fails."""
    handles: dict[int, dict[int, Any]] = {0: {}, 1: {}}

    def opened(s: int, i: int) -> bool:
        # A thread takes its message's id; the bot posts a hint in it once it is open.
        thread = handles[s][i].original_message_id
        return thread is not None and bool(bot_messages(discord, thread))

    for start in range(0, len(every), SETUP_BATCH):
        batch = every[start : start + SETUP_BATCH]
        began = time.monotonic()
        for attempt in range(SETUP_TRIES):
            waiting = [(s, i) for s, i in batch if i not in handles[s] or not opened(s, i)]
            if not waiting:
                break
            for s, i in waiting:
                handles[s][i] = await discord.slash(
                    by_shard[s].id, channels[s][i], members[s][i], "gpt",
                    {"prompt": f"topic {s}-{i} ({attempt})"},
                )  # fmt: skip
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda w=waiting: all(opened(*k) for k in w), SETUP_PATIENCE)
        if not all(opened(s, i) for s, i in batch):
            statuses = Counter((r["method"], r["route"], r["status"]) for r in discord.records)
            sys.exit(f"setup: a conversation did not open in {SETUP_TRIES} tries; {statuses}")
        await asyncio.sleep(max(0.0, began + SETUP_SECONDS - time.monotonic()))
    return handles


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

            # Setup, not measured: N conversations per guild, each opened by /gpt with a short
            # first answer. Members arrive at a pace both processes together can serve inside
            # the global limit even without a shared budget; what is measured comes after.
            upstream.chat.reply = "A short first answer; the conversation continues below."
            every = [(s, i) for i in range(n) for s in (0, 1)]
            token = f"Bot {discord.settings.token}"
            setup_from, setup0 = len(discord.records), time.monotonic()
            handles = await open_conversations(discord, by_shard, channels, members, every)
            setup_seconds = time.monotonic() - setup0
            # Whatever the setup still has in flight (a retry after a 429) leaves the token's
            # second before the measured part starts on a clean slate.
            await asyncio.sleep(SETTLE)
            records_before = len(discord.records)
            setup = [r for r in discord.records[setup_from:records_before] if r["auth"] == token]

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
            shards = {str(c): s for s, cs in channels.items() for c in cs}
            shards.update({str(threads[k]): k[0] for k in every})
            return Run(
                store,
                2 * n,
                measured,
                sum(1 for r in during if r["status"] == 429 and r["is_global"]),
                sum(1 for r in during if r["status"] == 429),
                Setup(
                    len(setup),
                    sum(1 for r in setup if r["status"] == 429),
                    busiest_second([r["t"] for r in setup]),
                    setup_seconds,
                ),
                wall,
                busiest_second([r["t"] for r in during if r["auth"] == token]),
                Counter(
                    (f"{r['method']} {r['route']}", shard_of_path(r["path"], shards))
                    for r in during
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
        up = row.setup
        print(f"{row.store}: setup (not measured) opened {row.n} conversations in "
              f"{up.seconds:.0f} s: {up.requests} requests on the token, busiest second "
              f"{up.peak}, {up.limited} x 429")  # fmt: skip
        # While the answers streamed: which route and which process (shard) each 429 came from.
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
