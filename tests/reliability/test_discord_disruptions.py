"""More Discord faults: a job card deleted by a member, a channel deleted mid-answer, global and
callback rate limits, and the gateway invalidating the session. Members get their answer or a
clear word, and the ledger balances."""

from __future__ import annotations

from bot.sandbox.discord import Message
from tests.helpers import (
    answer_text,
    final_answer,
    is_final,
    mj_actions,
    open_conversation,
    run_slash,
    thread_reply,
    wait_until,
)
from tests.reliability.amounts import (
    action_charge,
    chat_by_shown,
    chat_by_usage,
    shown_answer,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    channel_cards,
    ephemeral_reply,
    finished_card,
    settled,
    upscale_settles,
    world,
)

ORIGINAL = r"/messages/@original$"
CALLBACK = r"^/interactions/\d+/[^/]+/callback$"
CHAT = "/v1/chat/completions"
QUIET_JOBS = {"progress_interval": 100.0}  # no progress edits: the delivery is the first edit


@scenario(
    "discord",
    "a member deletes the job card while the task runs (the delivery edit answers 404/10008)",
    sees="a new card with the image and its buttons, posted in the same channel; the buttons work",
    lost="nothing: charged once",
)
async def test_job_card_deleted_by_member(note: Note) -> None:
    async with world(jobs=QUIET_JOBS) as w:
        w.upstream.midjourney.durations = (0.05, 0.05, 0.5)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a fox"})
        await wait_until(lambda: len(channel_cards(w)) == 1)
        [first] = channel_cards(w)
        w.discord.delete_message(first.id)
        card = await finished_card(w)
        assert card.id != first.id and card.attachments and len(mj_actions(card)) == 9
        assert [r["code"] for r in w.discord.records if r["code"] == 10008] == [10008]
        await w.services.jobs.wait_idle(10)  # the delivery is recorded, not only shown
        job = await w.services.jobs.get(1)
        assert job is not None and job.message_id == card.id and job.delivery == "delivered"
        await upscale_settles(w, note, card, member)  # U1, on the new card


@scenario(
    "discord",
    "the channel is deleted while a /gpt answer streams into it",
    sees="nothing more (the channel is gone); the error reply finds no channel either",
    lost="nothing: only the text shown before the deletion is charged",
)
async def test_channel_deleted_mid_stream(note: Note) -> None:
    async with world() as w:
        channel = w.discord.add_channel(w.guild_id, "doomed")
        w.upstream.chat.reply = "A long answer, streamed slowly. " * 12
        w.upstream.chat.pace = 0.02
        member = w.add_member("alice")
        handle = await run_slash(w, member, "gpt", {"prompt": "go"}, channel_id=channel)

        def shown() -> str:
            messages = w.discord.interaction_messages(handle)
            return messages[0].content if messages else ""

        await wait_until(lambda: shown().startswith("A long answer"))
        w.discord.delete_channel(channel)
        await wait_until(lambda: w.bot.work.running == 0, timeout=20)
        assert w.discord.messages(channel) == []
        hold = await w.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and hold.status in ("settled", "refunded")
        assert len(w.upstream.requests_to(CHAT)) == 1
        note(sees=f"the answer stops where it was; its hold is {hold.status} "
             f"({hold.actual or 0} of {hold.amount} credits)")  # fmt: skip
        await settled(
            w, note, chat_by_shown(w, shown_answer(w.discord.interaction_messages(handle)))
        )


@scenario(
    "discord",
    "a global 429 (3 in a row) on the streamed reply's edits",
    sees="the whole answer, a little later",
)
async def test_global_429_on_edits(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 150
        w.upstream.chat.pace = 0.005
        w.discord.inject("PATCH", ORIGINAL, status=429, times=3, skip=1, retry_after=0.2,
                         is_global=True)  # fmt: skip
        member = w.add_member("alice")
        messages = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "go"}))
        assert answer_text(messages) == "word " * 150
        assert w.discord.count_429(injected=True) == 3
        await settled(w, note, chat_by_usage(w))


@scenario(
    "discord",
    "a 429 on the interaction callback (the defer) of /gpt and /imagine",
    sees="the answer and the job card, a moment later",
)
async def test_429_on_interaction_callback(note: Note) -> None:
    async with world() as w:
        w.discord.inject("POST", CALLBACK, status=429, times=2, retry_after=0.3)
        member = w.add_member("alice")
        messages = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "hi"}))
        assert answer_text(messages).startswith("Echo: hi")
        handle = await run_slash(w, member, "imagine", {"prompt": "a fox"})
        await ephemeral_reply(w, handle)
        card = await finished_card(w)
        assert card.attachments
        assert w.discord.count_429(injected=True) == 2
        await settled(w, note, chat_by_usage(w) + action_charge(w, "mj_imagine"))


@scenario(
    "discord",
    "the gateway answers INVALID_SESSION (not resumable) during a stream",
    sees="the whole answer; the bot identifies again and the next command works",
)
async def test_invalid_session_during_stream(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "word " * 120
        w.upstream.chat.pace = 0.01
        member = w.add_member("alice")

        def identifies() -> int:
            return sum(1 for f in w.discord.gateway_log if f["dir"] == "in" and f["op"] == 2)

        before = identifies()
        handle = await run_slash(w, member, "gpt", {"prompt": "go"})
        await wait_until(lambda: len(w.upstream.requests_to(CHAT)) == 1)
        assert w.discord.invalidate_sessions() == 1
        messages = await final_answer(w, handle)
        assert answer_text(messages) == "word " * 120
        await wait_until(lambda: identifies() > before, timeout=15)  # a new session
        assert any(f["dir"] == "out" and f["op"] == 9 for f in w.discord.gateway_log)
        await wait_until(lambda: w.bot.is_ready(), timeout=15)
        w.upstream.chat.reply = "after the new session"
        messages = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "again"}))
        assert answer_text(messages) == "after the new session"
        await settled(w, note, chat_by_usage(w))


@scenario(
    "discord",
    "Discord delivers a member's thread message twice (gateway events are at-least-once)",
    sees="one reply to it; the member is charged once",
)
async def test_thread_message_delivered_twice(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = lambda body: f"reply #{len(body['messages'])}"
        member = w.add_member("alice")
        thread = await open_conversation(w, member, "Plan a trip")
        asked = await w.discord.post_user_message(thread, member, "and then?")
        await thread_reply(w, thread, asked)
        w.discord.redeliver_message(asked)
        # Replies in a thread take turns in arrival order: once the next message is answered,
        # the replayed one has been handled.
        sentinel = await w.discord.post_user_message(thread, member, "one more")

        def answers_to(message_id: int) -> list[Message]:
            return [
                m
                for m in w.discord.messages(thread)
                if (m.message_reference or {}).get("message_id") == str(message_id)
            ]

        await wait_until(lambda: any(is_final(m) for m in answers_to(sentinel)), timeout=10)
        await wait_until(lambda: w.bot.work.running == 0)
        assert len(answers_to(asked)) == 1  # answered once
        assert len(w.upstream.requests_to(CHAT)) == 3  # the opening answer and two replies
        await settled(w, note, chat_by_usage(w))
