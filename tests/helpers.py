"""Helpers for end-to-end tests that read Discord the way a member would."""

from __future__ import annotations

import asyncio
import math
import re
from typing import Any

from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.world import SandboxWorld

# Settle quickly in tests; the default pacing is exercised where a test says so.
FAST_CHAT = {"edit_interval": 0.2, "max_edit_interval": 1.6, "refresh_models": False}
_REOPEN = re.compile(r"^```[^\s`]*\n")


def sandbox_tokens(text: str) -> int:
    """The sandbox upstream's usage rule: ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


async def run_slash(
    world: SandboxWorld,
    user_id: int,
    command: str,
    options: dict[str, Any] | None = None,
    *,
    locale: str = "en-US",
    channel_id: int | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
) -> InteractionHandle:
    handle = await world.discord.slash(
        world.guild_id,
        channel_id or world.channel_id,
        user_id,
        command,
        options=options,
        locale=locale,
        attachments=attachments,
    )
    await handle.wait_response(timeout=5)
    return handle


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll a condition the bot makes true in the background (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def private_reply(world: SandboxWorld, handle: InteractionHandle) -> Message:
    """The interaction's reply once it has text (a deferred reply starts empty)."""

    def answered() -> bool:
        messages = world.discord.interaction_messages(handle)
        return bool(messages) and bool(messages[0].content)

    await wait_until(answered)
    return world.discord.interaction_messages(handle)[0]


def is_final(message: Message) -> bool:
    """A streamed answer is final when its footer is there and the marker is gone."""
    return not message.content.endswith("▌") and "\n-# " in message.content


async def final_answer(
    world: SandboxWorld, handle: InteractionHandle, timeout: float = 20
) -> list[Message]:
    def done() -> bool:
        messages = world.discord.interaction_messages(handle)
        return bool(messages) and (is_final(messages[-1]) or messages[-1].content.startswith("⚠️"))

    await wait_until(done, timeout)
    # The hold is settled once the final text is shown: wait for that too.
    await wait_until(lambda: world.bot is None or world.bot.work.running == 0, timeout)
    return world.discord.interaction_messages(handle)


def answer_text(messages: list[Message]) -> str:
    """The answer as the upstream sent it: fences added at splits and the footer removed."""
    parts = [m.content for m in messages]
    parts[-1] = parts[-1].rsplit("\n-# ", 1)[0] if "\n-# " in parts[-1] else parts[-1]
    text = ""
    for index, part in enumerate(parts):
        if index > 0 and text.endswith("\n```") and _REOPEN.match(part):
            text = text.removesuffix("\n```")
            part = _REOPEN.sub("", part, count=1)
        text += part
    return text
