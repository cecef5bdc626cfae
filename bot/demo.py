"""``atelier demo``: a scripted session against the sandboxes, printed as members would see it."""

from __future__ import annotations

import asyncio
import base64
import re
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.world import SandboxWorld

# Only these sections of a config named with --config shape the demo; the rest points at the
# sandboxes.
DEMO_SECTIONS = ("credit", "pricing")
STEP_TIMEOUT = 20.0
VOICE_MESSAGE = 1 << 13  # the flag of a Discord voice message
# <@id>, <@!id> (members) and <#id> (channels), as Discord writes mentions in message text.
MENTION = re.compile(r"<@!?(\d+)>|<#(\d+)>")

DEMO_ANSWER = (
    "Kyoto in three days:\n\n"
    "1. **Day one**: Fushimi Inari at dawn, then Kiyomizu-dera and the lanes of Higashiyama.\n"
    "2. **Day two**: Arashiyama's bamboo grove, Tenryu-ji, and a boat on the Hozu river.\n"
    "3. **Day three**: Kinkaku-ji, Ryoan-ji's rock garden, and dinner in Pontocho.\n\n"
    "```text\nBudget: about 25,000 yen a day with a JR pass.\n```"
)


def _operator_settings(path: Path | None) -> dict[str, dict[str, Any]]:
    """Only a file named with --config is read: ./config.toml points at the real services."""
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read it: {exc.strerror}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([(str(path), f"invalid TOML: {exc}")]) from None
    return {k: v for k, v in data.items() if k in DEMO_SECTIONS and isinstance(v, dict)}


@dataclass
class Member:
    name: str
    locale: str
    id: int = 0

    @property
    def label(self) -> str:
        return f"{self.name} [{self.locale}]"


class Transcript:
    """Prints what members see, with mentions as names so that a reader can follow."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self.names: dict[int, str] = {}

    def _named(self, text: str) -> str:
        def name(match: re.Match[str]) -> str:
            user, channel = match.groups()
            if user is not None:
                return "@" + self.names.get(int(user), "unknown")
            return "#" + self.names.get(int(channel), "channel")

        return MENTION.sub(name, text)

    def line(self, who: str, text: str) -> None:
        elapsed = time.monotonic() - self.start
        prefix = f"[{elapsed:6.2f}s] {who} "
        lines = self._named(text).splitlines() or [""]
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


def _show(out: Transcript, member: Member, messages: list[Message]) -> None:
    """The bot's messages answering a member, marked with the language they are written in."""
    for message in messages:
        audience = f"only {member.name} sees it" if message.ephemeral else ""
        edits = f"streamed in {len(message.history)} edits" if len(message.history) > 2 else ""
        notes = ", ".join(part for part in (audience, edits) if part)
        out.line(f"Atelier [{member.locale}]{f' ({notes})' if notes else ''}:", message.content)


async def _slash(
    world: SandboxWorld,
    out: Transcript,
    member: Member,
    command: str,
    attachments: list[tuple[str, bytes, str]] | None = None,
    **options: Any,
) -> InteractionHandle:
    shown = " ".join(f"{k}:{v}" for k, v in options.items())
    files = " ".join(f"[attached: {name}]" for name, _, _ in attachments or [])
    out.line(f"{member.label}:", " ".join(p for p in (f"/{command}", shown, files) if p))
    handle = await world.discord.slash(
        world.guild_id,
        world.channel_id,
        member.id,
        command,
        options=options or None,
        locale=member.locale,
        attachments=attachments,
    )
    await handle.wait_response(timeout=STEP_TIMEOUT)
    return handle


async def _reply(
    world: SandboxWorld, out: Transcript, member: Member, command: str, **options: Any
) -> None:
    """A command answered by one message to the member (possibly after a deferral)."""
    handle = await _slash(world, out, member, command, **options)
    await _until(lambda: bool(world.discord.interaction_messages(handle)[0].content))
    _show(out, member, world.discord.interaction_messages(handle))


