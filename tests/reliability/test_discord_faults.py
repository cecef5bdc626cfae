"""Discord faults: rate-limit storms, 5xx, a dropped gateway, dead tokens, lost channels and
permissions. Members must get their answers or a clear word, and the ledger must balance."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import (
    answer_text,
    final_answer,
    mj_actions,
    run_slash,
    wait_until,
)
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
    chat_by_shown,
    chat_by_usage,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    STARTING_BALANCE,
    channel_cards,
    ephemeral_reply,
    finished_card,
    settled,
    upscale_settles,
    world,
)

ORIGINAL = r"/messages/@original$"
CHANNEL_POST = r"^/channels/\d+/messages$"
CARD_EDIT = r"^/channels/\d+/messages/\d+$"
QUIET_JOBS = {"progress_interval": 100.0}


def instant(w: Any) -> None:
    """Tasks finish before their first poll: no progress edits, the first card edit delivers."""
    w.upstream.midjourney.durations = (0.0, 0.0, 0.0)


async def gpt(w: Any, prompt: str = "go", member: int | None = None) -> Any:
    member = member or w.add_member(f"m{len(w.discord.store.users)}")
    handle = await run_slash(w, member, "gpt", {"prompt": prompt})
    return await final_answer(w, handle, timeout=30)


# --- rate limits ----------------------------------------------------------------------------


@scenario(
    "discord",
    "429 storm on the streamed reply's edits (4 in a row, per route)",
    sees="the whole answer; edits slow down, nothing is lost",
)
async def test_gpt_edit_429_storm(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 200
        w.upstream.chat.pace = 0.005
        w.discord.inject("PATCH", ORIGINAL, status=429, times=4, skip=1, retry_after=0.1)
        messages = await gpt(w)
        assert answer_text(messages) == "word " * 200
        assert w.discord.count_429(injected=True) == 4
        note(sees=f"the whole answer after {w.discord.count_429()} 429s")
        await settled(w, note, chat_by_usage(w))


@scenario(
    "discord",
    "429 storm longer than discord.py's 5 tries on one edit",
    sees="the whole answer (the failed edit is retried with the next text)",
)
async def test_gpt_edit_429_storm_beyond_retries(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 200
        w.upstream.chat.pace = 0.005
        w.discord.inject("PATCH", ORIGINAL, status=429, times=6, skip=1, retry_after=0.05)
        messages = await gpt(w)
        assert answer_text(messages) == "word " * 200
        await settled(w, note, chat_by_usage(w))


@scenario(
    "discord",
    "global 429 on channel posts while job cards are sent",
    sees="the job card and its result, a moment later",
)
async def test_global_429_on_sends(note: Note) -> None:
    async with world() as w:
        w.discord.inject("POST", CHANNEL_POST, status=429, times=2, retry_after=0.2, is_global=True)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        card = await finished_card(w)
        assert card.attachments
        assert w.discord.count_429(injected=True) == 2
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "discord",
    "429 storm on job card edits (progress and delivery)",
    sees="the finished card with its image",
)
async def test_card_edit_429_storm(note: Note) -> None:
    async with world(jobs={"progress_interval": 0.05}) as w:
        w.upstream.midjourney.durations = (0.02, 0.02, 0.4)
        w.discord.inject("PATCH", CARD_EDIT, status=429, times=4, retry_after=0.1)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        card = await finished_card(w)
        assert card.attachments
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "discord",
    "thread replies under a per-route 429 storm on sends",
    sees="the whole reply in the thread",
)
async def test_thread_send_429(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = lambda body: f"reply #{len(body['messages'])}"
        member = w.add_member("alice")
        [answer] = await gpt(w, "Plan a trip", member)
        thread_id = answer.id
        await w.discord.wait_for_message(lambda m: m.channel_id == thread_id)
        w.discord.inject("POST", CHANNEL_POST, status=429, times=3, retry_after=0.1)
        await w.discord.post_user_message(thread_id, member, "and then?")
        await w.discord.wait_for_message(
            lambda m: m.channel_id == thread_id and m.content.startswith("reply #3\n-# "),
            timeout=10,
        )
        await settled(w, note, chat_by_usage(w))


# --- 5xx ------------------------------------------------------------------------------------


@scenario(
    "discord",
    "502 on an edit of the streamed reply (once)",
    sees="the whole answer (discord.py retries after 1 s)",
)
async def test_gpt_edit_502(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 60
        w.upstream.chat.pace = 0.01
        w.discord.inject("PATCH", ORIGINAL, status=502, times=1, skip=1)
        messages = await gpt(w)
        assert answer_text(messages) == "word " * 60
        await settled(w, note, chat_by_usage(w))


@pytest.mark.parametrize("status", [500, 503])
@scenario(
    "discord",
    "5xx on the job card's delivery edit (once)",
    sees="the finished card with its image",
)
async def test_card_delivery_5xx(note: Note, status: int) -> None:
    async with world(jobs=QUIET_JOBS) as w:
        instant(w)
        w.discord.inject("PATCH", CARD_EDIT, status=status, times=1)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        card = await finished_card(w, timeout=20)
        assert card.attachments
        note(fault=f"HTTP {status} on the job card's delivery edit (once)")
        await settled(w, note, action_charge(w, "mj_imagine"))


# --- the gateway ------------------------------------------------------------------------------


@scenario(
    "discord",
    "gateway connection drops during a stream (client RESUMEs)",
    sees="the whole answer; the next command works",
)
async def test_gateway_drop_during_stream(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 120
        w.upstream.chat.pace = 0.01
        member = w.add_member("alice")
        handle = await run_slash(w, member, "gpt", {"prompt": "go"})
        await wait_until(lambda: len(w.upstream.requests_to("/v1/chat/completions")) == 1)
        assert w.discord.drop_gateway() == 1
        messages = await final_answer(w, handle)
        assert answer_text(messages) == "word " * 120
        await w.discord.wait_for_gateway(lambda f: f.get("op") == 6, timeout=10)  # RESUME
        w.upstream.chat.reply = "after the drop"
        messages = await gpt(w, "again", member)
        assert answer_text(messages) == "after the drop"
        await settled(w, note, chat_by_usage(w))


@scenario(
    "discord",
    "gateway connection drops while a job runs",
    sees="the finished card; its buttons work afterwards",
)
async def test_gateway_drop_during_job(note: Note) -> None:
    async with world(jobs=QUIET_JOBS) as w:  # no progress edits to spend the channel's bucket
        w.upstream.midjourney.durations = (0.05, 0.05, 0.6)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a boat"})
        await wait_until(lambda: bool(w.upstream.requests_to("/mj/task/list-by-condition")))
        w.discord.drop_gateway()
        card = await finished_card(w)
        await w.discord.wait_for_gateway(lambda f: f.get("op") == 6, timeout=10)
        await upscale_settles(w, note, card, member)


# --- interactions that outlive their token ---------------------------------------------------


@scenario(
    "discord",
    "the interaction token expires (15 min, here 1 s) before a long job finishes",
    sees="the result in the channel card; nothing used the dead token",
)
async def test_token_expired_before_job_finishes(note: Note) -> None:
    async with world(discord_options={"interaction_token_ttl": 1.0}) as w:
        w.upstream.midjourney.durations = (0.05, 0.05, 1.6)
        member = w.add_member("alice")
        handle = await run_slash(w, member, "imagine", {"prompt": "slow"})
        await ephemeral_reply(w, handle)
        card = await finished_card(w, timeout=20)
        assert card.attachments and card.webhook_id is None and not card.ephemeral
        late = [
            r
            for r in w.discord.records
            if "/webhooks/" in r["path"] and r["t"] - handle.created_at > 1.0
        ]
        assert late == []  # the result went through channel routes only
        assert [r for r in w.discord.records if r["code"] == 50027] == []
        await settled(w, note, action_charge(w, "mj_imagine"))


@pytest.mark.parametrize("command", ["gpt", "imagine"])
@scenario(
    "discord",
    "moderation answers after 3.5 s and the alert channel answers 429 for 3.5 s, with "
    "Discord's real 3 s deadline",
    sees="“thinking…” within the deadline; then the answer or the card; the alert a moment later",
)
async def test_ack_in_time_behind_slow_work(note: Note, command: str) -> None:
    async with world() as w:
        assert w.discord.settings.interaction_ack_deadline == 3.0  # Discord's, never 0 here
        alerts = w.discord.add_channel(w.guild_id, "alerts")
        await w.services.policies.set_moderation(w.guild_id, True, None)
        await w.services.policies.set_alert(w.guild_id, alerts, STARTING_BALANCE + 1)
        w.upstream.moderation.delay = 3.5
        w.discord.inject("POST", rf"^/channels/{alerts}/messages$", status=429, retry_after=3.5)
        instant(w)
        member = w.add_member("alice")
        handle = await w.discord.slash(w.guild_id, w.channel_id, member, command, {"prompt": "hi"})
        await handle.wait_response(timeout=4)
        assert handle.responded_at is not None
        waited = handle.responded_at - handle.created_at
        assert waited <= 3.0 and [r for r in w.discord.records if r["code"] == 10062] == []
        note(fault=f"/{command}: moderation 3.5 s, alert channel 429 for 3.5 s",
             sees=f"acknowledged after {waited:.2f} s, then the answer")  # fmt: skip
        if command == "gpt":
            await final_answer(w, handle, timeout=30)
        else:
            await finished_card(w, timeout=30)
        await wait_until(lambda: bool(w.discord.messages(alerts)), timeout=10)
        if command == "gpt":
            await settled(w, note, chat_by_usage(w))
        else:
            await settled(w, note, action_charge(w, "mj_imagine"))


@pytest.mark.parametrize("command", ["gpt", "imagine"])
@scenario(
    "discord",
    "the interaction expires before the bot can answer it (the callback answers 404/10062)",
    sees="Discord's “The application did not respond”; no card, no answer, nothing held",
)
async def test_ack_too_late(note: Note, command: str) -> None:
    async with world(discord_options={"interaction_ack_deadline": 0.0}) as w:
        member = w.add_member("alice")
        handle = await w.discord.slash(w.guild_id, w.channel_id, member, command, {"prompt": "hi"})
        await w.discord.wait_for(lambda r: r["code"] == 10062)
        note(fault=f"/{command} acknowledged too late (callback → 404/10062)")
        assert handle.response_type is None
        assert channel_cards(w) == []
        assert w.upstream.requests_to("/v1/chat/completions") == []
        await settled(w, note, NOTHING)


# --- lost channels and missing permissions ----------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "what"),
    [(404, 10003, "the channel was deleted"), (403, 50013, "the bot may not send there")],
)
@scenario(
    "discord",
    "/imagine where the card cannot be posted",
    sees="private: I can't post in this channel… Nothing was charged.",
)
async def test_imagine_card_cannot_be_posted(note: Note, status: int, code: int, what: str) -> None:
    async with world() as w:
        w.discord.inject("POST", CHANNEL_POST, status=status, code=code, times=1)
        member = w.add_member("alice")
        handle = await run_slash(w, member, "imagine", {"prompt": "a fox"})
        reply = await ephemeral_reply(w, handle)
        assert "can't post" in reply.content and "Nothing was charged" in reply.content
        assert w.upstream.requests_to("/mj/submit/imagine") == []
        note(fault=f"/imagine when {what} ({status}/{code} on channel posts)", sees=reply.content)
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(("status", "code"), [(404, 10003), (403, 50013)])
@scenario(
    "discord",
    "the job card's channel is gone or closed to the bot when the result arrives",
    sees="nothing more can be shown there; the job is recorded as undeliverable",
    lost="the result is not shown (the task ran and is charged)",
)
async def test_delivery_into_lost_channel(note: Note, status: int, code: int) -> None:
    async with world(jobs=QUIET_JOBS) as w:
        w.upstream.midjourney.durations = (0.0, 0.0, 0.3)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        await wait_until(lambda: len(channel_cards(w)) == 1)
        [card] = channel_cards(w)
        w.discord.inject("*", rf"^/channels/{w.channel_id}/", status=status, code=code, times=50)
        await wait_until(lambda: w.upstream.midjourney.submits["IMAGINE"] == 1)
        job = await _job_when(w, lambda j: j.status == "succeeded")
        await w.services.jobs.wait_idle(10)
        job = await w.services.jobs.get(job.id)
        assert job is not None and job.delivery == "undeliverable"  # not retried forever
        note(fault=f"result arrives in a channel that answers {status}/{code}")
        await settled(w, note, action_charge(w, "mj_imagine"))
        assert card.content.startswith("🎨")


@scenario(
    "discord",
    "the bot may not attach files where the result goes (403/50013 on the upload)",
    sees="the finished card with buttons and a link instead of the image",
    lost="the image is not attached (link instead)",
)
async def test_delivery_without_attach_permission(note: Note) -> None:
    async with world(jobs=QUIET_JOBS) as w:
        instant(w)
        w.discord.inject("PATCH", CARD_EDIT, status=403, code=50013, times=1)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        card = await finished_card(w)
        assert card.attachments == [] and "could not be attached here" in card.content
        assert "/mj/image/" in card.content and len(mj_actions(card)) == 9
        await settled(w, note, action_charge(w, "mj_imagine"))


@pytest.mark.parametrize(("status", "code"), [(404, 10003), (403, 50013)])
@scenario(
    "discord",
    "a thread reply where the thread is gone or closed to the bot",
    sees="no reply (nowhere to show it)",
    lost="nothing: the answer is not charged",
)
async def test_thread_reply_cannot_be_sent(note: Note, status: int, code: int) -> None:
    async with world() as w:
        member = w.add_member("alice")
        [answer] = await gpt(w, "Plan a trip", member)
        thread_id = answer.id
        await w.discord.wait_for_message(lambda m: m.channel_id == thread_id)
        w.discord.inject(
            "POST", rf"^/channels/{thread_id}/messages$", status=status, code=code, times=20
        )
        await w.discord.post_user_message(thread_id, member, "and then?")
        await wait_until(lambda: len(w.upstream.requests_to("/v1/chat/completions")) == 2)
        await wait_until(lambda: w.bot.work.running == 0)
        note(fault=f"thread reply when the thread answers {status}/{code}")
        await settled(w, note, chat_by_usage(w, 0) + chat_by_shown(w, "", 1))


@scenario(
    "discord",
    "the thread under a /gpt answer cannot be opened (403/50013)",
    sees="the whole answer, without a thread",
)
async def test_thread_cannot_be_opened(note: Note) -> None:
    async with world() as w:
        w.discord.inject("POST", r"/threads$", status=403, code=50013, times=1)
        messages = await gpt(w)
        assert answer_text(messages).startswith("Echo: go")
        await wait_until(lambda: w.bot.work.running == 0)
        followups = [m for m in w.discord.messages(w.channel_id) if m.ephemeral]
        assert followups == []  # no apology after a delivered answer
        await settled(w, note, chat_by_usage(w))


async def _job_when(w: Any, predicate: Any, timeout: float = 10.0) -> Any:
    found: list[Any] = []

    async def check() -> bool:
        job = await w.services.jobs.get(1)
        if job is not None and predicate(job):
            found.append(job)
            return True
        return False

    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "job did not reach the state"
        await asyncio.sleep(0.02)
    return found[0]
