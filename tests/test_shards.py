"""Two bot processes, one shard each, on one sandbox Discord and one PostgreSQL database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import Database, JobRow, table
from bot.ledger import Ledger
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from tests.bot_process import BotProcess, write_config
from tests.helpers import throwaway_postgres, wait_until

JOBS = table(JobRow)
FAST_JOBS = {"poll_initial": 0.1, "poll_floor": 0.05, "progress_interval": 0.5}
# The sandbox account has $12.65 left: below this, every check finds it low.
UPSTREAM_ALERT = {"upstream_alert_usd": 20.0, "upstream_check_minutes": 0.005}


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A throw-away PostgreSQL database (processes cannot share a test schema's search_path)."""
    async with throwaway_postgres("atelier_shards") as url:
        yield url


async def ready(discord: DiscordSandbox, shard: int, after: float = 0.0) -> None:
    await discord.wait_for_gateway(
        lambda f: f["event"] == "READY" and f["shard"] == [shard, 2] and f["t"] >= after,
        timeout=60,
    )


def job_lines(proc: BotProcess, job_id: int) -> list[dict[str, Any]]:
    """Every log line of a process about one job (its context or its message)."""
    return [
        e
        for e in proc.entries()
        if e.get("job") == job_id or e.get("message", "").startswith(f"job {job_id} ")
    ]


async def deliveries(proc: BotProcess, job_id: int) -> list[tuple[int, int]]:
    """(job, guild) of each "delivered" line a process logged for a job, once it logged one."""
    await wait_until(lambda: bool(proc.logged(f"job {job_id} ")), timeout=10)
    lines = proc.logged(f"job {job_id} ")
    assert [e["message"] for e in lines] == [f"job {job_id} delivered (succeeded)"]
    return [(e["job"], e["guild"]) for e in lines]


async def jobs_by_guild(url: str) -> dict[int, list[tuple[int, int]]]:
    db = Database(url)
    try:
        async with db.read() as conn:
            rows = (await conn.execute(select(JOBS.c.id, JOBS.c.guild_id, JOBS.c.shard))).all()
    finally:
        await db.close()
    found: dict[int, list[tuple[int, int]]] = {}
    for row in rows:
        found.setdefault(row.guild_id, []).append((row.id, row.shard))
    return found


