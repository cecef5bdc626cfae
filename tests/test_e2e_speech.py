"""Voice out end to end (issue 15): Read aloud under /gpt answers and /speak, through the
sandbox Discord and the sandbox speech route: a voice message (flag 8192, duration and
waveform) where it works, an ordinary file where it does not, and exact charges."""

from __future__ import annotations

import base64
import math

from bot.ledger import Hold
from bot.sandbox.discord import Message
from bot.sandbox.upstream.ogg import speech_seconds
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    FAST_CHAT,
    custom_ids,
    final_answer,
    open_conversation,
    private_reply,
    restart_with,
    run_slash,
    shown_messages,
    thread_reply,
    wait_until,
)

PRICE = 30  # credits per 1,000 characters
START = 10_000
REPLY = "**Green tea** steeps at 80 °C for three minutes, then rests for one."
SPOKEN = "Green tea steeps at 80 °C for three minutes, then rests for one."
VOICE_FLAG = 1 << 13


def speech_world(**audio: object) -> SandboxWorld:
    config = {
        "chat": FAST_CHAT,
        "audio": {"speech_price_per_1k_chars": PRICE, **audio},
        "credit": {"starting_balance": START},
        "pricing": {"chat": [{"pattern": "*", "per_call": 1}]},
    }
    return SandboxWorld(config=config)


def price(text: str) -> int:
    return math.ceil(len(text) * PRICE / 1000)


async def hold_of(world: SandboxWorld, key: str) -> Hold | None:
    """The hold once the bot's work is done: it settles after the audio is posted."""
    await wait_until(lambda: world.bot is not None and world.bot.work.running == 0)
    return await world.services.ledger.get_hold(key)


def voice_messages(world: SandboxWorld, channel_id: int) -> list[Message]:
    return [m for m in world.discord.messages(channel_id) if m.flags & VOICE_FLAG]


def assert_voice_message(message: Message, spoken: str, reply_to: int) -> None:
    assert not message.content and not message.embeds and not message.components
    [attachment] = message.attachments
    assert attachment.filename.endswith(".ogg") and attachment.content_type == "audio/ogg"
    assert attachment.data.startswith(b"OggS")
    assert attachment.duration_secs == round(speech_seconds(spoken), 3)
    waveform = base64.b64decode(attachment.waveform or "")
    assert 1 <= len(waveform) <= 256 and max(waveform) == 255
    assert message.message_reference is not None
    assert message.message_reference["message_id"] == str(reply_to)


async def answered(world: SandboxWorld, member: int, **options: object) -> Message:
    world.upstream.chat.reply = REPLY
    handle = await run_slash(world, member, "gpt", {"prompt": "tea?", **options})
    messages = await final_answer(world, handle)
    await wait_until(lambda: bool(custom_ids(world.discord.message(messages[-1].id))))
    return world.discord.message(messages[-1].id)


def read_aloud_id(message: Message) -> str:
    [custom_id] = [c for c in custom_ids(message) if c.startswith("atelier:read:")]
    return custom_id


async def press(world: SandboxWorld, message: Message, member: int) -> tuple[str, Message]:
    """Press Read aloud: the hold's key, and the private acknowledgement."""
    click = await world.discord.click(message.id, read_aloud_id(message), member)
    await click.wait_response(timeout=5)
    return f"read:{click.id}", await private_reply(world, click)


async def test_read_aloud_after_a_restart_posts_a_voice_message_at_its_exact_price() -> None:
    async with speech_world() as world:
        alice = world.add_member("alice")
        answer = await answered(world, alice)
        before = await world.services.ledger.balance(world.guild_id)

        await world.restart_bot()  # the answer's text lives in the database, not in a View
        bob = world.add_member("bob")
        key, ack = await press(world, answer, bob)
        await wait_until(lambda: bool(voice_messages(world, world.channel_id)))
        [voice] = voice_messages(world, world.channel_id)
        assert_voice_message(voice, SPOKEN, reply_to=answer.id)
        [request] = world.upstream.audio.speeches
        assert request == {"model": "tts-1", "input": SPOKEN, "voice": "alloy",
                           "response_format": "opus"}  # fmt: skip
        await wait_until(lambda: "credits" in ack.content)
        assert ack.ephemeral and f"**{price(SPOKEN)}** credits" in ack.content
        hold = await hold_of(world, key)
        assert hold is not None and (hold.status, hold.actual) == ("settled", price(SPOKEN))
        assert await world.services.ledger.balance(world.guild_id) == before - price(SPOKEN)


