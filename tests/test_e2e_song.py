"""/song and /lyrics end to end: progress, early listening, clips, buttons, restarts, refunds."""

from __future__ import annotations

from typing import Any

from bot.sandbox.discord import InteractionHandle, Message
from bot.sandbox.world import SandboxWorld
from cogs.song_views import format_time, parse_time
from tests.helpers import (
    FAST_CHAT,
    ManualClock,
    ever_showed,
    hold_until_shown,
    on_gateways,
    private_reply,
    restart_with,
    run_slash,
    wait_until,
)

FAST_JOBS = {"poll_initial": 0.05, "poll_max": 0.2, "poll_floor": 0.02, "progress_interval": 0.5}
CONFIG: dict[str, Any] = {"chat": FAST_CHAT, "jobs": FAST_JOBS}
MUSIC = "/suno/submit/music"


def cards(world: SandboxWorld) -> list[Message]:
    """The job cards members see in the channel (not the private acknowledgements)."""
    return [
        m
        for m in world.discord.messages(world.channel_id)
        if not m.ephemeral and m.content.startswith(("🎵", "📝"))
    ]


async def finished_card(world: SandboxWorld, index: int = 0) -> Message:
    def done() -> bool:
        shown = cards(world)
        return len(shown) > index and "-# " in shown[index].content

    await wait_until(done, timeout=15)
    return cards(world)[index]


def buttons(message: Message) -> list[dict[str, Any]]:
    return [c for row in message.components for c in row["components"]]


def button(message: Message, label: str) -> str:
    return next(b["custom_id"] for b in buttons(message) if b.get("label") == label)


def modal_fields(handle: InteractionHandle) -> dict[str, dict[str, Any]]:
    """The text inputs of the modal the bot opened, by custom_id (action rows or labels)."""
    assert handle.modal is not None
    fields: dict[str, dict[str, Any]] = {}
    for component in handle.modal["components"]:
        inner = component.get("components") or [component.get("component") or {}]
        for item in inner:
            fields[item["custom_id"]] = item
    return fields


async def submit(world: SandboxWorld, user: int, handle: InteractionHandle, values: dict) -> Any:
    assert handle.modal is not None
    done = await world.discord.submit_modal(
        world.guild_id, world.channel_id, user, handle.modal["custom_id"], values
    )
    await done.wait_response(timeout=5)
    return done


async def balance(world: SandboxWorld) -> int:
    return await world.services.ledger.balance(world.guild_id)


async def song(world: SandboxWorld, member: int, **options: Any) -> InteractionHandle:
    return await run_slash(world, member, "song", options or {"prompt": "a song about cats"})


@on_gateways("suno")
async def test_song_streams_early_then_delivers_both_clips_once(profile: str) -> None:
    async with SandboxWorld(config=CONFIG, upstream_profile=profile) as world:
        world.upstream.suno.clock = ManualClock()
        world.upstream.suno.durations = (0.05, 0.05, 1.5)
        member = world.add_member("alice")
        handle = await song(world, member, prompt="a song about cats", style="jazz, sax")
        ack = await private_reply(world, handle)
        assert ack.ephemeral and "job #1" in ack.content and "20 credits" in ack.content

        def streamed() -> bool:
            return ever_showed(world, "Listen now", "/suno/audiopipe?item_id=") and ever_showed(
                world, "▓"
            )

        # Half-way through the streaming phase, held there until the card has shown it.
        await hold_until_shown(world.upstream.suno, 0.85, streamed)
        card = await finished_card(world)
        earlier = [content for _, content, _ in card.history[:-1]]
        assert any("Listen now" in c and "/suno/audiopipe?item_id=" in c for c in earlier), earlier
        assert any("▓" in c for c in earlier)
        # The stream links gave way to the files.
        assert "Listen now" not in card.content and "audiopipe" not in card.content
        mp3s = [a for a in card.attachments if a.filename.endswith(".mp3")]
        covers = [a for a in card.attachments if a.filename.endswith(".png")]
        assert len(mp3s) == 2 and len(covers) == 2
        assert all(a.content_type == "audio/mpeg" and a.data.startswith(b"ID3") for a in mp3s)
        assert all(a.data.startswith(b"\x89PNG") for a in covers)
        assert "**1. A Song About Cats** · ⏱ 2:00 · Style: jazz, sax" in card.content
        assert "**2. A Song About Cats** · ⏱ 2:07 · Style: jazz, sax" in card.content
        assert card.content.endswith("-# Suno · chirp-v3-5 · 20 credits")
        labels = [b["label"] for b in buttons(card)]
        assert labels == ["Extend 1", "Lyrics 1", "Extend 2", "Lyrics 2"]
        [call] = world.upstream.requests_to(MUSIC)
        assert call.json["gpt_description_prompt"] == "a song about cats"
        assert call.json["tags"] == "jazz, sax" and call.json["mv"] == "chirp-v3-5"
        hold = await world.services.ledger.get_hold(f"job:{handle.id}")
        assert (hold.user_id, hold.command, hold.status) == (member, "suno_music", "settled")
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_oversized_audio_is_posted_as_a_link() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        world.upstream.suno.audio_bytes = 4096
        member = world.add_member("alice")
        await song(world, member)
        card = await finished_card(world)
        assert not [a for a in card.attachments if a.filename.endswith(".mp3")]
        assert len([a for a in card.attachments if a.filename.endswith(".png")]) == 2
        assert card.content.count("too large to upload") == 2
        assert card.content.count("/suno/cdn/") == 2
        assert len(buttons(card)) == 4
        assert await balance(world) == 980