def _cards(world: SandboxWorld, icon: str) -> list[Message]:
    messages = world.discord.messages(world.channel_id)
    return [m for m in messages if m.content.startswith(icon) and not m.ephemeral]


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


async def _media(
    world: SandboxWorld,
    out: Transcript,
    member: Member,
    command: str,
    icon: str,
    attachments: list[tuple[str, bytes, str]] | None = None,
    **options: Any,
) -> Message:
    """A long job: the private acknowledgement, progress on the card, then the result."""
    discord = world.discord
    before = len(_cards(world, icon))
    handle = await _slash(world, out, member, command, attachments, **options)
    await _until(lambda: bool(discord.interaction_messages(handle)[0].content))
    _show(out, member, discord.interaction_messages(handle))

    return await _finished_card(world, out, member, icon, before)


async def _finished_card(
    world: SandboxWorld, out: Transcript, member: Member, icon: str, before: int
) -> Message:
    """The job card after the ``before`` cards with ``icon``, shown once it is finished."""

    def done() -> bool:
        cards = _cards(world, icon)
        return len(cards) > before and "-# " in cards[-1].content

    await _until(done)
    card = _cards(world, icon)[-1]
    steps = [content.splitlines()[-1] for _, content, _ in card.history[1:-1]]
    if steps:
        out.line("Atelier (progress edits):", " → ".join(steps))
    out.line(f"Atelier [{member.locale}]:", _describe_card(card))
    return card


async def _chat(world: SandboxWorld, out: Transcript, alice: Member, lei: Member) -> None:
    discord = world.discord
    world.upstream.chat.reply = DEMO_ANSWER
    world.upstream.chat.pace = 0.05
    handle = await _slash(world, out, alice, "gpt", prompt="Plan three days in Kyoto")
    await _until(lambda: _finished(discord.interaction_messages(handle)))
    answer = discord.interaction_messages(handle)
    _show(out, alice, answer)
    await _read_aloud(world, out, alice, answer[-1])

    thread_id = answer[0].id
    out.names[thread_id] = "Plan three days in Kyoto"
    await _until(lambda: bool(discord.messages(thread_id)))
    out.line(
        f"Atelier [{alice.locale}] (in the new thread):", discord.messages(thread_id)[0].content
    )
    world.upstream.chat.reply = "Try 湯豆腐 (yudofu) near Nanzen-ji, and nishin soba in Gion."
    out.line(f"{lei.label} (in the thread):", "What should we eat there?")
    await discord.post_user_message(thread_id, lei.id, "What should we eat there?")

    def bot_replies() -> list[Message]:
        return [m for m in discord.messages(thread_id)[1:] if m.author_id == discord.bot_user_id]

    await _until(lambda: _finished(bot_replies()))
    _show(out, lei, bot_replies())


async def _read_aloud(world: SandboxWorld, out: Transcript, member: Member, last: Message) -> None:
    """Read aloud under the answer: a voice message replying to it, and the price, privately."""
    discord = world.discord

    def read_button() -> dict[str, Any] | None:
        buttons = [c for row in discord.message(last.id).components for c in row["components"]]
        return next((b for b in buttons if b["custom_id"].startswith("atelier:read:")), None)

    await _until(lambda: read_button() is not None)
    button = read_button()
    assert button is not None
    out.line(f"{member.label}:", f"presses [{button['label']}]")
    press = await discord.click(last.id, button["custom_id"], member.id, locale=member.locale)
    await press.wait_response(timeout=STEP_TIMEOUT)

    def voice() -> list[Message]:
        return [m for m in discord.messages(world.channel_id) if m.flags & VOICE_MESSAGE]

    await _until(lambda: bool(voice()))
    [clip] = voice()[-1].attachments
    points = len(base64.b64decode(clip.waveform or ""))
    out.line(
        "Atelier (a voice message replying to the answer):",
        f"▶ {clip.filename} · {clip.duration_secs:.1f} s · a waveform of {points} points",
    )
    await _until(lambda: any("🔊" in m.content for m in discord.interaction_messages(press)))
    _show(out, member, [m for m in discord.interaction_messages(press) if m.content])