async def test_each_guild_is_served_by_exactly_one_process_and_jobs_survive_a_kill(
    tmp_path: Path, postgres_database: str
) -> None:
    async with DiscordSandbox(shard_count=2) as discord, UpstreamSandbox() as upstream:
        guilds = [discord.add_guild(name=f"guild {n}") for n in range(2)]
        by_shard = {DiscordSandbox.shard_of(g.id, 2): g for g in guilds}
        assert set(by_shard) == {0, 1}
        operator = guilds[0].owner_id
        procs = []
        for shard in (0, 1):
            config = write_config(
                tmp_path / f"shard{shard}.toml", discord, upstream, postgres_database,
                discord={"shard_count": 2, "shard_ids": [shard], "owner_ids": [operator],
                         "sync_guild_ids": [g.id for g in guilds]},
                jobs=FAST_JOBS, admin=UPSTREAM_ALERT,
            )  # fmt: skip
            procs.append(BotProcess(config, tmp_path / f"shard{shard}.log", discord, shard=shard))
        try:
            await procs[0].start()
            await ready(discord, 0)  # the first start creates the schema
            await procs[1].start()
            await ready(discord, 1)

            members = {
                shard: discord.add_member(g.id, f"member{shard}") for shard, g in by_shard.items()
            }
            for shard, guild in by_shard.items():
                handle = await discord.slash(
                    guild.id, guild.default_channel_id, members[shard], "credit balance"
                )
                await handle.wait_response(timeout=20)
                assert "credits" in (await private_reply_of(discord, handle)).content

            def done_guilds(proc: BotProcess) -> list[int]:
                return [e["guild"] for e in proc.logged("command credit balance done")]

            await wait_until(lambda: all(done_guilds(p) for p in procs), timeout=10)
            for proc in procs:
                assert done_guilds(proc) == [by_shard[proc.shard].id]

            # A job in each shard's guild at the same time: each is polled and delivered by
            # the process that owns its guild, and the other process never touches it.
            upstream.midjourney.durations = (0.1, 0.1, 0.5)
            await asyncio.gather(
                *(
                    discord.slash(g.id, g.default_channel_id, members[s], "imagine",
                                  options={"prompt": f"shard {s}"})
                    for s, g in by_shard.items()
                )
            )  # fmt: skip

            def delivered(guild: Any) -> bool:
                return any(m.attachments for m in discord.messages(guild.default_channel_id))

            await wait_until(lambda: all(delivered(g) for g in guilds), timeout=30)
            jobs = await jobs_by_guild(postgres_database)
            for shard, guild in by_shard.items():
                [(job_id, job_shard)] = jobs[guild.id]
                assert job_shard == shard
                assert await deliveries(procs[shard], job_id) == [(job_id, guild.id)]
                assert job_lines(procs[1 - shard], job_id) == []

            # The upstream account is shared: only shard 0's process watches it and tells the
            # operator, once, however many checks find it low.
            dm_channel = discord.store.dm_channel(operator).id
            await wait_until(lambda: bool(discord.messages(dm_channel)), timeout=15)

            def checks() -> int:
                return len(upstream.requests_to("/v1/dashboard/billing/subscription"))

            seen = checks()
            await wait_until(lambda: checks() > seen + 3, timeout=15)  # low every time
            [alert] = discord.messages(dm_channel)
            assert "$12.65" in alert.content
            assert not [e for e in procs[1].entries() if "upstream" in e.get("message", "")]

            # A slow job in shard 1's guild; its process dies while the task runs upstream.
            upstream.midjourney.durations = (0.1, 0.1, 3.0)
            guild = by_shard[1]
            cards_before = len([m for m in discord.messages(guild.default_channel_id)
                                if m.attachments])  # fmt: skip
            polls_before = len(upstream.requests_to("/mj/task/list-by-condition"))
            handle = await discord.slash(
                guild.id,
                guild.default_channel_id,
                members[1],
                "imagine",
                options={"prompt": "survivor"},
            )
            await handle.wait_response(timeout=20)
            await wait_until(
                lambda: len(upstream.requests_to("/mj/task/list-by-condition")) > polls_before, 20
            )
            procs[1].kill()
            await procs[1].wait()
            restarted_at = discord.store.clock.now()
            await procs[1].start()
            await ready(discord, 1, after=restarted_at)

            def survivor_cards() -> list[Any]:
                cards = [m for m in discord.messages(guild.default_channel_id) if m.attachments]
                return cards[cards_before:]

            await wait_until(lambda: bool(survivor_cards()), timeout=30)
            assert len(survivor_cards()) == 1
            survivor = max(job for job, _ in (await jobs_by_guild(postgres_database))[guild.id])
            assert await deliveries(procs[1], survivor) == [(survivor, guild.id)]
            assert job_lines(procs[0], survivor) == []
        finally:
            for proc in procs:
                await proc.stop()
        db = Database(postgres_database)
        try:
            ledger = Ledger(db, starting_balance=1000)
            assert await ledger.check() == []
            assert await ledger.open_holds() == []
            assert await ledger.balance(by_shard[0].id) == 980
            assert await ledger.balance(by_shard[1].id) == 960
        finally:
            await db.close()


async def private_reply_of(discord: DiscordSandbox, handle: Any) -> Any:
    def answered() -> bool:
        messages = discord.interaction_messages(handle)
        return bool(messages) and bool(messages[0].content)

    await wait_until(answered, timeout=20)
    return discord.interaction_messages(handle)[0]
