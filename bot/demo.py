"""``atelier demo``: a scripted session against the sandboxes, printed as members would see it."""

from __future__ import annotations

import asyncio
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.config import DEFAULT_CONFIG_PATH
from bot.errors import ConfigError
from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.world import SandboxWorld

# Only these sections of an operator's config shape the demo; the rest points at the sandboxes.
DEMO_SECTIONS = ("credit", "pricing")
STEP_TIMEOUT = 20.0

DEMO_ANSWER = (
    "Kyoto in three days:\n\n"
    "1. **Day one**: Fushimi Inari at dawn, then Kiyomizu-dera and the lanes of Higashiyama.\n"
    "2. **Day two**: Arashiyama's bamboo grove, Tenryu-ji, and a boat on the Hozu river.\n"
    "3. **Day three**: Kinkaku-ji, Ryoan-ji's rock garden, and dinner in Pontocho.\n\n"
    "```text\nBudget: about 25,000 yen a day with a JR pass.\n```"
)


def _operator_settings(path: Path | None) -> dict[str, dict[str, Any]]:
    path = path or DEFAULT_CONFIG_PATH
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([(str(path), f"invalid TOML: {exc}")]) from None
    return {k: v for k, v in data.items() if k in DEMO_SECTIONS and isinstance(v, dict)}


class Transcript:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def line(self, who: str, text: str) -> None:
        elapsed = time.monotonic() - self.start
        prefix = f"[{elapsed:6.2f}s] {who} "
        lines = text.splitlines() or [""]
        print(prefix + lines[0])
        for rest in lines[1:]:
            print(" " * 10 + "│ " + rest)


async def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo step did not finish in time")
        await asyncio.sleep(0.02)


def _finished(messages: list[Message]) -> bool:
    return bool(messages) and "\n-# " in messages[-1].content


def _show(out: Transcript, member: str, messages: list[Message]) -> None:
    for message in messages:
        audience = f"(only {member} sees it)" if message.ephemeral else ""
        edits = f"(streamed in {len(message.history)} edits)" if len(message.history) > 2 else ""
        label = " ".join(part for part in ("Atelier", audience, edits) if part)
        out.line(f"{label.replace(') (', ', ')}:", message.content)


async def _slash(
    world: SandboxWorld, out: Transcript, member: dict[str, Any], command: str, **options: Any
) -> InteractionHandle:
    shown = " ".join(f"{k}:{v}" for k, v in options.items())
    out.line(f"{member['name']}:", f"/{command} {shown}".rstrip())
    handle = await world.discord.slash(
        world.guild_id,
        world.channel_id,
        member["id"],
        command,
        options=options or None,
        locale=member["locale"],
    )
    await handle.wait_response(timeout=STEP_TIMEOUT)
    return handle


def _cards(world: SandboxWorld) -> list[Message]:
    messages = world.discord.messages(world.channel_id)
    return [m for m in messages if m.content.startswith("🎨") and not m.ephemeral]


def _describe_card(message: Message) -> str:
    buttons = [
        c.get("label") or c.get("emoji", {}).get("name", "")
        for row in message.components
        for c in row["components"]
    ]
    files = ", ".join(f"{a.filename} ({a.size:,} bytes)" for a in message.attachments)
    return "\n".join(
        part
        for part in (
            message.content,
            f"[attached: {files}]" if files else "",
            f"[buttons: {' '.join(buttons)}]" if buttons else "",
        )
        if part
    )


async def _imagine(world: SandboxWorld, out: Transcript, member: dict[str, Any]) -> None:
    discord = world.discord
    handle = await _slash(world, out, member, "imagine", prompt="a red fox in the snow --ar 3:2")
    await _until(lambda: bool(discord.interaction_messages(handle)[0].content))
    _show(out, member["name"], discord.interaction_messages(handle))
    await _until(lambda: bool(_cards(world)) and "-# " in _cards(world)[0].content)
    grid = _cards(world)[0]
    steps = [content.splitlines()[-1] for _, content, _ in grid.history[1:-1]]
    out.line("Atelier (progress edits):", " → ".join(steps) or "(none)")
    out.line("Atelier:", _describe_card(grid))
    u2 = grid.components[0]["components"][1]
    out.line(f"{member['name']}:", f"presses [{u2['label']}]")
    press = await discord.click(grid.id, u2["custom_id"], member["id"], locale=member["locale"])
    await press.wait_response(timeout=STEP_TIMEOUT)
    await _until(lambda: len(_cards(world)) > 1 and "-# " in _cards(world)[1].content)
    out.line("Atelier:", _describe_card(_cards(world)[1]))


