"""/song (Suno) and /video under faults and bad options: refusals at submit in the task shape,
errors while polling, a task that fails on moderation, results too large to attach, options a
provider does not take, and the process killed mid-job. Each checks what the member sees and
that the ledger reconciles."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.providers.suno import SunoProvider
from bot.providers.video import VideoProvider
from bot.sandbox.world import SandboxWorld
from tests.helpers import (
    command_requests,
    run_slash,
    wait_until,
)
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    channel_cards,
    crash,
    ephemeral_reply,
    finished_card,
    settled,
    world,
)

PRICES = {"song": 20, "video": 100}
ACTIONS = {"song": "suno_music", "video": "video"}  # the priced action of each command
MUSIC = r"^/suno/submit/music$"
SUNO_FETCH = r"^/suno/fetch"
KLING = r"^/kling/v1/videos/text2video$"
UNIFIED = r"^/v1/video/generations$"
VEO = "veo-3.0-generate-001"


async def song(w: SandboxWorld, **options: Any) -> Any:
    member = w.add_member(f"m{len(w.discord.store.users)}")
    return await run_slash(w, member, "song", options or {"prompt": "a song about rain"})


async def video(w: SandboxWorld, **options: Any) -> Any:
    member = w.add_member(f"m{len(w.discord.store.users)}")
    return await run_slash(w, member, "video", {"prompt": "waves at night", **options})


async def start(w: SandboxWorld, command: str) -> Any:
    """A /song or a /video (Kling) with the default options."""
    return await (song(w) if command == "song" else video(w))


# --- refused at submit, in the task shape ---------------------------------------------------

SUBMIT_ERRORS = [
    ("song", MUSIC, "task_insufficient_balance", "The AI service account has run out of funds"),
    ("song", MUSIC, "task_saturated", "The AI service is busy right now"),
    ("song", MUSIC, "content_blocked", "The request was blocked by the content filter"),
    ("video", KLING, "task_insufficient_balance", "The AI service account has run out of funds"),
    ("video", UNIFIED, "task_saturated", "The AI service is busy right now"),
    ("video", UNIFIED, "upstream_failure", "The AI service failed to answer: do request failed"),
]


@pytest.mark.parametrize(
    ("command", "route", "preset", "expected"),
    SUBMIT_ERRORS,
    ids=[f"{e[0]}-{e[2]}" for e in SUBMIT_ERRORS],
)
@scenario(
    "upstream",
    "/song and /video submits refused in the task shape (403 balance, 429 saturated, 400 "
    "sensitive words, 500)",
    sees="private message with the reason; the job card is removed; nothing charged",
)
async def test_media_submit_refused(
    note: Note, command: str, route: str, preset: str, expected: str
) -> None:
    async with world() as w:
        w.upstream.inject_error(preset, path_regex=route)
        options = {"model": VEO} if route == UNIFIED else {}
        handle = await (song(w) if command == "song" else video(w, **options))
        reply = await ephemeral_reply(w, handle)
        assert expected in reply.content, reply.content
        assert "request id" not in reply.content
        assert channel_cards(w) == []
        name = route.strip("^$")
        note(fault=f"{preset} on {name} (/{command})", sees=f"private: {reply.content}")
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "/song: a banned word, refused by the gateway's own check (HTTP 400 sensitive_words_detected)",
    sees="private: The request was blocked by the content filter: 敏感词检测失败: gore",
)
async def test_song_banned_word(note: Note) -> None:
    async with world() as w:
        handle = await song(w, prompt="a song about gore")
        reply = await ephemeral_reply(w, handle)
        assert "content filter" in reply.content and "gore" in reply.content
        assert channel_cards(w) == [] and w.upstream.suno.submits == {}
        await settled(w, note, NOTHING)


# --- while the task runs -------------------------------------------------------------------


@pytest.mark.parametrize(("command", "times"), [("song", 2), ("video", 1)])
@scenario(
    "upstream",
    "polling answers task_not_exist while the task runs (a song's batch twice, a video once)",
    sees="the finished card, a little later; charged once",
)
async def test_media_poll_task_not_exist(note: Note, command: str, times: int) -> None:
    async with world() as w:
        route = SUNO_FETCH if command == "song" else r"^/kling/v1/videos/text2video/"
        injected = w.upstream.inject_error("task_not_exist", path_regex=route, times=times)
        await start(w, command)
        card = await finished_card(w)
        assert injected.hits == times
        assert card.attachments and not card.content.splitlines()[1].startswith("❌")
        note(fault=f"task_not_exist {times}× while polling /{command}")
        await settled(w, note, action_charge(w, ACTIONS[command]))


@scenario(
    "upstream",
    "a video's polls answer task_not_exist twice in a row (the gateway lost the task)",
    sees="card: ❌ the service no longer knows this job; refunded at the second poll",
)
async def test_video_task_lost_upstream(note: Note) -> None:
    async with world() as w:
        route = r"^/kling/v1/videos/text2video/"
        injected = w.upstream.inject_error("task_not_exist", path_regex=route, times=1000)
        await start(w, "video")
        card = await finished_card(w)
        assert "the service no longer knows this job" in card.content
        assert injected.hits == 2  # refunded at the second poll, not at the deadline
        note(fault="task_not_exist at every poll of /video")
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("song", "Unable to generate lyrics: the description violates our content policy"),
        ("video", "content moderation: the prompt was flagged (violence)"),
    ],
)
@scenario(
    "upstream",
    "the task ends in FAILURE with a moderation fail_reason after progress",
    sees="card: ❌ Failed: <the service's reason> -# … credits refunded.",
)
async def test_media_failure_on_moderation(note: Note, command: str, reason: str) -> None:
    async with world(jobs={"progress_interval": 0.05}) as w:
        if command == "song":
            w.upstream.suno.fail_next = reason
            await song(w)
        else:
            w.upstream.video.fail_next = reason
            w.upstream.video.unified_form = "result_url"
            await video(w, model=VEO)
        card = await finished_card(w)
        price = PRICES[command]
        assert f"❌ Failed: {reason}" in card.content, card.content
        assert f"{price} credits refunded" in card.content and card.attachments == []
        note(fault=f"/{command}: FAILURE “{reason[:50]}…”", sees=card.content.split("\n", 1)[1])
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "the finished video is larger than the channel's upload limit (public link)",
    sees="card with “The file is too large to upload here: <link>”",
    lost="the video is not attached (link instead); charged",
)
async def test_video_result_too_large(note: Note) -> None:
    async with world(jobs={"max_upload_bytes": 2048}) as w:
        w.upstream.video.video_bytes = 8192
        await video(w)
        card = await finished_card(w)
        assert card.attachments == [] and "too large to upload here" in card.content
        assert "/video/files/" in card.content
        await settled(w, note, action_charge(w, "video"))


@scenario(
    "upstream",
    "a song's mp3 is larger than the channel's upload limit",
    sees="card with both clips, their buttons, and a link for each mp3 instead",
    lost="the mp3 files are not attached (links instead); charged",
)
async def test_song_result_too_large(note: Note) -> None:
    async with world(jobs={"max_upload_bytes": 2048}) as w:
        w.upstream.suno.audio_bytes = 8192
        await song(w)
        card = await finished_card(w)
        assert not any(a.filename.endswith(".mp3") for a in card.attachments)
        assert card.content.count("too large to upload here") == 2
        assert len([c for row in card.components for c in row["components"]]) == 4
        await settled(w, note, action_charge(w, "suno_music"))


# --- options a provider does not take --------------------------------------------------------

BAD_OPTIONS = [
    ("video", {"model": "kling-v1", "duration": 7}, "`kling-v1` makes videos of 5, 10 seconds"),
    ("video", {"model": "luma", "aspect": "4:5"}, "`luma` supports the aspect ratios"),
    ("video", {"model": "gen3a_turbo"}, "`gen3a_turbo` makes videos from an image"),
    ("video", {"model": "sora-3"}, "There is no model called `sora-3`"),
    ("song", {"prompt": "rain", "model": "chirp-v9"}, "There is no model called `chirp-v9`"),
    ("song", {"style": "jazz"}, "Tell me what the song should be about"),
]


@pytest.mark.parametrize(
    ("command", "options", "expected"),
    BAD_OPTIONS,
    ids=[f"{c}-{'-'.join(map(str, o.values()))}" for c, o, _ in BAD_OPTIONS],
)
@scenario(
    "bad input",
    "/video and /song options the chosen provider does not take (duration, aspect, a missing "
    "image, unknown models, no description)",
    sees="private: `kling-v1` makes videos of 5, 10 seconds, not 7. Nothing was charged. / …",
)
async def test_media_options_refused(
    note: Note, command: str, options: dict[str, Any], expected: str
) -> None:
    async with world() as w:
        member = w.add_member("alice")
        if command == "video":
            options = {"prompt": "waves", **options}
        reply = await ephemeral_reply(w, await run_slash(w, member, command, options))
        assert expected in reply.content, reply.content
        assert command_requests(w) == [] and channel_cards(w) == []
        note(fault=f"/{command} {options}", sees=f"private: {reply.content}")
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(
    ("command", "options"),
    [("video", {"prompt": "waves", "duration": 500}), ("song", {"style": "x" * 201})],
    ids=["video-duration-500", "song-style-201-chars"],
)
@scenario(
    "bad input",
    "/video and /song values outside the option's range",
    sees="Discord's own client refuses them; the bot sees nothing",
)
async def test_media_options_out_of_range(note: Note, command: str, options: Any) -> None:
    async with world() as w:
        member = w.add_member("alice")
        with pytest.raises(ValueError):
            await w.discord.slash(w.guild_id, w.channel_id, member, command, options)
        assert command_requests(w) == [] and channel_cards(w) == []
        note(fault=f"/{command} {str(options)[:60]}")
        await settled(w, note, NOTHING)


# --- the process killed mid-job ----------------------------------------------------------------


@pytest.mark.parametrize("command", ["song", "video"])
@scenario(
    "process",
    "killed while a song or video task runs upstream (polling)",
    sees="the finished card, once, after the restart",
    lost="nothing: charged once",
)
async def test_kill_during_media_job(note: Note, command: str) -> None:
    async with world() as w:
        w.upstream.suno.durations = (0.05, 0.05, 0.8)
        w.upstream.video.durations = (0.05, 0.8)
        poll = "/suno/fetch" if command == "song" else "/kling/v1/videos/text2video/"
        await start(w, command)
        await wait_until(lambda: any(r.path.startswith(poll) for r in command_requests(w)))
        await crash(w)
        await w.start_bot()
        card = await finished_card(w)
        assert card.attachments and len(channel_cards(w)) == 1
        note(fault=f"killed while a /{command} task runs upstream")
        await settled(w, note, action_charge(w, ACTIONS[command]))


@pytest.mark.parametrize("command", ["song", "video"])
@scenario(
    "process",
    "killed after the submit reached the upstream but before the task id was stored",
    sees="card: ❌ The bot restarted while it was handing this job to the service… -# … "
    "credits refunded.",
    lost="nothing for the member (refunded); the upstream may still run and bill the task to "
    "the operator",
)
async def test_kill_after_submit_reached_upstream(
    note: Note, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    reached = asyncio.Event()
    provider = SunoProvider if command == "song" else VideoProvider
    submit = provider.submit

    async def submitted_then_killed(self: Any, job: Any) -> Any:
        await submit(self, job)  # the upstream has the task now …
        reached.set()
        await asyncio.Event().wait()  # … and the bot dies before it records the task id

    async with world() as w:
        monkeypatch.setattr(provider, "submit", submitted_then_killed)
        await start(w, command)
        await asyncio.wait_for(reached.wait(), 5)
        await crash(w)
        monkeypatch.undo()
        await w.start_bot()
        card = await finished_card(w)
        price = PRICES[command]
        assert "restarted while it was handing this job to the service" in card.content
        assert f"{price} credits refunded" in card.content and len(channel_cards(w)) == 1
        tasks = w.upstream.suno.tasks if command == "song" else w.upstream.video.tasks
        assert len(tasks) == 1  # the upstream did take it: it may bill the operator for it
        note(fault=f"/{command}: killed between the upstream's accept and storing the task id")
        await settled(w, note, NOTHING)
