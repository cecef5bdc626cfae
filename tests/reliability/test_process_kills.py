"""The process dies at the worst moments. On restart every hold is settled or refunded, and every
job is delivered or refunded exactly once.

In-process kills (``crash``) cancel every task of the bot at once and then drop its sockets and
database, which is as close to SIGKILL as one process gets; ``test_real_sigkill`` does the real
thing to ``python -m bot run`` against sandboxes this test starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database
from bot.job_types import shard_of
from bot.jobs import JobEngine
from bot.ledger import Ledger
from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.wire import openai_error
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import MidjourneyClient
from tests.bot_process import BotProcess, write_config
from tests.helpers import FAST_CHAT, run_slash, wait_until
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
    chat_by_usage,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    FAST_JOBS,
    STARTING_BALANCE,
    backdate_holds,
    channel_cards,
    crash,
    finished_card,
    settled,
    world,
)


class Gate:
    """Patch target: the first call signals ``reached`` and then never returns."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()

    async def block(self, *args: Any, **kwargs: Any) -> Any:
        self.reached.set()
        await asyncio.Event().wait()


async def restarted_card_settles(w: Any, note: Note) -> None:
    """After the crash: the restarted bot shows the /imagine card once, charged once."""
    await w.start_bot()
    card = await finished_card(w)
    assert len(card.attachments) == 1 and len(channel_cards(w)) == 1
    await settled(w, note, action_charge(w, "mj_imagine"))


def orphan_age(w: Any) -> float:
    assert w.services is not None
    return w.services.jobs.orphan_after + 1


