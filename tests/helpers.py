"""Helpers for end-to-end tests that read Discord the way a member would."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.db import Database
from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.upstream import SandboxRecord
from bot.sandbox.upstream.profiles import OFFERS
from bot.sandbox.world import SandboxWorld
from bot.upstream.capabilities import ALL_PROBES
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES

# Settle quickly in tests; the default pacing is exercised where a test says so.
FAST_CHAT = {"edit_interval": 0.2, "max_edit_interval": 1.6, "refresh_models": False}
_REOPEN = re.compile(r"^```[^\s`]*\n")


def sandbox_tokens(text: str) -> int:
    """The sandbox upstream's usage rule: ceil(chars / 4)."""
    return math.ceil(len(text) / 4)


def on_gateways(*families: str) -> pytest.MarkDecorator:
    """Parametrize a test's ``profile`` over every sandbox gateway profile that offers all of
    ``families`` (``bot/sandbox/upstream/profiles.py``): one happy path per family per profile."""
    params = [
        pytest.param(name, id=name)
        for name, offers in OFFERS.items()
        if set(families) <= offers
    ]
    return pytest.mark.parametrize("profile", params)


def is_probe(record: SandboxRecord) -> bool:
    """A request of capability discovery (at every start), not of a command."""
    return any(
        record.method == probe.method
        and record.path == probe.path.split("?")[0]
        and (probe.body is None or record.json == probe.body)
        for probe in ALL_PROBES
    )


def command_requests(world: SandboxWorld) -> list[SandboxRecord]:
    """The upstream requests the bot made for commands and jobs (probes left out)."""
    return [r for r in world.upstream.records if not is_probe(r)]


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


async def run_answered(
    world: SandboxWorld,
    user_id: int,
    command: str,
    options: dict[str, Any] | None = None,
    **kw: Any,
) -> Message:
    """Run a command and wait for its answer: commands that write acknowledge first, so
    what they change is done once the answer shows, not once the interaction is answered."""
    handle = await run_slash(world, user_id, command, options, **kw)
    return await private_reply(world, handle)


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll a condition the bot makes true in the background (no fixed sleeps)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.01)


async def private_reply(world: SandboxWorld, handle: InteractionHandle) -> Message:
    """The interaction's reply once it has text (a deferred reply starts empty; a public
    "thinking" reply replaced by a private answer is gone)."""

    def answered() -> bool:
        return any(m.content for m in shown_messages(world, handle))

    await wait_until(answered)
    return next(m for m in shown_messages(world, handle) if m.content)


async def edited(world: SandboxWorld, message_id: int, before: float | None) -> Message:
    """The message once edited after ``before`` (its ``edited_at`` then): a button that
    acknowledges first edits its message a moment after the acknowledgement."""
    await wait_until(lambda: world.discord.message(message_id).edited_at != before)
    return world.discord.message(message_id)


def shown_messages(world: SandboxWorld, handle: InteractionHandle) -> list[Message]:
    """The interaction's messages a member can see with something in them: not a deferred
    reply still empty, not a public "thinking" reply the bot replaced by a private answer."""
    return [
        m
        for m in world.discord.interaction_messages(handle)
        if not m.deleted and (m.content or m.embeds or m.attachments)
    ]


async def shown_reply(world: SandboxWorld, handle: InteractionHandle) -> Message:
    """The one answer of an interaction that acknowledged first and answered after."""
    await wait_until(lambda: bool(shown_messages(world, handle)))
    [message] = shown_messages(world, handle)
    return message


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


async def open_conversation(world: SandboxWorld, member: int, prompt: str = "open") -> int:
    """Ask /gpt in the main channel and return the conversation thread it opens."""
    handle = await run_slash(world, member, "gpt", {"prompt": prompt})
    [answer] = await final_answer(world, handle)
    # A thread started from a message takes the message's id; the bot posts a hint in it.
    await world.discord.wait_for_message(lambda m: m.channel_id == answer.id)
    return answer.id


def bot_messages_after(world: SandboxWorld, thread_id: int, after: int) -> list[Message]:
    bot = world.discord.bot_user_id
    return [m for m in world.discord.messages(thread_id) if m.id > after and m.author_id == bot]


