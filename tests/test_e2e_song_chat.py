"""/song with a chat-format song model (``suno.chat_models``): configuration alone, no code."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import SunoConfig
from bot.sandbox.upstream.media import MediaState
from bot.sandbox.world import SandboxWorld
from cogs.song_views import chat_song_prompt
from tests.helpers import FAST_CHAT, private_reply
from tests.test_e2e_song import FAST_JOBS, MUSIC, balance, cards, finished_card, song, submit

CHAT_SONGS = {"chat_models": ["suno-v4-chat"]}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS, "suno": CHAT_SONGS}
CHAT = "/v1/chat/completions"


async def test_chat_format_song_model_delivers_its_audio_as_files() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        base = world.upstream.base_url
        one, two = MediaState.url(base, "rain-1.mp3"), MediaState.url(base, "rain-2.mp3")
        cover = MediaState.url(base, "cover.png")
        world.upstream.chat.reply = (
            f"Composing… 40%… 100%\n![cover]({cover})\n[Listen 1]({one})\n[Listen 2]({two})"
        )
        world.upstream.chat.pace = 0.05  # long enough for the progress text to be shown
        member = world.add_member("alice")
        options = {"prompt": "a rainy day", "style": "lo-fi", "model": "suno-v4-chat"}
        handle = await song(world, member, **options)
        assert "(20 credits held)" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        assert any("Composing" in content for _, content, _ in card.history)
        # The audio only (the model's cover image is not what was asked for), as files.
        assert [a.filename for a in card.attachments] == ["atelier-1-1.mp3", "atelier-1-2.mp3"]
        assert all(a.data.startswith(b"ID3") for a in card.attachments)
        assert card.content.startswith(f"🎵 **suno-v4-chat · a rainy day** — <@{member}>")
        assert card.content.endswith("-# suno-v4-chat · 20 credits")
        [call] = world.upstream.requests_to(CHAT)
        assert call.json["model"] == "suno-v4-chat" and call.json["stream"] is True
        assert call.json["messages"][-1]["content"] == "a rainy day\nStyle: lo-fi"
        assert world.upstream.requests_to(MUSIC) == []  # Suno's own route is not involved
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert hold is not None and (hold.command, hold.status) == ("audio:suno-v4-chat", "settled")
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_custom_mode_sends_the_lyrics_and_no_audio_is_refunded() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        world.upstream.chat.reply = "I can only make pictures: ![x](http://localhost/x.png)"
        opened = await song(world, member, custom=True, model="suno-v4-chat", style="folk")
        await submit(
            world, member, opened, {"title": "Dawn", "lyrics": "[Verse]\nsun", "style": "folk"}
        )
        failed = await finished_card(world)
        assert failed.content.startswith("🎵 **suno-v4-chat · Dawn**")
        assert "❌" in failed.content and "20 credits refunded" in failed.content
        [call] = world.upstream.requests_to(CHAT)
        assert (
            call.json["messages"][-1]["content"]
            == "Title: Dawn\nStyle: folk\nLyrics:\n[Verse]\nsun"
        )
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_model_choices_include_chat_models_and_other_songs_stay_with_suno() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        handle = await world.discord.autocomplete(
            world.guild_id, world.channel_id, member, "song", {"model": "v4"}, focused="model"
        )
        await handle.wait_response()
        assert [c["value"] for c in handle.choices or []] == ["chirp-v4", "suno-v4-chat"]
        await song(world, member, prompt="cats")  # the default model is still Suno's
        assert (await finished_card(world)).content.endswith("-# Suno · chirp-v3-5 · 20 credits")
        assert world.upstream.requests_to(CHAT) == [] and len(cards(world)) == 1


def test_the_prompt_a_chat_song_model_reads() -> None:
    inspiration = {"mode": "inspiration", "prompt": "cats", "tags": " jazz ", "instrumental": True}
    assert chat_song_prompt(inspiration) == "cats\nStyle: jazz\nInstrumental, no vocals."
    custom = {"mode": "custom", "lyrics": "", "title": "Hum", "instrumental": True}
    assert chat_song_prompt(custom) == "Title: Hum\nInstrumental, no vocals."


def test_a_name_in_both_suno_and_chat_models_is_refused() -> None:
    with pytest.raises(ValidationError, match="listed once"):
        SunoConfig(chat_models=["chirp-v4"])