async def test_failure_timeout_and_refusals_cost_nothing() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        suno = world.upstream.suno

        for options, expected in (
            ({"prompt": "   "}, "what the song should be about"),
            ({"style": "pop"}, "what the song should be about"),
            ({"prompt": "x", "model": "chirp-v9"}, "no model called `chirp-v9`"),
            ({"prompt": "lots of gore"}, "content filter"),
        ):
            reply = await private_reply(world, await song(world, member, **options))
            assert expected in reply.content, reply.content
        reply = await private_reply(
            world, await run_slash(world, member, "lyrics", {"prompt": " "})
        )
        assert "Nothing was charged" in reply.content
        world.upstream.inject_error("task_saturated", path_regex=MUSIC)
        reply = await private_reply(world, await song(world, member))
        assert "busy" in reply.content
        assert cards(world) == []  # a refused job leaves no card behind
        assert len(world.upstream.requests_to(MUSIC)) == 2  # gore and the saturated one

        suno.fail_next = "Song failed: moderation"
        await private_reply(world, await song(world, member))  # started (acknowledged first)
        failed = await finished_card(world)
        assert failed.content.startswith("🎵") and "❌" in failed.content
        assert "moderation" in failed.content and "20 credits refunded" in failed.content

        await restart_with(world, "jobs", audio_deadline=0.6 / 60)  # only this job times out
        suno.never_finish = True
        await song(world, member)
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "20 credits refunded" in timed_out.content

        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []


async def test_job_killed_mid_flight_is_delivered_and_charged_once_after_restart() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        world.upstream.suno.durations = (0.05, 0.05, 1.0)
        member = world.add_member("alice")
        await song(world, member, prompt="slow one")
        await wait_until(lambda: bool(world.upstream.requests_to("/suno/fetch")))
        await world.restart_bot()  # the process stops while the song is being made
        card = await finished_card(world)
        polls = len(world.upstream.requests_to("/suno/fetch"))
        await world.restart_bot()  # and once more after delivery: nothing is shown twice
        await world.services.jobs.wait_idle()
        assert len(cards(world)) == 1
        assert len(card.attachments) == 4
        assert len(world.upstream.requests_to("/suno/fetch")) == polls  # nothing left to poll
        assert len(world.upstream.requests_to(MUSIC)) == 1
        assert await balance(world) == 980
        assert await world.services.ledger.check() == []


