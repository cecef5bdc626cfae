"""Two bot processes, one shard each, on one sandbox Discord and one PostgreSQL database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database
from bot.ledger import Ledger
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def postgres_database() -> AsyncIterator[str]:
    """A throw-away PostgreSQL database (processes cannot share a test schema's search_path)."""
    name = f"atelier_shards_{uuid.uuid4().hex[:10]}"
    admin = Database(POSTGRES_URL, connect_args={})
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:
        await admin.close()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__})")
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


class BotProcess:
    def __init__(self, shard: int, config: Path, log: Path) -> None:
        self.shard, self.config, self.log = shard, config, log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        handle = self.log.open("ab")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "--config",
            str(self.config),
            stdout=handle,
            stderr=handle,
            env=env,
            cwd=ROOT,
        )
        handle.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()

    def entries(self) -> list[dict[str, Any]]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


def config_text(
    discord: DiscordSandbox, upstream: UpstreamSandbox, db: str, shard: int, guilds: list[int]
) -> str:
    return (
        f'[discord]\ntoken = "{discord.token}"\napi_base = "{discord.api_base}"\n'
        f'gateway_url = "{discord.gateway_url}"\nshard_count = 2\nshard_ids = [{shard}]\n'
        f"sync_guild_ids = {guilds}\n"
        f'[upstream]\nbase_url = "{upstream.base_url}"\napi_key = "{upstream.api_key}"\n'
        f'[database]\nurl = "{db}"\n[logging]\nformat = "json"\n'
        "[chat]\nrefresh_models = false\n"
        "[jobs]\npoll_initial = 0.1\npoll_floor = 0.05\nprogress_interval = 0.5\n"
    )


async def ready(discord: DiscordSandbox, shard: int, after: float = 0.0) -> None:
    await discord.wait_for_gateway(
        lambda f: f["event"] == "READY" and f["shard"] == [shard, 2] and f["t"] >= after,
        timeout=60,
    )


async def test_each_guild_is_served_by_exactly_one_process_and_jobs_survive_a_kill(
    tmp_path: Path, postgres_database: str
) -> None:
    async with DiscordSandbox(shard_count=2) as discord, UpstreamSandbox() as upstream:
        guilds = [discord.add_guild(name=f"guild {n}") for n in range(2)]
        by_shard = {DiscordSandbox.shard_of(g.id, 2): g for g in guilds}
        assert set(by_shard) == {0, 1}
        ids = [g.id for g in guilds]
        procs = []
        for shard in (0, 1):
            path = tmp_path / f"shard{shard}.toml"
            path.write_text(config_text(discord, upstream, postgres_database, shard, ids))
            procs.append(BotProcess(shard, path, tmp_path / f"shard{shard}.log"))
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
                entries = proc.entries()
                return [
                    e["guild"] for e in entries if e["message"] == "command credit balance done"
                ]

            await wait_until(lambda: all(done_guilds(p) for p in procs), timeout=10)
            for proc in procs:
                assert done_guilds(proc) == [by_shard[proc.shard].id]

            # A slow job in shard 1's guild; its process dies while the task runs upstream.
            upstream.midjourney.durations = (0.1, 0.1, 3.0)
            guild = by_shard[1]
            handle = await discord.slash(
                guild.id,
                guild.default_channel_id,
                members[1],
                "imagine",
                options={"prompt": "survivor"},
            )
            await handle.wait_response(timeout=20)
            await wait_until(lambda: bool(upstream.requests_to("/mj/task/list-by-condition")), 20)
            procs[1].kill()
            await procs[1].process.wait()
            restarted_at = discord.store.clock.now()
            await procs[1].start()
            await ready(discord, 1, after=restarted_at)

            def delivered() -> bool:
                return any(m.attachments for m in discord.messages(guild.default_channel_id))

            await wait_until(delivered, timeout=30)
            cards = [m for m in discord.messages(guild.default_channel_id) if m.attachments]
            assert len(cards) == 1

            def deliveries() -> list[dict[str, Any]]:
                return [e for p in procs for e in p.entries() if e["message"].startswith("job ")]

            await wait_until(lambda: bool(deliveries()), timeout=10)
            assert [(e["message"], e.get("guild")) for e in deliveries()] == [
                ("job 1 delivered (succeeded)", guild.id)
            ]
        finally:
            for proc in procs:
                await proc.stop()
        db = Database(postgres_database)
        try:
            ledger = Ledger(db, starting_balance=1000)
            assert await ledger.check() == []
            assert await ledger.open_holds() == []
            assert await ledger.balance(by_shard[1].id) == 980
        finally:
            await db.close()


async def private_reply_of(discord: DiscordSandbox, handle: Any) -> Any:
    def answered() -> bool:
        messages = discord.interaction_messages(handle)
        return bool(messages) and bool(messages[0].content)

    await wait_until(answered, timeout=20)
    return discord.interaction_messages(handle)[0]
