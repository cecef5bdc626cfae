"""An error at any awaited step between a hold and its settle or refund ends the hold at once.

For /gpt, thread replies, every job command and every button that starts a paid job, each
step that can fail is made to raise (an ordinary RuntimeError: a bug, not a typed refusal).
Each time: no hold is left open, the balance is exactly what it was (the refund row is the
hold's whole amount), and the member hears of it where they asked (issue 12).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import discord
import pytest
from sqlalchemy import select

from bot.db import LedgerEntry, table
from bot.job_types import NewJob
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    bot_messages_after,
    custom_ids,
    open_conversation,
    run_slash,
    shown_messages,
    wait_until,
)

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.3}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}
LEDGER = table(LedgerEntry)
SORRY = "Sorry, something went wrong on our side."
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


class Chaos(RuntimeError):
    """The fault injected: nothing in the bot expects it."""


def _boom(*_: Any, **__: Any) -> Any:
    raise Chaos("injected")


@contextlib.contextmanager
def patched(obj: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(obj, name)
    setattr(obj, name, replacement)
    try:
        yield
    finally:
        setattr(obj, name, original)


# -- the faults ---------------------------------------------------------------------------------


def chat_faults(w: SandboxWorld) -> dict[str, Any]:
    """The awaited steps of an answer between its hold and its settle."""
    services = w.services

    def stream_then_fail(*args: Any, **kwargs: Any) -> Any:
        async def chunks() -> Any:
            async for delta in original_stream(*args, **kwargs):
                yield delta
                raise Chaos("the stream broke oddly")

        return chunks()

    original_stream = services.chat.stream_chat
    return {
        "upstream call": patched(services.chat, "stream_chat", _boom),
        "mid-stream": patched(services.chat, "stream_chat", stream_then_fail),
        "settle": patched(services.ledger, "settle", _boom),
    }


def job_faults(w: SandboxWorld) -> dict[str, Any]:
    """The awaited steps of a job's start between its hold and the upstream's task id."""
    jobs = w.services.jobs
    original_update = jobs._update

    async def update_fails_once_submitted(job_id: int, **values: Any) -> Any:
        if "upstream_id" in values:
            raise Chaos("the database went away after the upstream took the task")
        return await original_update(job_id, **values)

    providers = contextlib.ExitStack()

    @contextlib.contextmanager
    def every_provider_submit() -> Iterator[None]:
        with providers:
            for poller in jobs._pollers.values():
                if hasattr(poller.provider, "submit"):
                    providers.enter_context(patched(poller.provider, "submit", _boom))
            yield

    return {
        "card post": patched(discord.PartialMessageable, "send", _boom),
        "attach message": patched(jobs, "attach_message", _boom),
        "upstream submit": every_provider_submit(),
        "submit's update": patched(jobs, "_update", update_fails_once_submitted),
    }


# -- the paths ----------------------------------------------------------------------------------


async def refunded_exactly(w: SandboxWorld, before: int, key_part: str) -> None:
    """No open hold; the balance as before; the hold's whole amount came back in one row."""
    await w.services.jobs.wait_idle(10)
    assert await w.services.ledger.open_holds() == []
    assert await w.services.ledger.balance(w.guild_id) == before
    async with w.services.db.read() as conn:
        rows = (
            await conn.execute(
                select(LEDGER.c.kind, LEDGER.c.amount).where(LEDGER.c.key.contains(key_part))
            )
        ).all()
    held = [-r.amount for r in rows if r.kind == "hold"]
    back = [r.amount for r in rows if r.kind == "refund"]
    assert len(held) == 1 and held[0] > 0 and back == held, rows
    assert await w.services.ledger.check() == []


async def told_privately(w: SandboxWorld, handle: Any) -> None:
    """A private "sorry" in the interaction; nothing of it left for others to see."""

    def sorry() -> bool:
        return any(m.ephemeral and m.content.startswith(SORRY) for m in shown_messages(w, handle))

    await wait_until(sorry)
    await wait_until(lambda: all(m.ephemeral for m in shown_messages(w, handle)))