async def test_extend_after_restart_continues_the_clip_and_the_presser_pays() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        presser = world.add_member("bob")
        await song(world, member, prompt="surf rock")
        first = await finished_card(world)
        await world.restart_bot()

        handle = await world.discord.click(first.id, button(first, "Extend 2"), presser)
        await handle.wait_response(timeout=5)
        fields = modal_fields(handle)
        assert fields["continue_at"]["value"] == "127.5"
        assert fields["title"]["value"] == "Surf Rock" and fields["style"]["value"]
        bad = await submit(world, presser, handle, {"continue_at": "9:99", "lyrics": "x"})
        assert "not a point in the clip" in (await private_reply(world, bad)).content

        handle = await world.discord.click(first.id, button(first, "Extend 2"), presser)
        await handle.wait_response(timeout=5)
        values = {"continue_at": "1:30", "lyrics": "[Bridge]\nwaves", "title": "Surf Rock II"}
        extended = await submit(world, presser, handle, values)
        second = await finished_card(world, 1)
        assert second.content.startswith("🎵 **Extend · Surf Rock from 1:30**")
        assert len([a for a in second.attachments if a.filename.endswith(".mp3")]) == 2
        _, call = world.upstream.requests_to(MUSIC)
        job = await world.services.jobs.get(1)
        assert job is not None and job.result is not None
        assert call.json["continue_clip_id"] == job.result["clips"][1]["id"]
        assert call.json["task_id"] == job.upstream_id and call.json["continue_at"] == 90
        assert call.json["prompt"] == "[Bridge]\nwaves" and call.json["title"] == "Surf Rock II"
        hold = await world.services.ledger.get_hold(f"job:{extended.id}")
        assert (hold.user_id, hold.command, hold.status) == (presser, "suno_music", "settled")
        assert await balance(world) == 1000 - 20 - 20


async def test_lyrics_button_answers_privately() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        other = world.add_member("carol")
        await song(world, member, prompt="a lighthouse keeper")
        card = await finished_card(world)
        handle = await world.discord.click(card.id, button(card, "Lyrics 1"), other)
        await handle.wait_response(timeout=5)
        [reply] = world.discord.interaction_messages(handle)
        assert reply.ephemeral and reply.ephemeral_to == other
        [embed] = reply.embeds
        assert "I sing about a lighthouse keeper" in embed["description"]
        assert embed["title"] == "A Lighthouse Keeper"
        await song(world, member, prompt="waves", instrumental=True)
        calm = await finished_card(world, 1)
        handle = await world.discord.click(calm.id, button(calm, "Lyrics 2"), other)
        await handle.wait_response(timeout=5)
        [reply] = world.discord.interaction_messages(handle)
        assert reply.ephemeral and "instrumental" in reply.content
        assert await balance(world) == 960  # reading the lyrics is free


async def test_lyrics_then_make_this_song_with_the_prefilled_form() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        handle = await run_slash(world, member, "lyrics", {"prompt": "tea at dawn"})
        assert "2 credits" in (await private_reply(world, handle)).content
        written = await finished_card(world)
        assert written.content.startswith("📝 **tea at dawn**")
        assert written.content.endswith("-# Suno lyrics · 2 credits")
        [embed] = written.embeds
        assert (
            embed["title"] == "Tea At Dawn" and "I sing about tea at dawn" in embed["description"]
        )

        opened = await world.discord.click(written.id, button(written, "Make this song"), member)
        await opened.wait_response(timeout=5)
        fields = modal_fields(opened)
        assert fields["lyrics"]["value"] == embed["description"]
        assert fields["title"]["value"] == "Tea At Dawn"
        values = {"title": "Tea At Dawn", "lyrics": fields["lyrics"]["value"], "style": "lo-fi"}
        await submit(world, member, opened, values)
        made = await finished_card(world, 1)
        assert made.content.startswith("🎵 **Tea At Dawn**")
        assert "Style: lo-fi" in made.content
        [call] = world.upstream.requests_to(MUSIC)
        assert "gpt_description_prompt" not in call.json
        assert call.json["prompt"] == embed["description"] and call.json["tags"] == "lo-fi"
        assert await balance(world) == 1000 - 2 - 20


async def test_custom_mode_opens_the_form_with_the_options_filled_in() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        options = {"custom": True, "style": "metal", "model": "chirp-v4"}
        handle = await song(world, member, **options)
        fields = modal_fields(handle)
        assert fields["style"]["value"] == "metal" and fields["lyrics"]["required"] is True
        assert await balance(world) == 1000  # opening the form costs nothing
        empty = await submit(world, member, handle, {"lyrics": "  ", "style": "metal"})
        assert "lyrics are empty" in (await private_reply(world, empty)).content
        handle = await song(world, member, **options)
        await submit(world, member, handle, {"lyrics": "[Verse]\nloud", "title": "Loud"})
        card = await finished_card(world)
        assert card.content.endswith("-# Suno · chirp-v4 · 20 credits")
        [call] = world.upstream.requests_to(MUSIC)
        assert (call.json["prompt"], call.json["title"], call.json["mv"]) == (
            "[Verse]\nloud",
            "Loud",
            "chirp-v4",
        )
        assert await balance(world) == 980


