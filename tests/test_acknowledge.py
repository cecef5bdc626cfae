"""Every command, button and modal is acknowledged within Discord's 3 seconds, whatever waits
behind it: moderation answering after 3.5 s, the alert and log channels answering 429 for
3.5 s, an 8 MB attachment served at 1 MB/s, the database writer held by another transaction
for 2 s, and 80 ms for every REST round trip (issue 12).

The sandbox enforces the deadline as Discord does (a late callback gets 404/10062 and the
member sees "The application did not respond"), so "acknowledged" below means Discord took
the acknowledgement. How fast it is, with many members at once, is measured in bench/ack.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from bot.db import GuildAccount, table
from bot.sandbox.discord import InteractionHandle
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    custom_ids,
    private_reply,
    run_slash,
    shown_messages,
    shown_reply,
    wait_until,
)

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.3}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}
ACCOUNTS = table(GuildAccount)
DEADLINE = 3.0  # Discord's, and the sandbox's by default: never turned off here
MODERATION_DELAY = 3.5
ALERT_RETRY_AFTER = 3.5
WRITER_HELD = 2.0
ROUND_TRIP = 0.08
BIG_IMAGE = b"\x89PNG\r\n\x1a\n" + b"0" * (8_000_000 - 8)  # 8 MB, as large as /gpt takes
CDN_RATE = 1_000_000  # bytes per second
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


@contextlib.asynccontextmanager
async def slow_world() -> AsyncIterator[SandboxWorld]:
    async with SandboxWorld(config=CONFIG) as w:
        assert w.discord.settings.interaction_ack_deadline == DEADLINE
        yield w


async def make_everything_slow(w: SandboxWorld) -> None:
    """Moderation on and slow, alert and log posts rate-limited, slow REST and CDN."""
    alerts = w.discord.add_channel(w.guild_id, "alerts")
    mod_log = w.discord.add_channel(w.guild_id, "mod-log")
    await w.services.policies.set_moderation(w.guild_id, True, mod_log)
    # Every balance is below this: the first hold (or grant) posts the alert.
    await w.services.policies.set_alert(w.guild_id, alerts, 10**12)
    for channel in (alerts, mod_log):
        w.discord.inject(
            "POST", rf"^/channels/{channel}/messages$", status=429, retry_after=ALERT_RETRY_AFTER
        )
    w.upstream.moderation.delay = MODERATION_DELAY
    w.upstream.gpts.delay = 1.5
    w.discord.latency = ROUND_TRIP
    w.discord.settings.cdn_bytes_per_second = CDN_RATE


@contextlib.asynccontextmanager
async def writer_held(w: SandboxWorld) -> AsyncIterator[None]:
    """Another transaction holds the database writer (on PostgreSQL: the guild's account row,
    which every hold locks) for ``WRITER_HELD`` seconds from now."""
    db = w.services.db
    taken = asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as conn:
            await w.services.ledger.ensure_in(conn, w.guild_id)
            query = select(ACCOUNTS.c.balance).where(ACCOUNTS.c.guild_id == w.guild_id)
            await conn.execute(query.with_for_update())
            taken.set()
            await asyncio.sleep(WRITER_HELD)

    task = asyncio.create_task(hold())
    await taken.wait()
    try:
        yield
    finally:
        await task


def assert_acknowledged(w: SandboxWorld, handle: InteractionHandle) -> None:
    assert handle.responded, f"{handle.name!r} was never acknowledged"
    assert handle.responded_at is not None
    assert handle.responded_at - handle.created_at <= DEADLINE
    assert [r for r in w.discord.records if r["code"] == 10062] == []


async def books_closed(w: SandboxWorld) -> None:
    """Whatever the command started ends: no hold left open, the ledger adds up."""
    await w.services.jobs.wait_idle(30)

    async def closed() -> bool:
        return not await w.services.ledger.open_holds()

    deadline = asyncio.get_running_loop().time() + 30
    while not await closed():
        assert asyncio.get_running_loop().time() < deadline, await w.services.ledger.open_holds()
        await asyncio.sleep(0.05)
    assert await w.services.ledger.check() == []


async def finished_card(w: SandboxWorld, index: int) -> Any:
    def cards() -> list[Any]:
        return [
            m
            for m in w.discord.messages(w.channel_id)
            if not m.ephemeral
            and m.content.startswith(("🎨", "🎵", "📝", "🎬"))
            and "-# " in m.content
        ]

    await wait_until(lambda: len(cards()) > index, timeout=20)
    return cards()[index]


# Each scenario: what to prepare with no delays on, then the interaction to run under them.
Prepare = Callable[[SandboxWorld, int], Awaitable[Any]]
Act = Callable[[SandboxWorld, int, Any], Awaitable[InteractionHandle]]


async def nothing(w: SandboxWorld, member: int) -> None:
    return None


def slash(command: str, options: dict[str, Any] | None = None, **kw: Any) -> Act:
    async def act(w: SandboxWorld, member: int, _: Any) -> InteractionHandle:
        return await w.discord.slash(
            w.guild_id, w.channel_id, member, command, options=options, **kw
        )

    return act


async def imagined(w: SandboxWorld, member: int) -> Any:
    await run_slash(w, member, "imagine", {"prompt": "a fox"})
    return await finished_card(w, 0)


async def described(w: SandboxWorld, member: int) -> Any:
    await run_slash(w, member, "describe", attachments=[("photo.png", PNG, "image/png")])
    return await finished_card(w, 0)


async def upscaled(w: SandboxWorld, member: int) -> Any:
    grid = await imagined(w, member)
    press = await w.discord.click(grid.id, custom_ids(grid)[0], member)  # U1
    await press.wait_response()
    return await finished_card(w, 1)


async def searched(w: SandboxWorld, member: int) -> Any:
    handle = await run_slash(w, member, "gpts search", {"query": "image"})
    return await shown_reply(w, handle)


async def usage_page(w: SandboxWorld, member: int) -> Any:
    for n in range(12):  # two pages of spenders
        hold = await w.services.ledger.hold(w.guild_id, n + 1, 5, key=f"u{n}", command="gpt:x")
        await w.services.ledger.settle(hold, 5)
    handle = await run_slash(w, w.owner_id, "credit usage", {"days": 7})
    await wait_until(lambda: bool(w.discord.interaction_messages(handle)[0].attachments))
    return w.discord.interaction_messages(handle)[0]


def press(index: int, owner: bool = False) -> Act:
    async def act(w: SandboxWorld, member: int, message: Any) -> InteractionHandle:
        return await w.discord.click(
            message.id, custom_ids(message)[index], w.owner_id if owner else member
        )

    return act


def press_labelled(label: str) -> Act:
    async def act(w: SandboxWorld, member: int, message: Any) -> InteractionHandle:
        labels = [c.get("label") for row in message.components for c in row["components"]]
        return await w.discord.click(message.id, custom_ids(message)[labels.index(label)], member)

    return act


async def opened_modal(w: SandboxWorld, member: int, opener: InteractionHandle) -> Any:
    await opener.wait_response()
    assert opener.modal is not None
    return opener.modal


def modal_of(prepare_opener: Callable[[SandboxWorld, int], Awaitable[InteractionHandle]],
             values: dict[str, str]) -> tuple[Prepare, Act]:  # fmt: skip
    """Open the modal with no delays; submit it under them."""

    async def prepare(w: SandboxWorld, member: int) -> Any:
        return await opened_modal(w, member, await prepare_opener(w, member))

    async def act(w: SandboxWorld, member: int, modal: Any) -> InteractionHandle:
        return await w.discord.submit_modal(
            w.guild_id, w.channel_id, member, modal["custom_id"], values
        )

    return prepare, act


async def custom_zoom(w: SandboxWorld, member: int) -> InteractionHandle:
    card = await upscaled(w, member)
    return await press_labelled("Custom Zoom")(w, member, card)


async def custom_song(w: SandboxWorld, member: int) -> InteractionHandle:
    return await w.discord.slash(
        w.guild_id, w.channel_id, member, "song", options={"custom": True, "style": "jazz"}
    )


PROMPT_MODAL = modal_of(custom_zoom, {"prompt": "a fox with a hat"})
SONG_MODAL = modal_of(custom_song, {"title": "Cats", "style": "jazz", "lyrics": "meow meow"})

SCENARIOS: dict[str, tuple[Prepare, Act]] = {
    "gpt with an 8 MB image": (
        nothing,
        slash(
            "gpt", {"prompt": "what is this?"}, attachments=[("big.png", BIG_IMAGE, "image/png")]
        ),
    ),
    "gpt, a flagged prompt": (nothing, slash("gpt", {"prompt": "how to kill a process"})),
    "imagine": (nothing, slash("imagine", {"prompt": "a red fox"})),
    "describe": (nothing, slash("describe", attachments=[("photo.png", PNG, "image/png")])),
    "blend": (
        nothing,
        slash("blend", attachments=[("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")]),
    ),
    "song": (nothing, slash("song", {"prompt": "a song about cats"})),
    "lyrics": (nothing, slash("lyrics", {"prompt": "rain in spring"})),
    "video": (nothing, slash("video", {"prompt": "waves at dusk"})),
    "midjourney button": (imagined, press(0)),
    "describe button": (described, press(1)),
    "prompt modal": PROMPT_MODAL,
    "song modal": SONG_MODAL,
    "gpts add": (nothing, slash("gpts add", {"id": "g-2fkFE8rbu"})),
    "gpts add button": (searched, press(0)),
    "credit grant": (nothing, slash("credit grant", {"amount": 50})),
    "credit set": (nothing, slash("credit set", {"amount": 5000})),
    "usage page button": (usage_page, press(1, owner=True)),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_acknowledged_in_time_under_every_delay(scenario: str) -> None:
    prepare, act = SCENARIOS[scenario]
    async with slow_world() as w:
        member = w.add_member("alice")
        if scenario.startswith("credit"):
            member = w.owner_id  # an operator
        prepared = await prepare(w, member)
        await make_everything_slow(w)
        async with writer_held(w):
            handle = await act(w, member, prepared)
            await handle.wait_response(timeout=DEADLINE + 1)
        assert_acknowledged(w, handle)
        await books_closed(w)
        await w.services.background.wait_idle(10)


async def test_a_refusal_after_the_acknowledgement_is_private_and_free() -> None:
    """Moderation refuses after the public "thinking…": that reply goes, a private one comes,
    nothing is charged, and the admins' log gets the prompt once its 429 is over."""
    async with slow_world() as w:
        member = w.add_member("alice")
        await make_everything_slow(w)
        before = await w.services.ledger.balance(w.guild_id)
        handle = await slash("gpt", {"prompt": "how to kill a process"})(w, member, None)
        await handle.wait_response(timeout=DEADLINE + 1)
        assert_acknowledged(w, handle)
        reply = await private_reply(w, handle)
        assert reply.ephemeral and "violence" in reply.content
        assert all(m.deleted or m.ephemeral for m in w.discord.interaction_messages(handle))
        assert await w.services.ledger.balance(w.guild_id) == before
        assert w.upstream.requests_to("/v1/chat/completions") == []
        log_channel = (await w.services.policies.get(w.guild_id)).log_channel_id
        assert log_channel is not None
        await wait_until(lambda: bool(w.discord.messages(log_channel)), timeout=10)
        [logged] = w.discord.messages(log_channel)
        assert "kill a process" in logged.content


