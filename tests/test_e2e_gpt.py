"""/gpt end to end: streaming, splitting, pacing, failures, threads, credit."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest

from bot.answers import estimate_tokens
from bot.ledger import Hold
from bot.sandbox.discord import Message, mentions_pinged
from bot.sandbox.upstream.gpts import Gizmo
from bot.sandbox.world import SandboxWorld
from bot.splitting import open_fence_language
from tests.helpers import (
    FAST_CHAT,
    answer_text,
    final_answer,
    on_gateways,
    open_conversation,
    private_reply,
    run_answered,
    run_slash,
    sandbox_tokens,
    thread_reply,
    wait_until,
)


def long_answer() -> str:
    blocks = []
    for n in range(12):
        blocks.append(f"Section {n}. " + "Some explanation that runs on for a while. " * 6)
        blocks.append(
            "```python\n" + "".join(f"value_{n}_{i} = {i} * 2\n" for i in range(14)) + "```"
        )
    return "\n\n".join(blocks)


def paragraphs(tag: str, count: int) -> str:
    """An answer of ``count`` paragraphs of about 285 characters, each naming ``tag``."""
    return "\n\n".join(
        f"{tag} paragraph {n}. " + "A steady sentence of the answer. " * 8 for n in range(count)
    )


def cost_of(message: Message) -> str:
    """The "N credits" at the end of a finished answer's footer."""
    return message.content.rsplit(" · ", 1)[1]


async def hold_for(world: SandboxWorld, handle) -> Hold:
    hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
    assert hold is not None
    return hold


async def test_long_answer_with_code_arrives_whole_at_default_pacing() -> None:
    text = long_answer()
    assert len(text) > 6000
    async with SandboxWorld(config={"chat": {"refresh_models": False}}) as world:
        world.upstream.chat.reply = text
        world.upstream.chat.chunk_chars = 40
        world.upstream.chat.pace = 0.012  # about 2.5 s of streaming
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "explain"})
        messages = await final_answer(world, handle)

        assert len(messages) >= 4
        assert [m.created_at for m in messages] == sorted(m.created_at for m in messages)
        assert all(len(m.content) <= 2000 for m in messages)
        assert all(open_fence_language(m.content) is None for m in messages)
        assert answer_text(messages) == text
        assert messages[-1].content.endswith(
            "-# gpt-4o-mini · " + messages[-1].content.rsplit("· ", 1)[1]
        )
        assert world.discord.count_429() == 0
        assert not any(mentions_pinged(m) for m in messages)


async def test_everyone_in_model_output_pings_no_one() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.chat.reply = "Hey @everyone and @here, ask <@123456789012345678> or <@&42>!"
        member = world.add_member("mallory")
        handle = await run_slash(world, member, "gpt", {"prompt": "ping @everyone please"})
        [message] = await final_answer(world, handle)
        assert "@everyone" in message.content
        assert not mentions_pinged(message)
        thread_messages = world.discord.messages(world.channel_id)
        assert not any(mentions_pinged(m) for m in thread_messages)


async def test_pacing_widens_after_429s_and_final_text_arrives() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.chat.reply = "token " * 250
        world.upstream.chat.pace = 0.01
        world.upstream.chat.chunk_chars = 12
        world.discord.inject(
            "PATCH", r"/messages/@original$", status=429, times=2, skip=1, retry_after=0.1
        )
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "go"})
        [message] = await final_answer(world, handle)
        assert answer_text([message]) == "token " * 250
        edits = [t for t, *_ in message.history]
        gaps = [b - a for a, b in itertools.pairwise(edits)]
        # After the 429s the interval doubled twice (0.2 -> 0.8 s) before narrowing again.
        assert max(gaps[2:]) >= 0.6
        assert world.bot.services.traffic.total_429 == 2


async def test_mid_stream_drop_keeps_text_and_charges_only_what_was_used() -> None:
    pricing = {
        "chat": [{"pattern": "*", "per_call": 2, "per_1k_input": 1000, "per_1k_output": 1000}]
    }
    config = {"chat": FAST_CHAT, "pricing": pricing, "credit": {"starting_balance": 5000}}
    async with SandboxWorld(config=config) as world:
        reply = "abcdefgh" * 100
        world.upstream.chat.reply = reply
        world.upstream.chat.drop_after_chars = 320
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "12345678"})
        [message] = await final_answer(world, handle)
        assert message.content.startswith(reply[:320])
        assert reply[:321] not in message.content
        assert "cut off" in message.content
        hold = await hold_for(world, handle)
        # Our estimate when no usage came: ceil(8/4)=2 input tokens, ceil(320/4)=80 output.
        assert (hold.status, hold.actual) == ("settled", 2 + 2 + 80)
        assert await world.services.ledger.check() == []


