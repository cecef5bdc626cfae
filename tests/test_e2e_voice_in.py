"""Voice in end to end (issue 15): a Discord voice message in a conversation thread and an
audio file given to /gpt file: are transcribed, the transcript quoted above the answer, and
charged exactly (transcription per minute + the chat answer); a gateway without the audio route
or the model refuses for nothing; a failed transcription, or an answer that fails after it, is
refunded exactly."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sandbox.recordings import ogg_opus
from bot.sandbox.upstream.wire import openai_error
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    bot_messages_after,
    final_answer,
    open_conversation,
    private_reply,
    run_slash,
    thread_reply,
    wait_until,
)

HEARD = "What temperature should green tea steep at?"
REPLY = "About 80 °C, for three minutes."
PER_MINUTE = 6
PRICES = {"chat": [{"pattern": "*", "per_call": 1, "per_1k_input": 1000, "per_1k_output": 1000}]}
START = 10_000
TRANSCRIPTIONS = "/v1/audio/transcriptions"
CHAT = "/v1/chat/completions"


def voice_world(**upstream: Any) -> SandboxWorld:
    config = {"chat": FAST_CHAT, "pricing": PRICES, "credit": {"starting_balance": START},
              "audio": {"transcribe_price_per_minute": PER_MINUTE}, **upstream}  # fmt: skip
    world = SandboxWorld(config=config)
    world.upstream.audio.transcript = HEARD
    world.upstream.chat.reply = REPLY
    return world


async def ask_with(
    world: SandboxWorld, member: int, name: str, data: bytes, kind: str = "audio/ogg", **kw: Any
) -> Any:
    """/gpt prompt:"answer this" with ``data`` as its file option."""
    options = {"prompt": "answer this"}
    return await run_slash(world, member, "gpt", options, attachments=[(name, data, kind)], **kw)


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


def chat_cost(usage: dict[str, Any]) -> int:
    """PRICES: 1 per call plus 1 per token either way."""
    return 1 + usage["prompt_tokens"] + usage["completion_tokens"]


async def settled(world: SandboxWorld, key: str) -> tuple[str, int | None]:
    hold = await world.services.ledger.get_hold(key)
    assert hold is not None, key
    return hold.status, hold.actual


async def test_a_voice_message_in_a_thread_is_transcribed_quoted_and_answered() -> None:
    async with voice_world() as world:
        member = world.add_member("alice")
        thread = await open_conversation(world, member)
        before = await balance(world)
        sent = await world.discord.post_voice_message(
            thread, member, ogg_opus(42.5), duration_secs=42.5
        )
        # Delivered as Discord does: flag IS_VOICE_MESSAGE, no content, one audio/ogg file
        # with its duration and waveform.
        voice = world.discord.message(sent)
        [audio] = voice.attachments
        assert (voice.flags, voice.content, audio.content_type) == (8192, "", "audio/ogg")
        assert audio.duration_secs == 42.5 and audio.waveform
        reply = await thread_reply(world, thread, sent)
        [message] = reply
        quote, answer = message.content.split("\n", 1)
        assert quote == f"> 🎙️ {HEARD}"
        assert answer.startswith(REPLY)
        # 42.5 s at 6 a minute is 4.25: the started credit counts, 5.
        assert "🎙️ 43 s transcribed: 5 credits" in message.content
        [request] = world.upstream.audio.transcribed
        assert (request.model, request.filename, request.content_type) == (
            "whisper-1",
            "voice-message.ogg",
            "audio/ogg",
        )
        assert request.size == len(ogg_opus(42.5))
        # The transcript is the member's turn, not the (empty) message content.
        asked = world.upstream.requests_to(CHAT)[-1].json["messages"]
        assert asked[-1] == {"role": "user", "content": HEARD}
        usage = world.upstream.chat.usage_sent[-1]
        assert await settled(world, f"thread:{sent}:transcribe") == ("settled", 5)
        assert await settled(world, f"thread:{sent}") == ("settled", chat_cost(usage))
        assert before - await balance(world) == 5 + chat_cost(usage)
        # The next typed reply reads the transcript in the history.
        followed = await world.discord.post_user_message(thread, member, "and black tea?")
        await thread_reply(world, thread, followed)
        history = world.upstream.requests_to(CHAT)[-1].json["messages"]
        assert {"role": "user", "content": HEARD} in history
        assert await world.services.ledger.check() == []


async def test_gpt_file_with_an_ogg_recording_is_transcribed_and_answered() -> None:
    async with voice_world() as world:
        member = world.add_member("alice")
        recording = ogg_opus(30)
        handle = await ask_with(world, member, "question.ogg", recording)
        [message] = await final_answer(world, handle)
        assert message.content.startswith(f"> 🎙️ {HEARD}\n{REPLY}")
        assert "🎙️ 30 s transcribed: 3 credits" in message.content
        [request] = world.upstream.audio.transcribed
        assert (request.filename, request.size) == ("question.ogg", len(recording))
        [asked] = world.upstream.requests_to(CHAT)
        assert asked.json["messages"][-1]["content"] == (
            f"answer this\n\n--- question.ogg ---\n{HEARD}"
        )
        usage = world.upstream.chat.usage_sent[-1]
        assert await settled(world, f"gpt:{handle.id}:transcribe") == ("settled", 3)
        assert START - await balance(world) == 3 + chat_cost(usage)
        assert await world.services.ledger.check() == []


def _without_audio_route(world: SandboxWorld) -> None:
    # The gateway's router answer for a /v1 path it has no route for (new-api's RelayNotFound).
    error = openai_error("Invalid URL (POST /v1/audio/x)", type="invalid_request_error")
    world.upstream.inject(r"^/v1/audio/", 404, error, times=None)


def _without_model(world: SandboxWorld) -> None:
    world.upstream.audio.transcribe_models = []


@pytest.mark.parametrize(
    ("lacks", "words"),
    [
        pytest.param(_without_audio_route, "does not offer transcription", id="route"),
        pytest.param(_without_model, "transcription model `whisper-1`", id="model"),
    ],
)
async def test_a_gateway_without_the_route_or_the_model_refuses_for_nothing(
    lacks: Any, words: str
) -> None:
    world = voice_world()
    lacks(world)  # before the bot starts: its capability discovery sees it
    async with world:
        member = world.add_member("alice")
        handle = await ask_with(world, member, "q.ogg", ogg_opus(5))
        reply = await private_reply(world, handle)
        assert reply.ephemeral and words in reply.content, reply.content
        assert not world.upstream.requests_to(CHAT)
        thread = await open_conversation(world, member)
        after_thread = await balance(world)
        sent = await world.discord.post_voice_message(thread, member, ogg_opus(5), duration_secs=5)
        await wait_until(lambda: bool(bot_messages_after(world, thread, sent)))
        [refusal] = bot_messages_after(world, thread, sent)
        assert words in refusal.content and "Nothing was charged" in refusal.content
        assert len(world.upstream.requests_to(CHAT)) == 1  # only the conversation's opening
        # Only capability discovery's probe (an empty JSON body): no recording was sent.
        assert [r.json for r in world.upstream.requests_to(TRANSCRIPTIONS)] == [{}]
        assert await balance(world) == after_thread
        assert await world.services.ledger.get_hold(f"thread:{sent}:transcribe") is None
        assert await world.services.ledger.check() == []


async def test_a_gateway_with_speech_but_no_transcription_route_offers_no_voice_in() -> None:
    """Discovery probes transcription apart from speech: Read aloud stays, voice in goes."""
    world = voice_world()
    message = f"Invalid URL (POST {TRANSCRIPTIONS})"  # new-api's router: no such route
    error = openai_error(message, type="invalid_request_error")
    world.upstream.inject(TRANSCRIPTIONS, 404, error, times=None)
    async with world:
        capabilities = world.services.capabilities
        assert await capabilities.wait_discovered(10)
        rows = {family: (answer, source) for family, answer, source in capabilities.table()}
        assert rows["transcription"] == ("not served", "discovered")
        assert rows["audio"] == ("served", "discovered")
        member = world.add_member("alice")
        handle = await ask_with(world, member, "q.ogg", ogg_opus(5))
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "does not offer transcription" in reply.content
        assert "Nothing was charged" in reply.content and not world.upstream.requests_to(CHAT)
        assert await world.services.ledger.get_hold(f"gpt:{handle.id}:transcribe") is None
        assert await balance(world) == START
        [probe] = world.upstream.requests_to(TRANSCRIPTIONS)  # discovery's, nothing after it
        assert probe.status == 404 and world.upstream.audio.transcribed == []
        thread = await open_conversation(world, member)
        opened = world.discord.message(thread)
        assert "Read aloud" in str(opened.components)  # speech is still offered


async def test_a_failed_transcription_is_refunded_exactly_and_not_answered() -> None:
    async with voice_world() as world:
        member = world.add_member("alice")
        thread = await open_conversation(world, member)
        before = await balance(world)
        world.upstream.audio.transcribe_failures = 1
        voice = ogg_opus(20)
        sent = await world.discord.post_voice_message(thread, member, voice, duration_secs=20)
        await wait_until(lambda: bool(bot_messages_after(world, thread, sent)))
        await wait_until(lambda: world.bot.work.running == 0)
        [apology] = bot_messages_after(world, thread, sent)
        assert HEARD not in apology.content
        assert await settled(world, f"thread:{sent}:transcribe") == ("refunded", 0)
        assert await world.services.ledger.get_hold(f"thread:{sent}") is None
        assert len(world.upstream.requests_to(CHAT)) == 1
        assert await balance(world) == before
        assert await world.services.ledger.check() == []


async def test_an_answer_that_fails_after_the_transcription_gives_both_back() -> None:
    async with voice_world() as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "gpt", {"prompt": "hi"})
        await final_answer(world, handle)
        world.upstream.inject_error("model_not_found", path_regex=f"^{CHAT}$", times=None)
        handle = await ask_with(world, member, "q.ogg", ogg_opus(50))
        [message] = await final_answer(world, handle)
        assert message.content.startswith("⚠️")
        assert len(world.upstream.audio.transcribed) == 1
        assert await settled(world, f"gpt:{handle.id}:transcribe") == ("refunded", 0)
        assert await settled(world, f"gpt:{handle.id}") == ("refunded", 0)
        assert await balance(world) == START - chat_cost(world.upstream.chat.usage_sent[0])
        assert await world.services.ledger.check() == []


async def test_a_recording_over_the_limit_or_of_unknown_length_is_refused_for_nothing() -> None:
    async with voice_world(audio={"max_transcribe_seconds": 60}) as world:
        member = world.add_member("alice", locale="zh-TW")
        handle = await ask_with(world, member, "long.ogg", ogg_opus(61), locale="zh-TW")
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "61 秒" in reply.content and "60 秒" in reply.content
        handle = await ask_with(world, member, "talk.mp3", b"ID3\x04" + bytes(4000), "audio/mpeg")
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "`talk.mp3`" in reply.content and "OGG" in reply.content
        assert not world.upstream.audio.transcribed and not world.upstream.requests_to(CHAT)
        assert await balance(world) == START
        assert await world.services.ledger.check() == []
