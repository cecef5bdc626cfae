"""SIGTERM to a real ``python -m bot run`` during a stream and during a job loses nothing.

(a) an answer streaming when SIGTERM comes finishes and is charged; new commands are refused
    meanwhile; the process exits 0.
(b) a job running upstream stays in the database with its hold; the process exits at once, and
    the next start delivers it once and charges it once.
(c) an answer that outlasts ``runtime.shutdown_grace`` is cut off; its hold, which no process
    owns any more, is refunded by the orphan sweep of the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.db import Database, JobRow, table
from bot.ledger import Hold, Ledger
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from tests.bot_process import BotProcess, write_config
from tests.helpers import FAST_CHAT, wait_until

STARTING_BALANCE = 1000
JOBS = table(JobRow)
FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.3}


class Setup:
    def __init__(self, discord: DiscordSandbox, upstream: UpstreamSandbox, tmp_path: Path) -> None:
        self.discord, self.upstream = discord, upstream
        self.guild = discord.add_guild("Stopping", locale="en-US")
        self.member = discord.add_member(self.guild.id, "alice")
        self.url = f"sqlite+aiosqlite:///{tmp_path / 'atelier.db'}"
        self.tmp_path = tmp_path

    def process(self, **sections: dict[str, Any]) -> BotProcess:
        runtime = {"shutdown_grace": 20.0, **sections.pop("runtime", {})}
        config = write_config(
            self.tmp_path / "config.toml", self.discord, self.upstream, self.url,
            discord={"sync_guild_ids": [self.guild.id]},
            credit={"starting_balance": STARTING_BALANCE},
            chat=FAST_CHAT, jobs=FAST_JOBS, runtime=runtime, **sections,
        )  # fmt: skip
        return BotProcess(config, self.tmp_path / "bot.log", self.discord)

    async def slash(self, command: str, **options: Any) -> Any:
        return await self.discord.slash(
            self.guild.id, self.guild.default_channel_id, self.member, command, options or None
        )

    def texts(self, handle: Any) -> list[str]:
        return [m.content for m in self.discord.interaction_messages(handle)]

    def cards(self) -> list[Any]:
        channel = self.guild.default_channel_id
        return [m for m in self.discord.messages(channel) if m.content.startswith("🎨")]

    @contextlib.asynccontextmanager
    async def ledger(self) -> AsyncIterator[Ledger]:
        db = Database(self.url)
        try:
            yield Ledger(db, starting_balance=STARTING_BALANCE)
        finally:
            await db.close()

    async def hold(self, key: str) -> Hold:
        async with self.ledger() as ledger:
            hold = await ledger.get_hold(key)
        assert hold is not None
        return hold


@contextlib.asynccontextmanager
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with DiscordSandbox() as discord, UpstreamSandbox() as upstream:
        yield Setup(discord, upstream, tmp_path)


async def draining(bot: BotProcess) -> None:
    """The signal handler ran: from now on the process refuses new commands."""
    await wait_until(lambda: bool(bot.logged("shutting down")), timeout=10)


async def test_sigterm_during_a_stream_lets_it_finish_and_refuses_new_commands(
    tmp_path: Path,
) -> None:
    async with setup(tmp_path) as s:
        s.upstream.chat.reply = "slow words " * 40  # 55 chunks, about 3 s
        s.upstream.chat.pace = 0.05
        bot = s.process()
        await bot.start()
        try:
            answer = await s.slash("gpt", prompt="go", private=True)
            await wait_until(lambda: any("slow" in t for t in s.texts(answer)), 10)
            bot.signal(signal.SIGTERM)
            await draining(bot)
            late = await s.slash("credit balance")
            await wait_until(lambda: any(s.texts(late)), 10)
            assert "restarting" in s.texts(late)[0]
            assert not any("\n-# " in t for t in s.texts(answer))  # refused mid-stream
            assert await bot.wait(30) == 0
        finally:
            await bot.stop()
        [text] = s.texts(answer)
        assert text.startswith("slow words") and "\n-# gpt-4o-mini" in text and "▌" not in text
        hold = await s.hold(f"gpt:{answer.id}")
        assert hold.status == "settled" and hold.actual
        async with s.ledger() as ledger:
            assert await ledger.check() == []
            assert await ledger.balance(s.guild.id) == STARTING_BALANCE - hold.actual


async def test_sigterm_with_a_job_running_keeps_it_for_the_next_start(tmp_path: Path) -> None:
    async with setup(tmp_path) as s:
        s.upstream.midjourney.durations = (0.1, 0.1, 2.0)
        bot = s.process()
        await bot.start()
        try:
            job = await s.slash("imagine", prompt="a fox")
            await wait_until(lambda: bool(s.upstream.requests_to("/mj/task/list-by-condition")), 10)
            started = asyncio.get_running_loop().time()
            bot.signal(signal.SIGTERM)
            assert await bot.wait(30) == 0
            # Jobs need no grace (20 s here): they wait in the database.
            assert asyncio.get_running_loop().time() - started < 10
            async with s.ledger() as ledger:
                async with ledger.db.read() as conn:
                    [row] = (await conn.execute(select(JOBS))).all()
                assert row.status in ("pending", "running") and row.delivery == "none"
                assert [h.key for h in await ledger.open_holds()] == [f"job:{row.key}"]
            assert not any(card.attachments for card in s.cards())

            await bot.start()
            await wait_until(lambda: any(card.attachments for card in s.cards()), 20)
            await wait_until(lambda: bool(bot.logged("job 1 delivered")), 10)
        finally:
            await bot.stop()
        [card] = s.cards()
        assert len(card.attachments) == 1 and job.responded
        assert [e["message"] for e in bot.logged("job ")] == ["job 1 delivered (succeeded)"]
        assert s.upstream.midjourney.submits["IMAGINE"] == 1
        async with s.ledger() as ledger:
            assert await ledger.open_holds() == []
            assert await ledger.check() == []
            assert await ledger.balance(s.guild.id) == STARTING_BALANCE - 20


async def test_a_stream_outlasting_the_grace_is_refunded_on_the_next_start(
    tmp_path: Path,
) -> None:
    async with setup(tmp_path) as s:
        s.upstream.chat.reply = "This answer stalls half way. " * 6
        s.upstream.chat.stall_after_chars = 40
        s.upstream.chat.stall_seconds = 60
        # No answer can run longer than total_timeout + shutdown_grace + orphan_margin = 3 s:
        # a hold that old that no job owns belongs to a process that is gone.
        bot = s.process(
            upstream={"total_timeout": 2.0},
            runtime={"shutdown_grace": 0.5, "orphan_margin": 0.5},
        )
        await bot.start()
        try:
            answer = await s.slash("gpt", prompt="go")
            await wait_until(lambda: any("stalls" in t for t in s.texts(answer)), 10)
            bot.signal(signal.SIGTERM)
            assert await bot.wait(30) == 0
            assert bot.logged("1 answers still running after 0.5s; cut off")
            assert (await s.hold(f"gpt:{answer.id}")).status == "open"
            [cut] = s.texts(answer)
            assert cut.endswith("▌")  # the member saw it stop mid-way

            await bot.start()

            async def refunded() -> bool:
                return (await s.hold(f"gpt:{answer.id}")).status == "refunded"

            deadline = asyncio.get_running_loop().time() + 15
            while not await refunded():
                assert asyncio.get_running_loop().time() < deadline, "never refunded"
                await asyncio.sleep(0.1)
            assert bot.logged("refunded orphaned hold")
        finally:
            await bot.stop()
        async with s.ledger() as ledger:
            assert await ledger.open_holds() == []
            assert await ledger.check() == []
            assert await ledger.balance(s.guild.id) == STARTING_BALANCE