PRICED = {
    "chat": [
        {"pattern": "gpt-4o-mini", "per_call": 3, "per_1k_input": 1000, "per_1k_output": 2000},
        {"pattern": "gpt-4-gizmo-*", "per_call": 7, "per_1k_input": 2000, "per_1k_output": 3000},
    ]
}


async def settled_answer(world: SandboxWorld, options: dict[str, str]) -> tuple[Message, int]:
    """Ask, wait for the final answer, and return it with what its hold settled for."""
    handle = await run_slash(world, world.add_member("alice"), "gpt", options)
    [message] = await final_answer(world, handle)
    hold = await hold_for(world, handle)
    assert hold.status == "settled" and hold.actual is not None
    assert message.content.endswith(f" · {hold.actual} credits")
    assert await world.services.ledger.balance(world.guild_id) == 10_000 - hold.actual
    assert await world.services.ledger.check() == []
    return message, hold.actual


@on_gateways("chat")
async def test_ledger_settles_exactly_per_configured_prices(profile: str) -> None:
    async with SandboxWorld(
        config={"chat": FAST_CHAT, "pricing": PRICED, "credit": {"starting_balance": 10_000}},
        upstream_profile=profile,
    ) as world:
        world.upstream.chat.reply = "The answer is forty-two, of course."
        # Usage far from what the text suggests (~5 and ~9 tokens): the charge must follow it.
        world.upstream.chat.usage_tokens = (120, 450)
        message, charged = await settled_answer(world, {"prompt": "what is the answer?"})
        assert charged == 3 + 120 + 2 * 450
        assert message.content.endswith(f"-# gpt-4o-mini · {charged} credits")


async def test_without_a_usage_chunk_the_bot_charges_its_own_estimate() -> None:
    async with SandboxWorld(
        config={"chat": FAST_CHAT, "pricing": PRICED, "credit": {"starting_balance": 10_000}}
    ) as world:
        world.upstream.chat.usage = False
        # Seven CJK characters: the bot counts about a token each, where ceil(7 / 4) would be 2.
        world.upstream.chat.reply = "答案是四十二。"
        _, charged = await settled_answer(world, {"prompt": "what is the answer?"})
        assert charged == 3 + estimate_tokens("what is the answer?") + 2 * 7
        assert estimate_tokens("what is the answer?") == sandbox_tokens("what is the answer?")


async def test_gizmo_models_are_priced_by_their_glob_rule() -> None:
    async with SandboxWorld(
        config={"chat": FAST_CHAT, "pricing": PRICED, "credit": {"starting_balance": 10_000}}
    ) as world:
        world.upstream.chat.usage_tokens = (100, 200)
        message, charged = await settled_answer(world, {"prompt": "hi", "gpt": "g-2fkFE8rbu"})
        [request] = world.upstream.requests_to("/v1/chat/completions")
        assert request.json["model"] == "gpt-4-gizmo-g-2fkFE8rbu"
        assert charged == 7 + 2 * 100 + 3 * 200
        assert message.content.endswith(f"-# g-2fkFE8rbu · {charged} credits")


async def test_insufficient_credit_answers_privately_before_any_upstream_call() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT, "credit": {"starting_balance": 3}}) as world:
        member = world.add_member("李雷", locale="zh-CN")
        handle = await run_slash(world, member, "gpt", {"prompt": "你好"}, locale="zh-CN")
        message = await private_reply(world, handle)
        assert message.ephemeral
        assert "积分不足" in message.content and "**3**" in message.content
        assert world.upstream.requests_to("/v1/chat/completions") == []
        assert await world.services.ledger.balance(world.guild_id) == 3


async def test_upstream_error_before_text_is_shown_in_member_language_and_refunded() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.inject_error("insufficient_balance", path_regex="/v1/chat/completions")
        member = world.add_member("李雷", locale="zh-CN")
        handle = await run_slash(world, member, "gpt", {"prompt": "你好"}, locale="zh-CN")
        [message] = await final_answer(world, handle)
        assert message.content == "⚠️ AI 服务账户余额已用完，请告知机器人运营者。"
        assert "request id" not in message.content
        assert (await hold_for(world, handle)).status == "refunded"
        assert await world.services.ledger.balance(world.guild_id) == 1000
        assert world.discord.messages(world.channel_id) == [message] or all(
            m.id == message.id for m in world.discord.messages(world.channel_id)
        )


