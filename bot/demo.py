"""``atelier demo``: a scripted session against the sandboxes, printed as members would see it."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Any

from bot.config import DEFAULT_CONFIG_PATH
from bot.errors import ConfigError
from bot.sandbox.world import SandboxWorld

# Only these sections of an operator's config shape the demo; the rest points at the sandboxes.
DEMO_SECTIONS = ("credit", "pricing")


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
        prefix = f"[{elapsed:6.2f}s] {who:<22}"
        lines = text.splitlines() or [""]
        print(prefix + lines[0])
        for rest in lines[1:]:
            print(" " * len(prefix) + rest)


async def _ask(world: SandboxWorld, out: Transcript, user: dict[str, Any], command: str) -> None:
    out.line(f"{user['name']} ›", f"/{command}")
    sent = time.monotonic()
    handle = await world.discord.slash(
        world.guild_id, world.channel_id, user["id"], command, locale=user["locale"]
    )
    await handle.wait_response(timeout=10)
    for message in world.discord.interaction_messages(handle):
        audience = f"only {user['name']} sees" if message.ephemeral else "channel"
        out.line(f"Atelier → {audience}:", message.content)
    out.line("", f"(answered in {time.monotonic() - sent:.2f}s)")


async def run_demo(config_path: Path | None) -> int:
    settings = _operator_settings(config_path)
    out = Transcript()
    print("Atelier demo: a sandbox Discord and a sandbox upstream on 127.0.0.1, a fresh database.")
    print("No token and no network are used. What members see in #general:\n")
    async with SandboxWorld(config=settings) as world:
        out.line("bot", "ready; slash commands synced to the sandbox guild")
        alice = {"name": "alice", "locale": "en-US"}
        alice["id"] = world.add_member("alice", locale="en-US")
        lei = {"name": "李雷", "locale": "zh-CN"}
        lei["id"] = world.add_member("李雷", locale="zh-CN")

        await _ask(world, out, alice, "credit balance")
        await _ask(world, out, lei, "credit balance")

    print(f"\nDemo finished in {time.monotonic() - out.start:.1f}s.")
    return 0