SLASH_JOBS: dict[str, tuple[str, dict[str, Any] | None, list[Any] | None]] = {
    "imagine": ("imagine", {"prompt": "a fox"}, None),
    "describe": ("describe", None, [("photo.png", PNG, "image/png")]),
    "blend": ("blend", None, [("a.png", PNG, "image/png"), ("b.png", PNG, "image/png")]),
    "song": ("song", {"prompt": "a song about cats"}, None),
    "lyrics": ("lyrics", {"prompt": "rain in spring"}, None),
    "video": ("video", {"prompt": "waves at dusk"}, None),
}


@pytest.mark.parametrize("path", ["gpt", "thread reply"])
async def test_every_chat_fault_refunds_and_tells(path: str) -> None:
    async with SandboxWorld(config=CONFIG) as w:
        member = w.add_member("alice")
        thread = await open_conversation(w, member) if path == "thread reply" else None
        for name, fault in chat_faults(w).items():
            before = await w.services.ledger.balance(w.guild_id)
            with fault:
                if thread is None:
                    handle = await run_slash(w, member, "gpt", {"prompt": f"ask {name}"})
                    await told_privately(w, handle)
                    key = f"gpt:{handle.id}"
                else:
                    sent = await w.discord.post_user_message(thread, member, f"ask {name}")
                    await wait_until(
                        lambda: any(
                            m.content.startswith(SORRY)
                            for m in bot_messages_after(w, thread, sent)  # noqa: B023
                        )
                    )
                    key = f"thread:{sent}"
                await wait_until(lambda: w.bot.work.running == 0)
            await refunded_exactly(w, before, key)


@pytest.mark.parametrize("path", [*SLASH_JOBS, "midjourney button", "describe button"])
async def test_every_job_start_fault_refunds_and_tells(path: str) -> None:
    async with SandboxWorld(config=CONFIG) as w:
        member = w.add_member("alice")
        parent = await _parent_card(w, member, path)
        for name, fault in job_faults(w).items():
            before = await w.services.ledger.balance(w.guild_id)
            with fault:
                if parent is None:
                    command, options, files = SLASH_JOBS[path]
                    handle = await run_slash(w, member, command, options, attachments=files)
                else:
                    index = 0 if path == "midjourney button" else 1
                    handle = await w.discord.click(parent.id, custom_ids(parent)[index], member)
                    await handle.wait_response()
                await told_privately(w, handle)
            await refunded_exactly(w, before, f":{handle.id}")
            # Nothing is left in the channel for a job that never started.
            cards = [m for m in w.discord.messages(w.channel_id) if m.id > handle.id]
            assert [m for m in cards if not m.deleted and not m.ephemeral] == [], name


async def _parent_card(w: SandboxWorld, member: int, path: str) -> Any:
    """The finished card whose button the test presses, made with no fault."""
    if not path.endswith("button"):
        return None
    if path == "midjourney button":
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
    else:
        await run_slash(w, member, "describe", attachments=[("photo.png", PNG, "image/png")])

    def finished() -> list[Any]:
        return [m for m in w.discord.messages(w.channel_id) if "-# " in m.content]

    await wait_until(lambda: bool(finished()), timeout=20)
    await w.services.jobs.wait_idle(10)
    return finished()[0]


async def test_a_job_cut_off_before_its_upstream_id_is_swept() -> None:
    """A start that was cancelled (no exception to catch) leaves a job ``submitting`` with its
    credit held; the orphan sweep fails it and refunds it once no start can still own it."""
    async with SandboxWorld(config=CONFIG) as w:
        jobs = w.services.jobs
        before = await w.services.ledger.balance(w.guild_id)
        job = await jobs.create(
            NewJob(
                key="cut-off",
                kind="mj_imagine",
                provider="mj",
                guild_id=w.guild_id,
                channel_id=w.channel_id,
                user_id=1,
                request={"prompt": "x"},
                price=20,
                deadline_minutes=5,
                locale="en-US",
            )
        )
        assert job.status == "submitting"
        assert await w.services.ledger.balance(w.guild_id) == before - 20
        assert jobs.orphan_after is not None
        later = job.created_at + timedelta(seconds=jobs.orphan_after + 1)
        with patched(jobs, "_clock", lambda: later):
            await jobs.refund_orphaned_holds()
        swept = await jobs.get(job.id)
        assert swept is not None and (swept.status, swept.error) == ("failed", "jobs.interrupted")
        await jobs.wait_idle(10)
        await refunded_exactly(w, before, "cut-off")