@scenario(
    "process",
    "killed while a /gpt answer streams",
    sees="the text so far with the ▌ marker; nothing more",
    lost="nothing: the orphaned hold is refunded after a restart",
)
async def test_kill_during_stream(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "A long answer that will never finish. " * 10
        w.upstream.chat.stall_after_chars = 60
        w.upstream.chat.stall_seconds = 30
        member = w.add_member("alice")
        handle = await run_slash(w, member, "gpt", {"prompt": "go"})
        await wait_until(
            lambda: any(
                m.content.startswith("A long answer")
                for m in w.discord.interaction_messages(handle)
            )
        )
        age = orphan_age(w)
        await crash(w)
        [message] = w.discord.interaction_messages(handle)
        assert message.content.endswith("▌")  # the member saw it stop mid-way
        await w.start_bot()
        assert len(await w.services.ledger.open_holds()) == 1  # too young to be an orphan
        await w.stop_bot()
        assert await backdate_holds(w.config.database.url, age) == 1
        await w.start_bot()  # the sweep at start refunds it
        hold = await w.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and hold.status == "refunded"
        await settled(w, note, NOTHING)


@scenario(
    "process",
    "killed between the hold and the upstream submit (/imagine)",
    sees="card: ❌ The bot restarted while it was handing this job to the service… -# 20 "
    "credits refunded.",
)
async def test_kill_between_hold_and_submit(note: Note, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    async with world() as w:
        monkeypatch.setattr(MidjourneyClient, "imagine", gate.block)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        await asyncio.wait_for(gate.reached.wait(), 5)
        await crash(w)
        monkeypatch.undo()
        await w.start_bot()
        card = await finished_card(w)
        assert "restarted while it was handing this job to the service" in card.content
        assert "20 credits refunded" in card.content
        assert len(channel_cards(w)) == 1
        assert w.upstream.midjourney.submits["IMAGINE"] == 0
        await settled(w, note, NOTHING)


@scenario(
    "process",
    "killed while the task runs upstream (polling)",
    sees="the finished card, once, after the restart",
    lost="nothing: charged once",
)
async def test_kill_while_polling(note: Note) -> None:
    async with world() as w:
        w.upstream.midjourney.durations = (0.05, 0.05, 0.8)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a boat"})
        await wait_until(lambda: bool(w.upstream.requests_to("/mj/task/list-by-condition")))
        await crash(w)
        await restarted_card_settles(w, note)


@scenario(
    "process",
    "killed while downloading the result",
    sees="the finished card with the image, once, after the restart",
    lost="nothing: charged once",
)
async def test_kill_during_download(note: Note, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = Gate()
    async with world() as w:
        w.upstream.midjourney.durations = (0.0, 0.0, 0.2)
        monkeypatch.setattr(UpstreamClient, "download", gate.block)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a castle"})
        await asyncio.wait_for(gate.reached.wait(), 10)
        await crash(w)
        monkeypatch.undo()
        await restarted_card_settles(w, note)


@scenario(
    "process",
    "killed after Discord applied the result but before the bot recorded it",
    sees="one card with the image (delivered again by editing the same message)",
    lost="nothing: charged once, shown once",
)
async def test_kill_during_delivery(note: Note) -> None:
    async with world() as w:
        w.upstream.midjourney.durations = (0.0, 0.0, 0.0)  # done at the first poll: no progress
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a lake"})
        await wait_until(lambda: w.upstream.midjourney.submits["IMAGINE"] == 1)
        [card] = channel_cards(w)
        w.discord.latency = 5.0  # every answer from Discord now arrives 5 s late
        await wait_until(lambda: bool(card.attachments), timeout=10)  # the edit landed
        await crash(w)  # … and the bot never heard back
        shown = len(card.history)
        assert shown == 2  # posted, then the result: the bot was killed waiting for the answer
        w.discord.latency = 0.0
        await w.start_bot()
        await wait_until(lambda: len(card.history) == shown + 1, timeout=10)  # shown again
        assert len(channel_cards(w)) == 1 and len(card.attachments) == 1
        job = await w.services.jobs.get(1)
        assert job is not None and job.delivery == "delivered"
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "process",
    "killed while a thread reply streams",
    sees="the reply so far with the ▌ marker",
    lost="nothing: the orphaned hold is refunded after a restart",
)
async def test_kill_during_thread_reply(note: Note) -> None:
    async with world() as w:
        member = w.add_member("alice")
        handle = await run_slash(w, member, "gpt", {"prompt": "Plan a trip"})
        answer = await w.discord.wait_for_message(lambda m: m.channel_id == w.channel_id)
        await w.discord.wait_for_message(lambda m: m.channel_id == answer.id)  # the hint
        w.upstream.chat.reply = "Day one: the old town, then the river. " * 5
        w.upstream.chat.stall_after_chars = 50
        w.upstream.chat.stall_seconds = 30
        await w.discord.post_user_message(answer.id, member, "and then?")
        reply = await w.discord.wait_for_message(
            lambda m: m.channel_id == answer.id and m.content.startswith("Day one")
        )
        age = orphan_age(w)
        await crash(w)
        assert reply.content.endswith("▌")
        await backdate_holds(w.config.database.url, age)
        await w.start_bot()
        spent = await w.services.ledger.get_hold(f"gpt:{handle.id}")
        assert spent is not None and spent.status == "settled"
        await settled(w, note, chat_by_usage(w))


@scenario(
    "process",
    "the orphaned-hold sweep itself: old and young answer holds, a job's hold, another "
    "process's shard",
    sees="nothing; only the old answer hold of this process's shards is refunded",
)
async def test_orphan_sweep_is_precise(note: Note) -> None:
    async with world() as w:
        w.upstream.midjourney.never_finish = True
        ledger, jobs = w.services.ledger, w.services.jobs
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "slow"})  # a job: it owns its hold
        await wait_until(lambda: w.upstream.midjourney.submits["IMAGINE"] == 1)
        elsewhere = w.guild_id + (1 << 22)  # the other shard when there are two
        await ledger.hold(w.guild_id, member, 5, key="gpt:old", command="gpt:x")
        await ledger.hold(elsewhere, member, 5, key="gpt:elsewhere", command="gpt:x")
        assert await backdate_holds(w.config.database.url, orphan_age(w)) == 3
        await ledger.hold(w.guild_id, member, 5, key="gpt:young", command="gpt:x")
        sweeper = JobEngine(
            w.services.db, w.services.spending, w.config.jobs, shard_count=2,
            shard_ids=[shard_of(w.guild_id, 2)], answer_timeout=w.config.upstream.total_timeout,
        )  # fmt: skip
        assert shard_of(elsewhere, 2) != shard_of(w.guild_id, 2)
        assert [h.key for h in await sweeper.refund_orphaned_holds()] == ["gpt:old"]
        still_open = sorted(h.key for h in await ledger.open_holds())
        assert still_open == ["gpt:elsewhere", "gpt:young", f"job:{(await jobs.get(1)).key}"]
        for key in ("gpt:elsewhere", "gpt:young"):
            await ledger.refund(await ledger.get_hold(key))  # type: ignore[arg-type]
        await jobs.abandon(await jobs.get(1), "test over")  # type: ignore[arg-type]
        await settled(w, note, NOTHING)


# --- a real process and a real SIGKILL ---------------------------------------------------------


@contextlib.asynccontextmanager
async def sandboxes(tmp_path: Path) -> AsyncIterator[tuple[DiscordSandbox, UpstreamSandbox, Path]]:
    async with DiscordSandbox(token="real-process-discord-token") as discord:
        upstream = UpstreamSandbox(api_key="sk-real-process-api-key-0123456789")
        async with upstream:
            yield discord, upstream, tmp_path / "atelier.db"


