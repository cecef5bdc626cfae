"""Helpers of the reliability suite: fast worlds, the ledger verdict, and an in-process crash."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from pathlib import Path
from typing import Any

import discord
from sqlalchemy import select, update

from bot.app import EXTENSIONS as APP_EXTENSIONS
from bot.db import Database, HoldRow, table
from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, custom_ids, wait_until
from tests.reliability.amounts import Charge, action_charge, member_view
from tests.reliability.conftest import Note

FAST_JOBS = {
    "poll_initial": 0.05,
    "poll_max": 0.2,
    "poll_floor": 0.02,
    "progress_interval": 0.3,
    "download_timeout": 2.0,
}
STARTING_BALANCE = 1000
_ROOT = Path(__file__).resolve().parents[2]
# Where a task's coroutine must live for a crash to kill it: the bot and discord.py, not the
# sandboxes (they are the outside world) and not the test.
_BOT_DIRS = (str(_ROOT / "bot"), str(_ROOT / "cogs"), str(Path(discord.__file__).parent))
_WORLD_DIR = str(_ROOT / "bot" / "sandbox")
HOLDS = table(HoldRow)


def config(**sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Fast chat and job settings, with ``sections`` merged over them."""
    base: dict[str, dict[str, Any]] = {
        "chat": dict(FAST_CHAT),
        "jobs": dict(FAST_JOBS),
        "credit": {"starting_balance": STARTING_BALANCE},
        "upstream": {"read_timeout": 5.0, "total_timeout": 20.0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return base


# The suite runs the bot with every cog, as `atelier run` does.
EXTENSIONS = APP_EXTENSIONS
# How job cards begin: images, music, lyrics, video (and a failed job's card).
CARD_ICONS = ("🎨", "🎵", "📝", "🎬", "❌")


def world(**sections: dict[str, Any]) -> SandboxWorld:
    discord_options = sections.pop("discord_options", None)
    return SandboxWorld(
        config=config(**sections), discord_options=discord_options, extensions=EXTENSIONS
    )


async def settled(
    world: SandboxWorld, note: Note, charged: Charge, *, timeout: float = 10.0
) -> int:
    """Assert the books once the bot is idle: every hold closed, balance = ledger sum, and the
    guild's balance moved by exactly ``charged`` (worked out from what the member got and the
    configured prices) since it opened with the configured starting balance.

    Records what the member saw, the movement and its basis in the report row; returns the
    guild's balance.
    """
    ledger = world.services.ledger
    with contextlib.suppress(TimeoutError):
        await world.services.jobs.wait_idle(timeout)
    holds: list[Any] = []

    async def no_open_holds() -> bool:
        nonlocal holds
        holds = await ledger.open_holds()
        return not holds

    deadline = asyncio.get_running_loop().time() + timeout
    while not await no_open_holds():
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.02)
    problems = await ledger.check()
    opening = world.config.credit.starting_balance
    balance = await ledger.balance(world.guild_id)
    moved = opening - balance
    note(
        seen=member_view(world),
        charged=f"{moved} credits ({opening} → {balance}); the prices give {charged.amount}: "
        f"{charged.basis}",
        ledger=f"{len(holds)} open hold(s), {len(problems)} discrepancy(ies)",
    )
    assert problems == []
    assert holds == [], holds
    assert moved == charged.amount, f"charged {moved}, the prices give {charged}"
    return balance


def channel_cards(world: SandboxWorld, channel_id: int | None = None) -> list[Message]:
    """Job cards members see in a channel (not private acknowledgements)."""
    return [
        m
        for m in world.discord.messages(channel_id or world.channel_id)
        if not m.ephemeral and m.content.startswith(CARD_ICONS)
    ]


async def finished_card(
    world: SandboxWorld, index: int = 0, *, timeout: float = 15.0, channel_id: int | None = None
) -> Message:
    def done() -> bool:
        shown = channel_cards(world, channel_id)
        return len(shown) > index and "-# " in shown[index].content

    await wait_until(done, timeout=timeout)
    return channel_cards(world, channel_id)[index]


async def upscale_settles(world: SandboxWorld, note: Note, card: Message, member: Any) -> None:
    """U1 on a finished /imagine card makes its upscale, and the ledger holds both charges."""
    press = await world.discord.click(card.id, custom_ids(card)[0], member)
    await press.wait_response(timeout=5)
    upscale = await finished_card(world, 1)
    assert upscale.attachments
    await settled(world, note, action_charge(world, "mj_imagine", "mj_upscale"))


def ephemeral_texts(world: SandboxWorld, handle: Any) -> list[str]:
    return [m.content for m in world.discord.interaction_messages(handle) if m.ephemeral]


async def ephemeral_reply(world: SandboxWorld, handle: Any, timeout: float = 5.0) -> Message:
    """The member's private answer once it has text (deferred replies start empty)."""

    def answered() -> Message | None:
        return next(
            (m for m in world.discord.interaction_messages(handle) if m.ephemeral and m.content),
            None,
        )

    await wait_until(lambda: answered() is not None, timeout)
    message = answered()
    assert message is not None
    return message


def _is_bot_task(task: asyncio.Task[Any]) -> bool:
    coro = task.get_coro()
    code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
    filename = getattr(code, "co_filename", "")
    return filename.startswith(_BOT_DIRS) and not filename.startswith(_WORLD_DIR)


async def crash(world: SandboxWorld) -> None:
    """Kill the bot the way SIGKILL would, as near as one process allows.

    Every task running bot or discord.py code is cancelled at once, in one step of the event loop,
    so none of them gets to finish a delivery, settle a hold or say goodbye; only then are its
    sockets, HTTP session and database closed. Unlike ``stop_bot`` nothing drains.
    """
    assert world.bot is not None
    me = asyncio.current_task()
    victims = [t for t in asyncio.all_tasks() if t is not me and not t.done() and _is_bot_task(t)]
    for task in victims:
        task.cancel()
    await asyncio.gather(*victims, return_exceptions=True)
    bot, stack = world.bot, world._stack
    # Nothing of the bot runs any more: closing now only releases sockets and files.
    with contextlib.suppress(Exception):
        await bot.close()
    if stack is not None:
        await stack.aclose()
    world.bot = world._task = world._stack = None  # type: ignore[assignment]


async def backdate_holds(database_url: str, seconds: float) -> int:
    """Make every open hold look ``seconds`` older, as if the bot had been down that long;
    works while the bot is stopped. Returns how many holds were moved."""
    db = Database(database_url)
    try:
        async with db.transaction() as conn:
            rows = (
                await conn.execute(
                    select(HOLDS.c.id, HOLDS.c.created_at).where(HOLDS.c.status == "open")
                )
            ).all()
            for row in rows:
                await conn.execute(
                    update(HOLDS)
                    .where(HOLDS.c.id == row.id)
                    .values(created_at=row.created_at - timedelta(seconds=seconds))
                )
        return len(rows)
    finally:
        await db.close()