async def _media(
    world: SandboxWorld,
    out: Transcript,
    member: dict[str, Any],
    command: str,
    icon: str,
    **options: Any,
) -> None:
    """A long job: the private acknowledgement, progress on the card, then the result."""
    discord = world.discord

    def result_cards() -> list[Message]:
        messages = discord.messages(world.channel_id)
        return [m for m in messages if m.content.startswith(icon) and not m.ephemeral]

    before = len(result_cards())
    handle = await _slash(world, out, member, command, **options)
    await _until(lambda: bool(discord.interaction_messages(handle)[0].content))
    _show(out, member["name"], discord.interaction_messages(handle))
    await _until(lambda: len(result_cards()) > before and "-# " in result_cards()[-1].content)
    out.line("Atelier:", _describe_card(result_cards()[-1]))


async def run_demo(config_path: Path | None) -> int:
    settings = _operator_settings(config_path)
    settings.setdefault("chat", {})["refresh_models"] = False
    settings["jobs"] = {"poll_initial": 0.2, "poll_floor": 0.1, "progress_interval": 0.3}
    out = Transcript()
    print("Atelier demo: a sandbox Discord and a sandbox upstream on 127.0.0.1, a fresh database.")
    print("No token and no network are used. What members see in #general:\n")
    async with SandboxWorld(config=settings) as world:
        out.line("bot:", "ready; slash commands synced to the sandbox guild")
        alice = {"name": "alice", "locale": "en-US"}
        alice["id"] = world.add_member("alice", locale="en-US")
        lei = {"name": "李雷", "locale": "zh-CN"}
        lei["id"] = world.add_member("李雷", locale="zh-CN")
        discord = world.discord

        handle = await _slash(world, out, alice, "credit balance")
        _show(out, "alice", discord.interaction_messages(handle))
        handle = await _slash(world, out, lei, "credit balance")
        _show(out, "李雷", discord.interaction_messages(handle))

        world.upstream.chat.reply = DEMO_ANSWER
        world.upstream.chat.pace = 0.05
        handle = await _slash(world, out, alice, "gpt", prompt="Plan three days in Kyoto")
        await _until(lambda: _finished(discord.interaction_messages(handle)))
        answer = discord.interaction_messages(handle)
        _show(out, "alice", answer)

        thread_id = answer[0].id
        await _until(lambda: bool(discord.messages(thread_id)))
        out.line("Atelier (in the new thread):", discord.messages(thread_id)[0].content)
        world.upstream.chat.reply = "Try 湯豆腐 (yudofu) near Nanzen-ji, and nishin soba in Gion."
        out.line("李雷 (in the thread):", "What should we eat there?")
        await discord.post_user_message(thread_id, lei["id"], "What should we eat there?")

        def bot_replies() -> list[Message]:
            return [
                m for m in discord.messages(thread_id)[1:] if m.author_id == discord.bot_user_id
            ]

        await _until(lambda: _finished(bot_replies()))
        _show(out, "李雷", bot_replies())

        await _imagine(world, out, lei)
        await _media(
            world, out, alice, "song", "🎵", prompt="a cheerful song about Kyoto in spring"
        )
        await _media(world, out, lei, "video", "🎬", prompt="a red fox running through snow")

        handle = await _slash(world, out, alice, "credit balance")
        _show(out, "alice", discord.interaction_messages(handle))

    print(f"\nDemo finished in {time.monotonic() - out.start:.1f}s.")
    return 0