async def test_answers_after_a_defer_edit_the_original_reply() -> None:
    """After a defer the supported answer is an edit of ``@original``; a follow-up would
    replace the loading message (deprecated, and its ephemeral flag is ignored)."""
    async with slow_world() as w:
        member = w.add_member("alice")
        poor = {"prompt": "a fox"}
        await w.services.ledger.set_balance(w.guild_id, 0, key="empty", user_id=None, note="x")
        handles = [
            await run_slash(w, member, "gpts search", {"query": "image"}),
            await run_slash(w, w.owner_id, "credit usage", {"days": 7}),
            await run_slash(w, member, "imagine", poor),  # refused after the defer: no credit
        ]
        for handle in handles:
            await wait_until(lambda: bool(shown_messages(w, handle)))  # noqa: B023
            calls = [r for r in w.discord.records if handle.token in r["path"]]
            assert [r["method"] for r in calls if r["method"] == "POST"] == ["POST"]  # the defer
            assert any(r["method"] == "PATCH" and r["path"].endswith("@original") for r in calls)
        refusal = await private_reply(w, handles[-1])
        assert refusal.ephemeral and "credit" in refusal.content


@contextlib.contextmanager
def writes_seen(w: SandboxWorld, handles: list[InteractionHandle]) -> Iterator[list[bool]]:
    """For every database write a command handler starts (in discord.py's command task),
    whether the interaction it serves had been acknowledged by then."""
    db, seen = w.services.db, []
    real_transaction, real_write = db.transaction, db.write

    def note() -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name() == "CommandTree-invoker" and handles:
            seen.append(handles[-1].responded)

    def transaction() -> Any:
        note()
        return real_transaction()

    async def write(work: Any) -> Any:
        note()
        return await real_write(work)

    db.transaction, db.write = transaction, write  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del db.transaction, db.write


SETTINGS_COMMANDS: dict[str, dict[str, Any]] = {
    "admin moderation": {"enabled": True},
    "admin reasoning": {"mode": "shown"},
    "credit cooldown": {"command": "gpt", "seconds": 30},
}


@pytest.mark.parametrize("command", list(SETTINGS_COMMANDS))
async def test_settings_are_written_after_the_acknowledgement(command: str) -> None:
    """A write can wait for the database writer (SQLite's lock, a PostgreSQL row lock) for
    as long as another transaction holds it: every write of these commands starts only once
    Discord has taken the acknowledgement."""
    async with slow_world() as w:
        handles: list[InteractionHandle] = []
        with writes_seen(w, handles) as seen:
            handles.append(
                await w.discord.slash(
                    w.guild_id, w.channel_id, w.owner_id, command, SETTINGS_COMMANDS[command]
                )
            )
            await shown_reply(w, handles[0])
        assert seen, f"{command} wrote nothing"
        assert all(seen), f"{command} wrote before its acknowledgement"
        assert_acknowledged(w, handles[0])
        calls = [r for r in w.discord.records if handles[0].token in r["path"]]
        assert [r["method"] for r in calls] == ["POST", "PATCH"]  # the defer, then @original
