"""/gpt with reasoning models end to end: the three forms, the server's reasoning mode, a
stream that is all reasoning, a stream cut without finish_reason or [DONE], reasoning prices."""

from __future__ import annotations

import pytest
from sqlalchemy import delete

from bot.answers import estimate_tokens
from bot.reasoning import REASONING as REASONING_ROWS
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    answer_text,
    custom_ids,
    ever_showed,
    final_answer,
    private_reply,
    run_slash,
    sandbox_tokens,
    wait_until,
)

REASONING = "The member asks about tea.\nGreen tea steeps at 80 C.\nSo: three minutes."
REPLY = "Steep green tea at 80 °C for three minutes."
FORMS = ("reasoning_content", "reasoning", "think")
PRICES = {"chat": [{"pattern": "*", "per_call": 1, "per_1k_input": 1000, "per_1k_output": 1000}]}


def reasoning_world(**pricing: object) -> SandboxWorld:
    config = {"chat": FAST_CHAT, "pricing": pricing or PRICES,
              "credit": {"starting_balance": 10_000}}  # fmt: skip
    return SandboxWorld(config=config)


async def set_mode(world: SandboxWorld, mode: str) -> None:
    handle = await run_slash(world, world.owner_id, "admin reasoning", {"mode": mode})
    reply = await private_reply(world, handle)
    assert mode in reply.content.casefold()


def no_reasoning_in(content: str) -> bool:
    return not any(part in content for part in ("<think", "think>", "80 C", "member asks"))


@pytest.mark.parametrize("form", FORMS)
async def test_each_form_keeps_reasoning_out_of_the_answer_and_shows_a_live_status(
    form: str,
) -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = REPLY, REASONING, form
        chat.chunk_chars = 3  # every tag arrives split across chunks
        chat.think_seconds = 1.5
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert answer_text([message]) == REPLY
        assert all(no_reasoning_in(content) for _, content, _ in message.history)
        # While the model thought, the reply said so (paced like any edit), not a bare defer.
        assert ever_showed(world, "Thinking…", " s")
        assert f"{sandbox_tokens(REASONING)} reasoning tokens" in message.content


async def test_reasoning_is_never_sent_back_upstream_as_history() -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = REPLY, REASONING, "think"
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "tea?"})
        [answer] = await final_answer(world, handle)
        thread_id = answer.id  # a thread started from a message takes the message's id
        await world.discord.wait_for_message(lambda m: m.channel_id == thread_id)
        await world.discord.post_user_message(thread_id, member, "and black tea?")
        await wait_until(lambda: len(world.upstream.requests_to("/v1/chat/completions")) == 2)
        history = world.upstream.requests_to("/v1/chat/completions")[-1].json["messages"]
        assert [m["content"] for m in history if m["role"] == "assistant"] == [REPLY]


async def test_shown_mode_quotes_the_reasoning_above_the_answer() -> None:
    async with reasoning_world() as world:
        await set_mode(world, "shown")
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = REPLY, REASONING, "reasoning_content"
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        quote = "\n".join(f"> -# {line}" for line in REASONING.splitlines())
        assert message.content.startswith(f"{quote}\n\n{REPLY}\n-# ")


async def test_off_mode_shows_neither_status_nor_reasoning() -> None:
    async with reasoning_world() as world:
        await set_mode(world, "off")
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = REPLY, REASONING, "reasoning"
        chat.think_seconds = 1.0
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert answer_text([message]) == REPLY
        assert not ever_showed(world, "Thinking…")
        assert all(no_reasoning_in(content) for _, content, _ in message.history)


async def test_all_reasoning_and_no_answer_says_so_and_is_refunded() -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = "", REASONING, "think"
        chat.chunk_chars = 5
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert "only reasoned" in message.content
        assert no_reasoning_in(message.content)
        hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("refunded", 0)
        assert await world.services.ledger.balance(world.guild_id) == 10_000


