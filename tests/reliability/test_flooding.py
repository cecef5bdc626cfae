"""One member floods the bot: the built-in per-member limit (``[limits]``) stops them before the
upstream with no admin policy set, and admins' cooldowns and daily caps hold on top of it."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from bot.sandbox.world import SandboxWorld
from bot.spending import day_start
from tests.helpers import run_slash, shown_messages, wait_until
from tests.reliability.amounts import (
    NOTHING,
    chat_by_usage,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import STARTING_BALANCE, settled, world

CHAT = "/v1/chat/completions"
SEARCH = "/v2/gpts/search"
# Admin policies are tested alone: the built-in limit would refuse most of a flood first.
NO_BUILT_IN_LIMIT = {"requests_per_minute": 0, "concurrent": 0}


async def flood(
    w: SandboxWorld, member: int, count: int, command: str = "gpt", locale: str = "en-US"
) -> list[Any]:
    """``count`` commands sent at once (each handled in its own task, as Discord delivers them)."""
    options = (lambda n: {"prompt": f"q{n}"}) if command == "gpt" else (lambda n: {"query": "img"})
    handles = [
        await w.discord.slash(w.guild_id, w.channel_id, member, command, options(n), locale=locale)
        for n in range(count)
    ]
    for handle in handles:
        await handle.wait_response(timeout=10)
    # Each is acknowledged first; wait until each has its answer or its refusal.
    await wait_until(lambda: all(texts(w, [h]) for h in handles), timeout=20)
    return handles


def texts(w: SandboxWorld, handles: list[Any]) -> list[str]:
    return [m.content for h in handles for m in shown_messages(w, h) if m.content]


@scenario(
    "security",
    "one member fires 30 /gpt at once, no admin policy set (built-in limit: 12 a minute, "
    "3 running)",
    sees="3 answers; 9 private “You already have 3 requests running…”; 18 private “You are "
    "sending requests too quickly. Please try again in 60 s…”; the upstream got 3 requests",
)
async def test_flood_stopped_by_built_in_limit(note: Note, monkeypatch: pytest.MonkeyPatch) -> None:
    async with world() as w:
        limits = w.config.limits
        assert (limits.requests_per_minute, limits.concurrent) == (12, 3)  # the defaults
        policies = await w.services.policies.get(w.guild_id)
        assert policies.limits == [] and policies.cooldowns == {}
        member = w.add_member("flooder")
        w.upstream.chat.stall_after_chars = 4  # the admitted answers stay running a while
        w.upstream.chat.stall_seconds = 1.0
        handles = await flood(w, member, 30)
        await wait_until(lambda: w.bot.work.running == 0, timeout=20)
        shown = texts(w, handles)
        running = [t for t in shown if t.startswith("You already have 3 requests running")]
        quick = [t for t in shown if t.startswith("You are sending requests too quickly")]
        assert len(w.upstream.requests_to(CHAT)) == 3
        assert (len(running), len(quick)) == (9, 18)
        waits = {int(re.search(r"in (\d+) s", t)[1]) for t in quick}  # type: ignore[index]
        assert waits and all(55 <= s <= 60 for s in waits)
        refused = [h for h in handles if await w.services.ledger.get_hold(f"gpt:{h.id}") is None]
        assert len(refused) == 27  # a refusal holds nothing
        assert all(m.ephemeral for h in refused for m in shown_messages(w, h))
        balance = await settled(w, note, chat_by_usage(w))
        spent = STARTING_BALANCE - balance

        # The retry time told is the truth: a minute later the member is welcome again.
        later = time.monotonic() + 61
        monkeypatch.setattr(w.services.limiter, "_clock", lambda: later)
        handle = await run_slash(w, member, "gpt", {"prompt": "after the wait"})
        await wait_until(lambda: bool(texts(w, [handle])), timeout=10)
        await wait_until(lambda: w.bot.work.running == 0, timeout=10)
        assert len(w.upstream.requests_to(CHAT)) == 4
        assert await w.services.ledger.get_hold(f"gpt:{handle.id}") is not None
        note(
            sees=f"3 answers ({spent} credits); 9 “…3 requests running…”, 18 “…try again in "
            f"{max(waits)} s…”; the upstream got 3 requests; served again after the wait"
        )
        await settled(w, note, chat_by_usage(w))


@scenario(
    "security",
    "one member fires 20 free /gpts search at once (zh-CN), no admin policy set",
    sees="12 result lists; 8 private “你的请求太频繁了，请在 60 秒后再试…”; the upstream got 12 "
    "searches",
)
async def test_free_lookups_are_limited_too(note: Note) -> None:
    async with world() as w:
        member = w.add_member("searcher", locale="zh-CN")
        handles = await flood(w, member, 20, "gpts search", locale="zh-CN")
        # Acknowledged first (publicly); a refused search's "thinking…" is replaced privately.
        await wait_until(lambda: all(shown_messages(w, h) for h in handles), timeout=20)
        refusals = [m.content for h in handles for m in shown_messages(w, h) if m.ephemeral]
        assert len(w.upstream.requests_to(SEARCH)) == 12
        assert len(refusals) == 8 and all(t.startswith("你的请求太频繁了") for t in refusals)
        other = w.add_member("bystander")  # the limit is per member
        await run_slash(w, other, "gpts search", {"query": "img"})
        await wait_until(lambda: len(w.upstream.requests_to(SEARCH)) == 13)
        await settled(w, note, NOTHING)


# --- admins' policies, on top of the built-in limit ------------------------------------------


@scenario(
    "security",
    "one member fires 30 /gpt at once against a 60 s cooldown",
    sees="one answer; 29 private “Please wait 60 s before using /gpt again.”",
)
async def test_flood_against_cooldown(note: Note) -> None:
    async with world(limits=NO_BUILT_IN_LIMIT) as w:
        member = w.add_member("flooder")
        await w.services.policies.set_cooldown(w.guild_id, "gpt", 60)
        w.upstream.chat.pace = 0.01
        handles = await flood(w, member, 30)
        await wait_until(lambda: w.bot.work.running == 0)
        waits = [t for t in texts(w, handles) if t.startswith("Please wait")]
        assert len(waits) == 29
        assert len(w.upstream.requests_to(CHAT)) == 1
        await settled(w, note, chat_by_usage(w))


@scenario(
    "security",
    "one member fires 30 /gpt at once against a daily cap",
    sees="as many answers as the cap allows; the rest: private “You have reached your daily "
    "limit…”",
)
async def test_flood_against_daily_cap(note: Note) -> None:
    async with world(limits=NO_BUILT_IN_LIMIT) as w:
        member = w.add_member("flooder")
        await w.services.policies.set_limit(w.guild_id, "member", member, 20)
        w.upstream.chat.stall_after_chars = 4  # every answer holds its estimate for a while
        w.upstream.chat.stall_seconds = 1.0
        handles = await flood(w, member, 30)
        await wait_until(lambda: w.bot.work.running == 0, timeout=20)
        holds = [await w.services.ledger.get_hold(f"gpt:{h.id}") for h in handles]
        [amount] = {h.amount for h in holds if h is not None}
        allowed = 20 // amount
        calls = w.upstream.requests_to(CHAT)
        capped = [t for t in texts(w, handles) if t.startswith("You have reached your daily limit")]
        assert len(calls) == allowed and len(capped) == 30 - allowed
        async with w.services.db.read() as conn:
            spent = await w.services.spending.spent_since(
                conn, w.guild_id, member, day_start(w.services.spending._clock())
            )
        assert spent <= 20
        note(sees=f"{allowed} answers (estimate {amount} each, cap 20); {len(capped)} refusals")
        await settled(w, note, chat_by_usage(w))