async def test_bad_input_is_refused_privately_and_costs_nothing() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "hi", "model": "no-such-model"})
        message = await private_reply(world, handle)
        assert message.ephemeral and "no-such-model" in message.content

        handle = await run_slash(
            world,
            member,
            "gpt",
            {"prompt": "hi"},
            attachments=[("virus.exe", b"MZ\x90\x00", "application/octet-stream")],
        )
        message = await private_reply(world, handle)
        assert message.ephemeral and "virus.exe" in message.content

        handle = await run_slash(world, member, "gpt", {"prompt": "hi", "gpt": "not a gpt"})
        message = await private_reply(world, handle)
        assert message.ephemeral and "not a gpt" in message.content

        assert world.upstream.requests_to("/v1/chat/completions") == []
        assert await world.services.ledger.balance(world.guild_id) == 1000


async def test_text_file_and_image_reach_the_model() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        member = world.add_member("alice")
        handle = await run_slash(
            world,
            member,
            "gpt",
            {"prompt": "summarise"},
            attachments=[("notes.md", "# 标题\nline two".encode(), "text/markdown")],
        )
        await final_answer(world, handle)
        handle = await run_slash(
            world,
            member,
            "gpt",
            {"prompt": "describe"},
            attachments=[("cat.png", b"\x89PNG fake", "image/png")],
        )
        await final_answer(world, handle)
        first, second = world.upstream.requests_to("/v1/chat/completions")
        assert first.json["messages"][-1]["content"].endswith("--- notes.md ---\n# 标题\nline two")
        parts = second.json["messages"][-1]["content"]
        assert parts[0] == {"type": "text", "text": "describe"}
        assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_private_answer_is_ephemeral_and_opens_no_thread() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "secret", "private": True})
        [message] = await final_answer(world, handle)
        assert message.ephemeral
        assert not [r for r in world.discord.records if r["path"].endswith("/threads")]


async def test_non_streaming_model_posts_the_whole_answer() -> None:
    chat = {**FAST_CHAT, "models": [{"name": "o1-mini", "stream": False}]}
    async with SandboxWorld(config={"chat": chat}) as world:
        world.upstream.chat.reply = "whole answer at once"
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "hi", "model": "o1-mini"})
        [message] = await final_answer(world, handle)
        assert message.content.startswith("whole answer at once\n-# o1-mini")
        [request] = world.upstream.requests_to("/v1/chat/completions")
        assert request.json["stream"] is False


async def test_thread_conversation_continues_after_restart() -> None:
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.chat.reply = lambda body: f"reply #{len(body['messages'])}"
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "Plan a trip to Kyoto"})
        [answer] = await final_answer(world, handle)
        [thread] = await world.discord.wait_for(lambda r: r["path"].endswith("/threads"))
        assert thread["json"]["name"] == "Plan a trip to Kyoto"
        thread_id = answer.id  # a thread started from a message takes the message's id
        await world.discord.wait_for_message(lambda m: m.channel_id == thread_id)

        await world.restart_bot()
        other = world.add_member("bob")
        await world.discord.post_user_message(thread_id, other, "What about food?")

        def answered() -> bool:
            return any(
                m.content.startswith("reply #3") and "\n-# " in m.content
                for m in world.discord.messages(thread_id)
            )

        await wait_until(answered)
        last = world.upstream.requests_to("/v1/chat/completions")[-1].json["messages"]
        assert [m["role"] for m in last] == ["user", "assistant", "user"]
        assert last[0]["content"] == "Plan a trip to Kyoto"
        assert last[1]["content"] == "reply #1"
        assert last[2]["content"] == "What about food?"
        assert await world.services.ledger.check() == []


