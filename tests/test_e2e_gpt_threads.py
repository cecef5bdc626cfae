"""/gpt conversations end to end: inline or threads, history budget, long replies, turn order."""

from __future__ import annotations

from bot.conversations import Turn
from bot.sandbox.discord import mentions_pinged
from bot.sandbox.world import SandboxWorld
from bot.splitting import open_fence_language
from tests.helpers import (
    FAST_CHAT,
    answer_text,
    bot_messages_after,
    final_answer,
    is_final,
    open_conversation,
    run_slash,
    thread_reply,
    wait_until,
)


def last_user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


async def test_history_sent_upstream_is_trimmed_to_the_budget_newest_kept() -> None:
    async with SandboxWorld(config={"chat": {**FAST_CHAT, "history_chars": 500}}) as world:
        # Every answer is 300 characters: two of them with their questions overrun 500.
        world.upstream.chat.reply = lambda body: f"[{last_user_text(body)}] ".ljust(300, "~")
        member = world.add_member("alice")
        thread_id = await open_conversation(world, member, "first question")
        for question in ("second question", "third question"):
            said = await world.discord.post_user_message(thread_id, member, question)
            await thread_reply(world, thread_id, said)

        _, second, third = world.upstream.requests_to("/v1/chat/completions")
        # Within the budget (14 + 300 + 15 characters) the whole history goes.
        assert [m["content"][:16] for m in second.json["messages"]] == [
            "first question",
            "[first question]",
            "second question",
        ]
        # Newest first, 14 + 300 + 15 fit in 500 and the answer before (300 more) does not:
        # it and everything older stay out.
        sent = [(m["role"], m["content"][:17]) for m in third.json["messages"]]
        assert sent == [
            ("user", "second question"),
            ("assistant", "[second question]"),
            ("user", "third question"),
        ]
        # Only what is sent is trimmed: the conversation keeps every turn.
        conversation = await world.services.conversations.by_channel(thread_id)
        turns = await world.services.conversations.turns(conversation.id)
        assert [t.content for t in turns if t.role == "user"] == [
            "first question",
            "second question",
            "third question",
        ]


async def test_a_long_thread_reply_continues_in_more_channel_messages() -> None:
    # Three messages: with the hint that makes four sends, under the channel's 5 per 5 s.
    text = "Intro.\n\n```python\n" + "".join(f"line_{i} = {i}\n" for i in range(280)) + "```\nEnd."
    assert 4000 < len(text) < 5000
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        member = world.add_member("alice")
        thread_id = await open_conversation(world, member)
        world.upstream.chat.reply = text
        world.upstream.chat.chunk_chars = 200
        said = await world.discord.post_user_message(thread_id, member, "the whole file please")
        reply = await thread_reply(world, thread_id, said)

        assert len(reply) == 3
        assert all(len(m.content) <= 2000 for m in reply)
        assert all(open_fence_language(m.content) is None for m in reply)
        assert all(m.content.startswith("```python\n") for m in reply[1:])
        assert answer_text(reply) == text
        # The first message answers the member's; the rest follow it as plain messages.
        assert reply[0].message_reference["message_id"] == str(said)
        assert all(m.message_reference is None for m in reply[1:])


async def test_everyone_in_a_thread_reply_pings_no_one() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        member = world.add_member("mallory")
        thread_id = await open_conversation(world, member)
        world.upstream.chat.reply = f"@everyone @here <@{member}> <@&42> listen up!"
        said = await world.discord.post_user_message(thread_id, member, "ping @everyone")
        [message] = await thread_reply(world, thread_id, said)
        assert message.content.startswith("@everyone @here")
        assert message.allowed_mentions is not None
        assert not message.allowed_mentions.get("parse")
        assert not message.allowed_mentions.get("replied_user")
        assert not mentions_pinged(message)


async def test_quick_messages_in_one_conversation_are_answered_one_at_a_time() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        chat = world.upstream.chat
        chat.reply = lambda body: f"reply to {last_user_text(body)} ({len(body['messages'])})"
        member, other = world.add_member("alice"), world.add_member("bob")
        thread_id = await open_conversation(world, member)
        chat.chunk_chars, chat.pace = 4, 0.03  # each reply streams for about a quarter second
        first = await world.discord.post_user_message(thread_id, member, "one?")
        await world.discord.post_user_message(thread_id, other, "two?")

        def finished() -> list[str]:
            replies = bot_messages_after(world, thread_id, first)
            return [m.content for m in replies if is_final(m)]

        await wait_until(lambda: len(finished()) == 2)
        await wait_until(lambda: world.bot.work.running == 0)
        # The second reply saw the first exchange: it started after that was saved.
        _, to_one, to_two = world.upstream.requests_to("/v1/chat/completions")
        assert [m["content"] for m in to_one.json["messages"]][-1] == "one?"
        assert [m["content"] for m in to_two.json["messages"]] == [
            "open",
            "reply to open (1)",
            "one?",
            "reply to one? (3)",
            "two?",
        ]
        conversation = await world.services.conversations.by_channel(thread_id)
        assert await world.services.conversations.turns(conversation.id) == [
            Turn("user", "open", member),
            Turn("assistant", "reply to open (1)"),
            Turn("user", "one?", member),
            Turn("assistant", "reply to one? (3)"),
            Turn("user", "two?", other),
            Turn("assistant", "reply to two? (5)"),
        ]
        assert await world.services.ledger.check() == []


async def test_inline_reply_mode_answers_in_place_and_opens_no_conversation() -> None:
    async with SandboxWorld(config={"chat": {**FAST_CHAT, "reply_mode": "inline"}}) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "inline please"})
        [answer] = await final_answer(world, handle)
        assert answer.content.startswith("Echo: inline please\n-# gpt-4o-mini")
        assert not [r for r in world.discord.records if r["path"].endswith("/threads")]
        assert await world.services.conversations.by_channel(answer.id) is None
        assert [m.id for m in world.discord.messages(world.channel_id)] == [answer.id]