async def test_a_chinese_member_reads_chinese() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("li", locale="zh-CN")
        handle = await run_slash(world, member, "song", {"prompt": "猫"}, locale="zh-CN")
        assert "已开始" in (await private_reply(world, handle)).content
        card = await finished_card(world)
        assert card.content.endswith("-# Suno · chirp-v3-5 · 20 积分") and "风格" in card.content
        assert [b["label"] for b in buttons(card)][:2] == ["续写 1", "歌词 1"]
        empty = await run_slash(world, member, "song", {"prompt": " "}, locale="zh-CN")
        assert "未扣除任何积分" in (await private_reply(world, empty)).content
        assert await balance(world) == 980


def test_points_in_a_clip_read_as_seconds_or_minutes() -> None:
    assert [parse_time(t) for t in ("90", " 90.5 ", "1:30", "01:05.5", "0")] == [
        90.0,
        90.5,
        90.0,
        65.5,
        0.0,
    ]
    assert [parse_time(t) for t in ("", "1:75", "-3", "abc", "1:2:3", "1e3")] == [None] * 6
    assert (format_time(127.5), format_time(59.9), format_time(None)) == ("2:07", "0:59", "?")


async def test_a_long_card_keeps_its_footer_and_links_replace_forbidden_files() -> None:
    config = {**CONFIG, "jobs": {**FAST_JOBS, "max_upload_bytes": 2048}}
    async with SandboxWorld(config=config) as world:
        world.upstream.suno.clips_per_task = 4
        world.upstream.suno.audio_bytes = 4096  # every mp3 becomes a link line…
        world.upstream.suno.signature = "?Expires=1712345678&Signature=" + "x" * 120  # …a long one
        member = world.add_member("alice")
        long_prompt = "a very long ballad about " + "the sea and the stars " * 17
        style = ("dream pop, shoegaze, " * 10)[:200]
        await song(world, member, prompt=long_prompt[:400], style=style)
        card = await finished_card(world)
        # It did not fit whole: what did not goes into an attached list, nothing is cut off.
        assert len(card.content) <= 2000 and "…" not in card.content
        [listing] = [a for a in card.attachments if a.filename == "atelier-1-links.txt"]
        shown = card.content + listing.data.decode()
        assert shown.count(world.upstream.suno.signature) == 4
        assert card.content.endswith("\n-# Suno · chirp-v3-5 · 20 credits")
        assert await balance(world) == 980

        # The bot may not attach files here: the clips still arrive, as links to listen to.
        world.upstream.suno.audio_bytes, world.upstream.suno.signature = None, ""
        world.upstream.suno.clips_per_task = 2
        world.discord.inject("PATCH", r"^/channels/\d+/messages/\d+$", status=403, code=50013)
        world.upstream.suno.durations = (0.0, 0.0, 0.0)  # done at the first poll: no progress
        await song(world, member, prompt="cats")
        linked = await finished_card(world, 1)
        assert linked.attachments == [] and linked.content.count("Listen: <http") == 2
        assert linked.content.endswith("-# Suno · chirp-v3-5 · 20 credits")
        assert [b["label"] for b in buttons(linked)][:2] == ["Extend 1", "Lyrics 1"]
        assert await balance(world) == 960
        assert await world.services.ledger.check() == []


async def test_lyrics_failure_and_timeout_are_refunded_without_a_button() -> None:
    async with SandboxWorld(config=CONFIG) as world:
        member = world.add_member("alice")
        world.upstream.suno.fail_next = "Lyrics failed: moderation"
        await run_slash(world, member, "lyrics", {"prompt": "a storm"})
        failed = await finished_card(world)
        assert failed.content.startswith("📝 **a storm**") and "❌" in failed.content
        assert "Lyrics failed: moderation" in failed.content
        assert failed.content.endswith("-# 2 credits refunded.") and buttons(failed) == []

        await restart_with(world, "jobs", audio_deadline=0.6 / 60)  # only this job times out
        world.upstream.suno.never_finish = True
        await run_slash(world, member, "lyrics", {"prompt": "a calm"})
        timed_out = await finished_card(world, 1)
        assert "Timed out" in timed_out.content and "2 credits refunded" in timed_out.content
        assert buttons(timed_out) == [] and timed_out.embeds == []
        assert await balance(world) == 1000
        assert await world.services.ledger.check() == []