async def _reasoning(world: SandboxWorld, out: Transcript, lei: Member) -> None:
    """A reasoning model: a live status while it thinks, the answer, then Show reasoning."""
    discord, chat = world.discord, world.upstream.chat
    chat.reply = "是的，17 是质数：2、3、4 都不能整除它。"
    chat.reasoning = "\n".join(
        (
            "√17 略大于 4。",
            "17 是奇数，17 ÷ 3 余 2，4 也不能整除。",
            "所以 17 没有小于 √17 的因数。",
        )
    )
    chat.reasoning_form, chat.think_seconds = "think", 3.0
    handle = await _slash(world, out, lei, "gpt", prompt="17 是质数吗？")

    def answer() -> list[Message]:
        return discord.interaction_messages(handle)

    await _until(lambda: _finished(answer()) and bool(answer()[-1].components))
    chat.reasoning, chat.think_seconds = "", 0.0
    statuses = [c for _, c, _ in answer()[0].history if "💭" in c]
    if statuses:
        out.line(f"Atelier [{lei.locale}] (while the model thinks):", statuses[-1])
    _show(out, lei, answer())
    button = answer()[-1].components[0]["components"][0]
    out.line(f"{lei.label}:", f"presses [{button['label']}]")
    press = await discord.click(answer()[-1].id, button["custom_id"], lei.id, locale=lei.locale)
    await press.wait_response(timeout=STEP_TIMEOUT)
    await _until(lambda: any(m.content for m in discord.interaction_messages(press)))
    _show(out, lei, [m for m in discord.interaction_messages(press) if m.content])


async def _images(world: SandboxWorld, out: Transcript, alice: Member, lei: Member) -> None:
    grid = await _media(world, out, lei, "imagine", "🎨", prompt="a red fox in the snow --ar 3:2")
    u2 = grid.components[0]["components"][1]
    out.line(f"{lei.label}:", f"presses [{u2['label']}]")
    press = await world.discord.click(grid.id, u2["custom_id"], lei.id, locale=lei.locale)
    await press.wait_response(timeout=STEP_TIMEOUT)
    await _until(lambda: len(_cards(world, "🎨")) > 1 and "-# " in _cards(world, "🎨")[1].content)
    out.line(f"Atelier [{lei.locale}]:", _describe_card(_cards(world, "🎨")[1]))
    await _animate(world, out, lei, _cards(world, "🎨")[1])

    photo = [("kyoto.png", sandbox_png("kyoto", False), "image/png")]
    await _media(world, out, alice, "describe", "🎨", photo)
    pair = [(f"{name}.png", sandbox_png(name, False), "image/png") for name in ("fox", "snow")]
    await _media(world, out, lei, "blend", "🎨", pair, dimensions="SQUARE")