async def test_a_long_answer_is_read_up_to_the_configured_length() -> None:
    async with speech_world(max_speech_chars=40) as world:
        answer = await answered(world, world.add_member("alice"))
        key, ack = await press(world, answer, world.add_member("bob"))
        await wait_until(lambda: "first" in ack.content)
        [request] = world.upstream.audio.speeches
        read = request["input"]
        assert len(read) <= 40 and SPOKEN.startswith(read) and not read.endswith(" ")
        assert f"first {len(read)} characters" in ack.content
        hold = await hold_of(world, key)
        assert hold is not None and hold.actual == price(read)


async def test_a_private_answer_is_read_privately() -> None:
    async with speech_world() as world:
        alice = world.add_member("alice")
        answer = await answered(world, alice, private=True)
        key, ack = await press(world, answer, alice)
        await wait_until(lambda: bool(world.discord.message(ack.id).attachments))
        ack = world.discord.message(ack.id)
        assert ack.ephemeral and ack.attachments[0].filename.endswith(".ogg")
        assert f"**{price(SPOKEN)}** credits" in ack.content
        assert not voice_messages(world, world.channel_id)
        hold = await hold_of(world, key)
        assert hold is not None and (hold.status, hold.actual) == ("settled", price(SPOKEN))


async def test_speak_with_a_chosen_voice_replies_with_a_voice_message() -> None:
    async with speech_world() as world:
        alice = world.add_member("alice")
        text = "Hello from the tea house."
        handle = await run_slash(world, alice, "speak", {"text": text, "voice": "nova"})
        line = await private_reply(world, handle)
        await wait_until(lambda: bool(voice_messages(world, world.channel_id)))
        [voice] = voice_messages(world, world.channel_id)
        line = world.discord.message(line.id)
        assert not line.ephemeral and line.content == (
            f"🔊 <@{alice}> · voice nova · **{price(text)}** credits"
        )
        assert not world.discord.mentions_pinged(line)
        assert_voice_message(voice, text, reply_to=line.id)
        assert world.upstream.audio.speeches[0]["voice"] == "nova"
        hold = await hold_of(world, f"speak:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("settled", price(text))
        assert await world.services.ledger.balance(world.guild_id) == START - price(text)


async def test_mp3_from_the_gateway_goes_out_as_an_audio_file() -> None:
    async with speech_world() as world:
        world.upstream.audio.opus = False  # a channel that only makes MP3
        text = "An MP3 all the same."
        handle = await run_slash(world, world.add_member("alice"), "speak", {"text": text})
        await wait_until(lambda: any(m.attachments for m in shown_messages(world, handle)))
        [reply] = shown_messages(world, handle)
        [attachment] = reply.attachments
        assert attachment.filename == "speech.mp3" and attachment.duration_secs is None
        assert "audio file" in reply.content and not reply.flags & VOICE_FLAG
        assert not voice_messages(world, world.channel_id)
        hold = await hold_of(world, f"speak:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("settled", price(text))


async def test_a_voice_message_discord_refuses_goes_out_as_a_file() -> None:
    async with speech_world() as world:
        world.discord.inject("POST", r"/channels/\d+/messages$", 400, code=50173,
                             with_files=True)  # fmt: skip
        text = "No voice messages in this channel."
        handle = await run_slash(world, world.add_member("alice"), "speak", {"text": text})
        line = await private_reply(world, handle)

        def filed() -> list[Message]:
            return [m for m in world.discord.messages(world.channel_id) if m.attachments]

        await wait_until(lambda: bool(filed()))
        [posted] = filed()
        assert posted.attachments[0].filename.endswith(".ogg") and "audio file" in posted.content
        assert posted.message_reference and posted.message_reference["message_id"] == str(line.id)
        hold = await hold_of(world, f"speak:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("settled", price(text))


async def test_a_gateway_without_the_speech_route_refuses_and_charges_nothing() -> None:
    world = speech_world()
    message = "Invalid URL (POST /v1/audio/speech)"  # new-api's router: no such route
    invalid = {"error": {"message": message, "type": "invalid_request_error"}}
    world.upstream.inject("/v1/audio/speech", 404, invalid, times=None)
    async with world:
        await world.services.capabilities.wait_discovered(10)
        alice = world.add_member("alice")
        handle = await run_slash(world, alice, "speak", {"text": "hello"})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "does not offer speech" in reply.content
        assert await hold_of(world, f"speak:{handle.id}") is None
        # No Read aloud under answers either.
        world.upstream.chat.reply = REPLY
        asked = await run_slash(world, alice, "gpt", {"prompt": "tea?"})
        [message] = await final_answer(world, asked)
        assert not custom_ids(world.discord.message(message.id))
        assert world.upstream.audio.speeches == []


async def test_a_gateway_without_the_speech_model_refuses_in_the_members_language() -> None:
    world = speech_world()
    world.upstream.chat.models.remove("tts-1")
    async with world:
        await world.services.capabilities.wait_discovered(10)
        handle = await run_slash(
            world, world.add_member("lei", locale="zh-CN"), "speak", {"text": "你好"},
            locale="zh-CN",
        )  # fmt: skip
        reply = await private_reply(world, handle)
        assert reply.ephemeral and "语音模型 `tts-1`" in reply.content
        assert await hold_of(world, f"speak:{handle.id}") is None


async def test_too_long_text_and_an_unknown_voice_are_refused_for_free() -> None:
    async with speech_world(max_speech_chars=20) as world:
        alice = world.add_member("alice")
        long = await run_slash(world, alice, "speak", {"text": "x" * 21})
        assert "at most 20" in (await private_reply(world, long)).content
        odd = await run_slash(world, alice, "speak", {"text": "hi", "voice": "darth"})
        assert "`darth` is not a voice" in (await private_reply(world, odd)).content
        assert world.upstream.audio.speeches == []
        assert await world.services.ledger.balance(world.guild_id) == START


async def test_a_failed_speech_is_refunded_exactly() -> None:
    async with speech_world() as world:
        world.upstream.inject_error("upstream_failure", path_regex="/v1/audio/speech", times=2)
        alice = world.add_member("alice")
        handle = await run_slash(world, alice, "speak", {"text": "This will fail."})
        reply = await private_reply(world, handle)
        assert reply.ephemeral and not voice_messages(world, world.channel_id)
        hold = await hold_of(world, f"speak:{handle.id}")
        assert hold is not None and (hold.status, hold.actual) == ("refunded", 0)

        answer = await answered(world, alice)
        balance = await world.services.ledger.balance(world.guild_id)
        key, ack = await press(world, answer, alice)
        await wait_until(lambda: "credits" not in ack.content and ack.content)
        hold = await hold_of(world, key)
        assert hold is not None and (hold.status, hold.actual) == ("refunded", 0)
        assert await world.services.ledger.balance(world.guild_id) == balance


async def test_the_price_follows_configuration() -> None:
    async with speech_world() as world:
        await restart_with(world, "audio", speech_price_per_1k_chars=1000)
        text = "Seven."
        handle = await run_slash(world, world.add_member("alice"), "speak", {"text": text})
        await wait_until(lambda: bool(voice_messages(world, world.channel_id)))
        hold = await hold_of(world, f"speak:{handle.id}")
        assert hold is not None and hold.actual == len(text)


async def test_read_aloud_under_a_thread_reply_answers_in_the_thread() -> None:
    async with speech_world() as world:
        alice = world.add_member("alice")
        world.upstream.chat.reply = REPLY
        thread_id = await open_conversation(world, alice)
        world.upstream.chat.reply = "Black tea takes boiling water."
        asked = await world.discord.post_user_message(thread_id, alice, "and black tea?")
        [reply] = await thread_reply(world, thread_id, asked)
        await wait_until(lambda: bool(custom_ids(world.discord.message(reply.id))))
        key, _ = await press(world, world.discord.message(reply.id), alice)
        await wait_until(lambda: bool(voice_messages(world, thread_id)))
        [voice] = voice_messages(world, thread_id)
        assert_voice_message(voice, "Black tea takes boiling water.", reply_to=reply.id)
        hold = await hold_of(world, key)
        assert hold is not None and hold.actual == price("Black tea takes boiling water.")