@scenario(
    "process",
    "real SIGKILL of `python -m bot run` with a job and a stream in flight, then a restart "
    "(after an error that echoed the API key)",
    sees="the job's card delivered once after the restart; the stream stops mid-way",
    lost="nothing: job charged once, the stream's hold refunded",
)
async def test_real_sigkill(note: Note, tmp_path: Path) -> None:
    async with sandboxes(tmp_path) as (discord, upstream, db_path):
        guild = discord.add_guild("Killed", locale="en-US")
        member = discord.add_member(guild.id, "alice")
        config = write_config(
            tmp_path / "config.toml", discord, upstream, f"sqlite+aiosqlite:///{db_path}",
            discord={"owner_ids": [guild.owner_id], "sync_guild_ids": [guild.id]},
            credit={"starting_balance": STARTING_BALANCE}, chat=FAST_CHAT, jobs=FAST_JOBS,
            runtime={"shutdown_grace": 2}, logging={"format": "plain", "level": "DEBUG"},
        )  # fmt: skip
        upstream.midjourney.durations = (0.05, 0.05, 1.5)
        upstream.chat.reply = "This answer stalls half way. " * 6
        upstream.chat.stall_after_chars = 40
        upstream.chat.stall_seconds = 60
        bot = BotProcess(config, tmp_path / "bot.log", discord)
        await bot.start()

        # An error that echoes the key back, as gateways do: the process must not repeat it.
        bare = upstream.api_key.removeprefix("sk-")
        echo = openai_error(f"无效的令牌 {upstream.api_key} / {bare} (request id: 9)", code="")
        upstream.inject(r"^/v1/chat/completions$", 401, echo)
        refused = await discord.slash(guild.id, guild.default_channel_id, member, "gpt",
                                      {"prompt": "key?"})  # fmt: skip
        await wait_until(
            lambda: any(m.content.startswith("⚠️") for m in discord.interaction_messages(refused)),
            10,
        )

        job = await discord.slash(guild.id, guild.default_channel_id, member, "imagine",
                                  {"prompt": "a fox"})  # fmt: skip
        answer = await discord.slash(guild.id, guild.default_channel_id, member, "gpt",
                                     {"prompt": "go"})  # fmt: skip
        await wait_until(lambda: bool(upstream.requests_to("/mj/task/list-by-condition")), 10)
        await wait_until(
            lambda: any("stalls" in m.content for m in discord.interaction_messages(answer)), 10
        )
        bot.kill()
        assert await bot.wait() == -signal.SIGKILL

        url = f"sqlite+aiosqlite:///{db_path}"
        assert await backdate_holds(url, 600 + 2 + 60 + 1) == 2  # both holds; only one orphan
        await bot.start()

        def delivered() -> bool:
            cards = [
                m for m in discord.messages(guild.default_channel_id) if m.content.startswith("🎨")
            ]
            return len(cards) == 1 and bool(cards[0].attachments)

        await wait_until(delivered, 20)
        bot.signal(signal.SIGTERM)
        assert await bot.wait() == 0  # graceful this time
        assert job.responded

        db = Database(url)
        try:
            ledger = Ledger(db, starting_balance=STARTING_BALANCE)
            assert await ledger.check() == []
            assert await ledger.open_holds() == []
            stream_hold = await ledger.get_hold(f"gpt:{answer.id}")
            assert stream_hold is not None and stream_hold.status == "refunded"
            balance = await ledger.balance(guild.id)
            assert balance == STARTING_BALANCE - 20
        finally:
            await db.close()
        note(ledger=f"balance {balance}/{STARTING_BALANCE}, 0 open hold(s), 0 discrepancy(ies)")
        output = bot.log.read_text(errors="replace")
        assert "sk-***" in output  # the echo was logged (DEBUG), masked
        shown = [m.content for m in discord.store.messages.values()]
        for secret in (discord.token, upstream.api_key, bare):
            assert secret not in output and not any(secret in text for text in shown)


@scenario(
    "process",
    "a bug: an unexpected error in the middle of a /gpt answer (not an upstream or Discord error)",
    sees="the text so far gives way to a private “Sorry, something went wrong…”; refunded at once",
)
async def test_unexpected_error_mid_answer_refunds_at_once(note: Note) -> None:
    async with world() as w:
        chat = w.services.chat
        original = chat.stream_chat

        def breaks_after_one_chunk(*args: Any, **kwargs: Any) -> Any:
            async def chunks() -> Any:
                async for delta in original(*args, **kwargs):
                    yield delta
                    raise RuntimeError("a bug the bot does not expect")

            return chunks()

        chat.stream_chat = breaks_after_one_chunk  # type: ignore[method-assign]
        member = w.add_member("alice")
        handle = await run_slash(w, member, "gpt", {"prompt": "hello"})
        await wait_until(
            lambda: any(
                m.ephemeral and m.content.startswith("Sorry, something went wrong")
                for m in w.discord.interaction_messages(handle)
            ),
            timeout=10,
        )
        hold = await w.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and hold.status == "refunded"
        await settled(w, note, NOTHING)