async def test_a_stream_ending_without_finish_reason_or_done_is_cut_off() -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        quarter = REPLY[: len(REPLY) // 4]
        chat.reply, chat.finish_reason, chat.omit_done = quarter, None, True
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert message.content.startswith(quarter)
        assert "cut off" in message.content
        hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
        # Charged as for a drop: the usage of a cut stream is not trusted, our estimate is.
        expected = 1 + estimate_tokens("tea?") + estimate_tokens(quarter)
        assert hold is not None and (hold.status, hold.actual) == ("settled", expected)


async def test_a_finish_reason_without_done_stays_complete() -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.omit_done = REPLY, True
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert answer_text([message]) == REPLY and "cut off" not in message.content


async def test_reasoning_tokens_are_priced_by_their_own_rule() -> None:
    rule = {"pattern": "*", "per_call": 1, "per_1k_input": 1000, "per_1k_output": 2000,
            "per_1k_reasoning": 500}  # fmt: skip
    async with reasoning_world(chat=[rule]) as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning = REPLY, REASONING
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        [usage] = chat.usage_sent
        thinking = usage["completion_tokens_details"]["reasoning_tokens"]
        assert thinking == sandbox_tokens(REASONING) > 0
        expected = (1 + usage["prompt_tokens"] + 2 * (usage["completion_tokens"] - thinking)
                    + -(-thinking // 2))  # fmt: skip
        hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("settled", expected)
        assert f" · {expected} credits · {thinking} reasoning tokens" in message.content


async def shown_to(world: SandboxWorld, handle, count: int) -> list:
    """The private messages a button press answered with, once ``count`` have text or files."""

    def ready() -> bool:
        messages = world.discord.interaction_messages(handle)
        return sum(bool(m.content or m.attachments) for m in messages) >= count

    await wait_until(ready)
    return [m for m in world.discord.interaction_messages(handle) if m.content or m.attachments]


@pytest.mark.parametrize("long", [False, True])
async def test_collapsed_show_reasoning_button_answers_privately_after_a_restart(
    long: bool,
) -> None:
    line = "A long line of careful thought about tea. " * 40
    reasoning = f"{line}\n" * 8 if long else REASONING
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning, chat.reasoning_form = REPLY, reasoning, "reasoning_content"
        chat.chunk_chars = 400
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        await wait_until(lambda: custom_ids(world.discord.message(message.id)))
        [custom_id, _read_aloud] = custom_ids(world.discord.message(message.id))
        assert custom_id.startswith("atelier:think:")
        assert answer_text([world.discord.message(message.id)]) == REPLY

        await world.restart_bot()  # the reasoning lives in the database, not in a View
        bob = world.add_member("bob")
        click = await world.discord.click(message.id, custom_id, bob)
        await click.wait_response(timeout=5)
        [shown] = await shown_to(world, click, 1)
        assert shown.ephemeral and not world.discord.mentions_pinged(shown)
        if long:
            [attachment] = shown.attachments
            assert attachment.filename == "reasoning.txt"
            assert "long, so it is in the attached file" in shown.content
        else:
            assert shown.content == REASONING
            assert not shown.attachments


async def test_a_button_for_reasoning_that_is_not_stored_says_so() -> None:
    async with reasoning_world() as world:
        chat = world.upstream.chat
        chat.reply, chat.reasoning = REPLY, REASONING
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        await wait_until(lambda: custom_ids(world.discord.message(message.id)))
        [custom_id, _read_aloud] = custom_ids(world.discord.message(message.id))
        async with world.services.db.transaction() as conn:
            await conn.execute(delete(REASONING_ROWS))  # an operator pruned old reasoning
        click = await world.discord.click(message.id, custom_id, world.owner_id)
        await click.wait_response(timeout=5)
        [shown] = await shown_to(world, click, 1)
        assert "no longer kept" in shown.content


FALLBACK_PRICES = {
    "chat": [
        {"pattern": "gpt-4o-mini", "per_call": 3, "per_1k_input": 1000, "per_1k_output": 1000},
        {"pattern": "gpt-4o", "per_call": 9, "per_1k_input": 1000, "per_1k_output": 3000},
    ]
}


def fallback_world() -> SandboxWorld:
    models = [{"name": "gpt-4o-mini", "fallbacks": ["gpt-4o"]}, {"name": "gpt-4o"}]
    config = {"chat": {**FAST_CHAT, "models": models}, "pricing": FALLBACK_PRICES,
              "credit": {"starting_balance": 10_000}}  # fmt: skip
    return SandboxWorld(config=config)


def asked_models(world: SandboxWorld) -> list[str]:
    return [r.json["model"] for r in world.upstream.requests_to("/v1/chat/completions")]


async def test_a_503_moves_the_answer_to_the_fallback_at_its_price() -> None:
    async with fallback_world() as world:
        world.upstream.inject("/v1/chat/completions", 503, {"error": {"message": "no channel"}})
        world.upstream.chat.reply = REPLY
        world.upstream.chat.usage_tokens = (10, 20)
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert asked_models(world) == ["gpt-4o-mini", "gpt-4o"]
        assert answer_text([message]) == REPLY
        hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("settled", 9 + 10 + 3 * 20)
        footer = f"-# gpt-4o (instead of gpt-4o-mini) · {hold.actual} credits"
        assert message.content.endswith(footer)
        assert await world.services.ledger.balance(world.guild_id) == 10_000 - hold.actual


async def test_when_every_model_fails_the_member_is_told_and_refunded() -> None:
    async with fallback_world() as world:
        world.upstream.inject_error("model_not_found", path_regex="/v1/chat/completions", times=2)
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert asked_models(world) == ["gpt-4o-mini", "gpt-4o"]
        assert message.content.startswith("⚠️") and REPLY not in message.content
        hold = await world.services.ledger.get_hold(f"gpt:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("refunded", 0)
        assert await world.services.ledger.balance(world.guild_id) == 10_000


async def test_no_fallback_after_text_was_shown_or_for_a_blocked_prompt() -> None:
    async with fallback_world() as world:
        world.upstream.chat.reply = REPLY * 4
        world.upstream.chat.drop_after_chars = 40
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, handle)
        assert "cut off" in message.content
        assert asked_models(world) == ["gpt-4o-mini"]
        world.upstream.chat.drop_after_chars = None
        world.upstream.inject_error("content_blocked", path_regex="/v1/chat/completions")
        handle = await run_slash(world, world.add_member("bob"), "gpt", {"prompt": "tea?"})
        await final_answer(world, handle)
        assert asked_models(world) == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_shown_mode_fits_long_reasoning_and_a_long_answer_in_discord_limits() -> None:
    async with reasoning_world() as world:
        await set_mode(world, "shown")
        chat = world.upstream.chat
        chat.reasoning = "\n".join(f"Thought {n}: " + "weighing options. " * 6 for n in range(60))
        paragraph = "The answer goes on. " * 12
        chat.reply = "\n\n".join(f"Paragraph {n}. {paragraph}" for n in range(12))
        chat.chunk_chars = 200
        handle = await run_slash(world, world.add_member("alice"), "gpt", {"prompt": "tea?"})
        messages = await final_answer(world, handle)
        assert all(len(m.content) <= 2000 for m in messages)
        first = messages[0].content
        assert first.startswith("> -# …\n") and "> -# Thought 59: " in first
        assert answer_text(messages).split("\n\n", 1)[1] == chat.reply