async def thread_reply(
    world: SandboxWorld, thread_id: int, after: int, timeout: float = 10
) -> list[Message]:
    """The bot's finished reply to the member message ``after`` in a conversation thread."""

    def done() -> bool:
        messages = bot_messages_after(world, thread_id, after)
        return bool(messages) and is_final(messages[-1])

    await wait_until(done, timeout)
    await wait_until(lambda: world.bot is None or world.bot.work.running == 0, timeout)
    return bot_messages_after(world, thread_id, after)


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


@contextlib.asynccontextmanager
async def throwaway_postgres(prefix: str = "atelier_test") -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database, dropped afterwards; for what opens its own
    connections (the operator CLI, bot processes), which a test schema's search_path cannot
    reach. Skips (or fails, when CI requires PostgreSQL) if the server is unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = Database(POSTGRES_URL)
    try:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"CREATE DATABASE {name}")
    except Exception as exc:
        await admin.close()
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__})")
    try:
        yield f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        async with admin.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


async def insert_without_account(db: Database, guild_id: int, amount: int) -> None:
    """A ledger row for a guild with no account row, past the foreign key, as a restore or a
    hand edit could leave one (``atelier ledger check`` must report it)."""
    if db.is_sqlite:
        path = db.url.split("///", 1)[1]
        with contextlib.closing(sqlite3.connect(path)) as raw:  # foreign keys are off by default
            raw.execute(
                "INSERT INTO ledger (guild_id, kind, amount, key, created_at) "
                "VALUES (?, 'grant', ?, ?, '2024-01-01 00:00:00')",
                (guild_id, amount, f"stray:{guild_id}"),
            )
            raw.commit()
        return
    async with db.transaction() as conn:
        await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")  # no FK checks
        await conn.exec_driver_sql(
            "INSERT INTO ledger (guild_id, kind, amount, key, created_at) "
            f"VALUES ({int(guild_id)}, 'grant', {int(amount)}, 'stray:{int(guild_id)}', now())"
        )


def custom_ids(message: Message) -> list[str]:
    """The custom_ids of a message's buttons, row by row."""
    return [c["custom_id"] for row in message.components for c in row["components"]]


def mj_actions(message: Message) -> list[str]:
    """The custom_ids of a card's Midjourney buttons (the upstream's U1, V1…), without the
    bot's own buttons after them (Seed)."""
    return [c for c in custom_ids(message) if c.startswith("atelier:mj:")]


async def restart_with(world: SandboxWorld, section: str, **values: Any) -> None:
    """Restart the bot with settings of one config section changed; data and sandboxes stay.

    A test that needs a job to time out shortens the deadline only for that job: a job that
    must finish first runs under the normal deadline, which no loaded machine reaches.
    """
    assert world.config is not None
    changed = getattr(world.config, section).model_copy(update=values)
    world.config = world.config.model_copy(update={section: changed})
    await world.restart_bot()


class ManualClock:
    """Time that moves only when a test says so: a sandbox's task clock, a reply's pacing.

    A test holds a task at one stage for as long as it needs to see that stage, however slowly
    the machine runs, instead of hoping a real-time window is long enough.
    """

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def ever_showed(world: SandboxWorld, *parts: str) -> bool:
    """Some message in the world's channel showed, at some point, text with every one of parts."""
    return any(
        all(part in content for part in parts)
        for message in world.discord.messages(world.channel_id)
        for _, content, _ in message.history
    )


async def hold_until_shown(state: Any, into: float, shown: Any) -> None:
    """Hold a sandbox task ``into`` seconds along its run until ``shown()`` holds, then let it
    run to its end: the stage is seen however slowly the machine polls.

    ``state`` is the sandbox's script for one task family (``world.upstream.midjourney``,
    ``.suno``, ``.video``) whose ``clock`` is a ManualClock; its task must have been submitted
    (the bot submits after acknowledging, so this waits for it).
    """
    await wait_until(lambda: bool(state.tasks), timeout=15)
    state.clock.advance(into)
    await wait_until(shown, timeout=15)
    state.clock.advance(3600)