async def test_long_gpt_name_in_the_footer_never_pushes_a_message_past_2000() -> None:
    name = "Grand Encyclopaedic Research Companion " * 6  # the catalog keeps up to 200 chars
    reply = "".join(f"Point {i:03d} is worth a sentence. " for i in range(60))[:1850]
    async with SandboxWorld(config={"chat": FAST_CHAT}) as world:
        world.upstream.gpts.gizmos["g-LongName123"] = Gizmo("g-LongName123", name)
        world.upstream.chat.reply = reply
        world.upstream.chat.chunk_chars = 200
        member = world.add_member("alice")
        await run_answered(world, member, "gpts add", {"id": "g-LongName123"})
        handle = await run_slash(world, member, "gpt", {"prompt": "go", "gpt": "g-LongName123"})
        messages = await final_answer(world, handle)

        assert all(len(m.content) <= 2000 for m in messages)
        assert len(messages) == 2  # the last lines moved into a follow-up, with the footer
        assert messages[-1].content.endswith(f"\n-# {name[:200]} · " + cost_of(messages[-1]))
        assert answer_text(messages) == reply
        assert not any("▌" in m.content for m in messages)
        assert (await hold_for(world, handle)).status == "settled"
        assert await world.services.ledger.check() == []


async def test_answers_and_a_thread_reply_streaming_together_at_default_pacing_get_no_429() -> None:
    # Default edit interval and the sandbox's default buckets (5 requests per 5 s).
    texts = {f"ask {n}": paragraphs(f"Answer {n}", 11) for n in range(3)}
    texts["more please"] = paragraphs("Thread", 11)
    texts["open"] = "A short opener."
    assert all(len(t) > 3000 for k, t in texts.items() if k != "open")
    async with SandboxWorld(config={"chat": {"refresh_models": False}}) as world:
        chat = world.upstream.chat
        chat.reply = lambda body: texts[body["messages"][-1]["content"]]
        members = [world.add_member(name) for name in ("alice", "bob", "carol", "dave")]
        thread_id = await open_conversation(world, members[0])
        channels = [world.discord.add_channel(world.guild_id, f"room-{n}") for n in range(3)]
        chat.chunk_chars, chat.pace = 45, 0.095  # ~70 chunks: each answer streams for ~6.6 s

        asked = await asyncio.gather(
            world.discord.post_user_message(thread_id, members[0], "more please"),
            *(
                run_slash(world, member, "gpt", {"prompt": f"ask {n}"}, channel_id=channel)
                for n, (member, channel) in enumerate(zip(members[1:], channels, strict=True))
            ),
        )
        said, handles = asked[0], asked[1:]
        for n, handle in enumerate(handles):
            messages = await final_answer(world, handle)
            assert len(messages) >= 2 and answer_text(messages) == texts[f"ask {n}"]
            assert len(messages[0].history) >= 4  # it grew in place, not in one final write
        reply = await thread_reply(world, thread_id, said)
        assert len(reply) >= 2 and answer_text(reply) == texts["more please"]
        assert len(reply[0].history) >= 4
        assert world.discord.count_429() == 0
        assert world.bot.services.traffic.total_429 == 0
        assert await world.services.ledger.check() == []


async def model_choices(world: SandboxWorld, member: int, typed: str) -> list[str]:
    handle = await world.discord.autocomplete(
        world.guild_id, world.channel_id, member, "gpt", {"model": typed}, focused="model"
    )
    await handle.wait_response()
    return [c["value"] for c in handle.choices or []]


async def test_model_autocomplete_offers_configured_models_then_the_gateway_list(
    caplog: pytest.LogCaptureFixture,
) -> None:
    world = SandboxWorld()  # refresh_models is on by default
    world.upstream.chat.models.append("claude-3-haiku")
    async with world:
        member = world.add_member("alice")
        gpt_cog = world.bot.get_cog("GPT")
        await wait_until(lambda: "claude-3-haiku" in gpt_cog.models, timeout=5)
        [listing] = world.upstream.requests_to("/v1/models")
        assert listing.method == "GET"
        # Configured first, then what the gateway lists, without its GPTs (the gpt option).
        assert await model_choices(world, member, "") == ["gpt-4o-mini", "gpt-4o", "claude-3-haiku"]
        assert await model_choices(world, member, "CLAUDE") == ["claude-3-haiku"]
        assert await model_choices(world, member, "gizmo") == []

        handle = await run_slash(world, member, "gpt", {"prompt": "hi", "model": "claude-3-haiku"})
        await final_answer(world, handle)
        [request] = world.upstream.requests_to("/v1/chat/completions")
        assert request.json["model"] == "claude-3-haiku"

        # When the gateway will not list its models, the configured ones stay on offer.
        world.upstream.inject_error("access_denied", path_regex="/v1/models")
        caplog.set_level(logging.INFO, logger="cogs.gpt")
        await world.restart_bot()
        await wait_until(lambda: "model list unavailable" in caplog.text, timeout=5)
        assert await model_choices(world, member, "") == ["gpt-4o-mini", "gpt-4o"]