async def _animate(world: SandboxWorld, out: Transcript, member: Member, image: Message) -> None:
    """Animate an upscale: the form's title says the price before anything is held, and the
    video's card links back to the image."""
    discord = world.discord
    buttons = [c for row in image.components for c in row["components"]]
    button = next(c for c in buttons if c["custom_id"].startswith("atelier:anim:"))
    out.line(f"{member.label}:", f"presses [{button['label']}]")
    opened = await discord.click(image.id, button["custom_id"], member.id, locale=member.locale)
    await opened.wait_response(timeout=STEP_TIMEOUT)
    if opened.modal is None:  # the model has lengths to choose: a private menu, priced, first
        await _until(lambda: bool(discord.interaction_messages(opened)))
        [menu] = discord.interaction_messages(opened)
        [select] = menu.components[0]["components"]
        labels = " | ".join(o["label"] for o in select["options"])
        shown = f"{menu.content}\n[menu: {labels}]"
        out.line(f"Atelier [{member.locale}] (only {member.name} sees it):", shown)
        chosen = select["options"][-1]
        out.line(f"{member.label}:", f"picks [{chosen['label']}]")
        opened = await discord.click(
            menu.id, select["custom_id"], member.id, locale=member.locale,
            values=[chosen["value"]],
        )  # fmt: skip
        await opened.wait_response(timeout=STEP_TIMEOUT)
    modal = opened.modal or {}
    out.line(f"Atelier [{member.locale}] (a form):", str(modal.get("title")))
    motion = "the fox runs off through the snow"
    out.line(f"{member.label}:", f"writes: {motion}")
    before = len(_cards(world, "🎬"))
    sent = await discord.submit_modal(
        world.guild_id, world.channel_id, member.id, str(modal.get("custom_id")),
        {"motion": motion}, locale=member.locale,
    )  # fmt: skip
    await sent.wait_response(timeout=STEP_TIMEOUT)
    await _until(lambda: bool(discord.interaction_messages(sent)[0].content))
    _show(out, member, discord.interaction_messages(sent))
    await _finished_card(world, out, member, "🎬", before)


async def _money(world: SandboxWorld, out: Transcript, owner: Member, lei: Member) -> None:
    """An operator sets the balance, a job it cannot pay for is refused, a grant tops it up."""
    await _reply(world, out, owner, "credit set", amount=10)
    await _reply(world, out, lei, "video", prompt="a red fox running through snow")
    await _reply(world, out, owner, "credit grant", amount=500, note="spring budget")
    await _media(world, out, lei, "video", "🎬", prompt="a red fox running through snow")


async def run_demo(config_path: Path | None) -> int:
    settings = _operator_settings(config_path)
    settings.setdefault("chat", {})["refresh_models"] = False
    # Short polls keep the demo quick; the sandbox jobs finish in about a second.
    settings["jobs"] = {
        "poll_initial": 0.1,
        "poll_max": 0.2,
        "poll_floor": 0.05,
        "progress_interval": 0.3,
    }
    out = Transcript()
    print("Atelier demo: a sandbox Discord and a sandbox upstream on 127.0.0.1, a fresh database.")
    if config_path is None:
        print("Built-in settings: ./config.toml, if there is one, is not read.")
    else:
        print(f"Built-in settings, with [credit] and [pricing] from {config_path}.")
    print("No token and no network are used. [en-US] and [zh-CN] mark each member's Discord")
    print("language; Atelier answers each member in theirs. What members see in #general:\n")
    async with SandboxWorld(config=settings) as world:
        out.line("bot:", "ready; slash commands synced to the sandbox guild")
        alice, lei = Member("alice", "en-US"), Member("李雷", "zh-CN")
        alice.id = world.add_member(alice.name, locale=alice.locale)
        lei.id = world.add_member(lei.name, locale=lei.locale)
        owner = Member("owner", "en-US", world.owner_id)  # listed in discord.owner_ids
        out.names.update({m.id: m.name for m in (alice, lei, owner)})
        out.names.update({world.discord.bot_user_id: "Atelier", world.channel_id: "general"})

        await _reply(world, out, alice, "credit balance")
        await _reply(world, out, lei, "credit balance")
        await _chat(world, out, alice, lei)
        await _reasoning(world, out, lei)
        await _reply(world, out, alice, "gpts add", id="g-2fkFE8rbu")
        await _images(world, out, alice, lei)
        await _media(world, out, alice, "lyrics", "📝", prompt="tea at dawn in Kyoto")
        await _media(
            world, out, alice, "song", "🎵", prompt="a cheerful song about Kyoto in spring"
        )
        await _money(world, out, owner, lei)
        await _reply(world, out, lei, "credit balance")

    print(f"\nDemo finished in {time.monotonic() - out.start:.1f}s.")
    return 0
