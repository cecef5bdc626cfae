"""A draining bot (SIGTERM or SIGINT received) starts nothing new: not from a slash command, a
button or a modal, while the answers already running finish."""

from __future__ import annotations

import asyncio
import importlib
from typing import Any

import discord

from bot.app import EXTENSIONS, Admitted
from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld
from tests.helpers import FAST_CHAT, custom_ids, private_reply, run_slash, wait_until

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}


def subclasses(base: type) -> set[type]:
    found = set(base.__subclasses__())
    for cls in list(found):
        found |= subclasses(cls)
    return found


def test_every_button_and_modal_of_the_cogs_passes_admit() -> None:
    """discord.py runs an item's or modal's own ``interaction_check`` only: one without the
    ``Admitted`` base would let a press start a paid job after SIGTERM."""
    for name in EXTENSIONS:
        importlib.import_module(name)
    ours = [
        cls
        for base in (discord.ui.DynamicItem, discord.ui.Modal)
        for cls in subclasses(base)
        if cls.__module__.startswith("cogs.")
    ]
    assert len(ours) >= 8, ours  # the cogs' buttons and modals were found at all
    bypassing = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in ours
        if cls.interaction_check is not Admitted.interaction_check
    ]
    assert bypassing == []


def labels(message: Message) -> list[str]:
    return [c.get("label") or "" for row in message.components for c in row["components"]]


async def card(world: SandboxWorld, index: int) -> Message:
    def finished() -> bool:
        shown = [m for m in world.discord.messages(world.channel_id) if m.content.startswith("🎨")]
        return len(shown) > index and "-# " in shown[index].content

    await wait_until(finished, timeout=15)
    return [m for m in world.discord.messages(world.channel_id) if m.content.startswith("🎨")][
        index
    ]


async def test_buttons_and_modals_are_refused_while_draining() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        await run_slash(world, member, "imagine", {"prompt": "a castle"})
        grid = await card(world, 0)
        press = await world.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
        await press.wait_response(timeout=5)
        upscale = await card(world, 1)
        region = custom_ids(upscale)[labels(upscale).index("Custom Zoom")]
        opened = await world.discord.click(upscale.id, region, member)
        await opened.wait_response(timeout=5)
        assert opened.modal is not None  # shown before the shutdown, submitted during it
        submits = dict(world.upstream.midjourney.submits)
        balance = await world.services.ledger.balance(world.guild_id)

        # An answer streaming slowly keeps the bot draining while the member clicks.
        world.upstream.chat.reply = "slow words " * 60
        world.upstream.chat.pace = 0.01
        answer = await run_slash(world, member, "gpt", {"prompt": "go", "private": True})
        await wait_until(lambda: world.bot.work.running == 1)
        stopping = asyncio.create_task(world.bot.shutdown())
        await wait_until(lambda: world.bot.draining)

        variation = await world.discord.click(grid.id, custom_ids(grid)[5], member)  # V1
        submitted = await world.discord.submit_modal(
            world.guild_id, world.channel_id, member, opened.modal["custom_id"],
            {"prompt": "a castle with a moat"},
        )  # fmt: skip
        for handle in (variation, submitted):
            await handle.wait_response(timeout=5)
            reply = await private_reply(world, handle)
            assert reply.ephemeral and "restarting" in reply.content
        assert world.bot.work.running == 1  # refused while the answer was still streaming

        await stopping
        [streamed] = world.discord.interaction_messages(answer)
        assert "\n-# " in streamed.content  # the running answer finished
        assert world.upstream.midjourney.submits == submits
        assert await world.services.jobs.get(3) is None  # no job from the press or the modal
        assert await world.services.ledger.open_holds() == []
        hold = await world.services.ledger.get_hold(f"gpt:{answer.id}")
        assert hold is not None and hold.status == "settled"
        spent = balance - await world.services.ledger.balance(world.guild_id)
        assert spent == hold.actual  # the answer, and nothing else, was charged
        assert await world.services.ledger.check() == []
        await world.restart_bot()  # close the stopped bot's services; teardown expects a bot
