"""Redis dies mid-run and comes back: each process falls back to its share of the write budget
and says so once, then resumes the shared budget. Runs a Redis of its own that the test can
stop (never the machine's), so it needs ``redis-server`` on PATH."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from bot.shared_limits import RETRY_AFTER, SharedStore
from bot.write_budget import WriteBudget
from tests.helpers import (
    FAST_CHAT,
    ManualClock,
    bot_messages_after,
    open_conversation,
    thread_reply,
    wait_until,
)
from tests.reliability.support import world

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server not on PATH: no Redis this test may stop"
)


class OwnRedis:
    """A throw-away redis-server on a free port, stopped and started again on the same port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        assert REDIS_SERVER is not None
        self._proc = await asyncio.create_subprocess_exec(
            REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        probe = redis.Redis.from_url(self.url)
        try:
            async with asyncio.timeout(10):
                while not await self._answers(probe):  # noqa: ASYNC110 (a process, no event)
                    await asyncio.sleep(0.02)
        finally:
            await probe.aclose()

    @staticmethod
    async def _answers(probe: redis.Redis) -> bool:
        try:
            return bool(await probe.ping())
        except (redis.ConnectionError, OSError):
            return False

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            await self._proc.wait()


@pytest.fixture
async def own_redis() -> AsyncIterator[OwnRedis]:
    server = OwnRedis()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def said(caplog: pytest.LogCaptureFixture, words: str) -> int:
    return sum(1 for r in caplog.records if words in r.getMessage())


async def test_each_process_falls_back_to_its_share_and_resumes_the_shared_budget(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    scope = uuid.uuid4().hex
    # A 5 s call budget, not the bot's 0.5 s: on a loaded CI machine the first calls to the
    # restarted server (a new connection, the scripts loaded again) took longer, and this test
    # is about falling back and resuming, not about the budget. A stopped server refuses at once.
    stores = [SharedStore(own_redis.url, scope=scope, clock=clock, timeout=5.0) for _ in range(2)]
    # Two processes of one bot, one shard of two each.
    budgets = [WriteBudget(40.0, clock, store=s, share=0.5) for s in stores]
    raw = redis.Redis.from_url(own_redis.url)
    writes = f"{stores[0].prefix}:writes"
    caplog.set_level(logging.INFO, logger="bot.shared_limits")
    try:
        for budget in budgets:
            budget.active = 2
            await budget.acquire()
        assert await raw.exists(writes)
        assert budgets[1].share_interval() == pytest.approx(4 / 40.0)  # both processes' streams

        await own_redis.stop()
        for _ in range(3):
            for budget in budgets:
                await budget.acquire()
        assert not any(s.available for s in stores)
        assert said(caplog, "redis unreachable") == 2  # once per process, not per write
        # Each keeps to half the budget for its own streams alone.
        assert all(b.share_interval() == pytest.approx(2 / 20.0) for b in budgets)

        await own_redis.start()  # empty: what it counted before is gone
        await raw.aclose()
        raw = redis.Redis.from_url(own_redis.url)
        clock.advance(RETRY_AFTER)
        for budget in budgets:
            await budget.acquire()
        assert all(s.available for s in stores)
        assert said(caplog, "redis answers again") == 2
        assert said(caplog, "redis unreachable") == 2
        # The shared budget counts again: the slots are taken in Redis.
        assert await raw.exists(writes)
        assert budgets[1].elsewhere == 2
        # For RETRY_AFTER the other process may not have noticed yet, so each also keeps to its
        # own share; then the shared budget alone.
        assert all(clock() < b._alone_until <= clock() + RETRY_AFTER for b in budgets)
    finally:
        for store in stores:
            await store.close()
        await raw.aclose()


async def test_a_thread_reply_finishes_while_redis_is_down_and_the_budget_is_shared_after(
    own_redis: OwnRedis, caplog: pytest.LogCaptureFixture
) -> None:
    """End to end: Redis stops in the middle of a streamed thread reply; the reply finishes on
    the process's own share with one line in the log, and once Redis is back (after
    RETRY_AFTER) the next reply's writes are counted in Redis again."""
    caplog.set_level(logging.INFO, logger="bot.shared_limits")
    async with world(chat=FAST_CHAT, redis={"url": own_redis.url}) as w:
        store = w.services.write_budget.store
        assert store is not None
        member = w.add_member("alice")
        thread_id = await open_conversation(w, member)
        w.upstream.chat.reply = "Streamed on, whatever happens to Redis. " * 20
        w.upstream.chat.chunk_chars = 80
        w.upstream.chat.pace = 0.1
        # The answer pauses after its first lines: Redis stops while it is on screen, half done.
        w.upstream.chat.stall_after_chars, w.upstream.chat.stall_seconds = 160, 2.0
        asked = await w.discord.post_user_message(thread_id, member, "go on")
        await wait_until(lambda: bot_messages_after(w, thread_id, asked))
        await own_redis.stop()
        reply = await thread_reply(w, thread_id, asked, timeout=20)
        assert "Streamed on" in reply[0].content
        assert said(caplog, "redis unreachable") == 1
        assert not store.available

        await own_redis.start()
        shared: list[float] = []  # the slots the store handed out, from here on
        reserve = store.reserve_write

        async def spy(per_second: float) -> float | None:
            wait = await reserve(per_second)
            if wait is not None:
                shared.append(wait)
            return wait

        store.reserve_write = spy  # type: ignore[method-assign]
        # The store is tried again RETRY_AFTER after it failed, by the next request on the
        # token: the bot's answer to the next message.
        await wait_until(lambda: store.available, timeout=RETRY_AFTER + 10)
        w.upstream.chat.stall_after_chars = None
        asked = await w.discord.post_user_message(thread_id, member, "and again")
        await thread_reply(w, thread_id, asked, timeout=20)
        assert shared  # its writes took slots of the shared budget again
        assert said(caplog, "redis answers again") == 1
        assert said(caplog, "redis unreachable") == 1
