"""SunoClient and SunoProvider against the sandbox's /suno routes (upstream-api.md §3, §6)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import (
    ContentBlocked,
    SubmitRejected,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
)
from bot.providers.suno import SunoProvider, music_request, task_state
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.wire import task_error
from bot.upstream.client import UpstreamClient
from bot.upstream.suno import (
    CLIP_STATUSES,
    TASK_STATUSES,
    Continuation,
    Custom,
    Inspiration,
    SunoClient,
    SunoTask,
)
from tests.helpers import ManualClock

KEY = "sk-SunoTestKey0123456789abcdefXYZ"
BARE_KEY = KEY.removeprefix("sk-")


@pytest.fixture
async def sandbox() -> AsyncIterator[UpstreamSandbox]:
    async with UpstreamSandbox(api_key=KEY) as sb:
        sb.suno.durations = (1.0, 1.0, 2.0)
        sb.suno.clock = ManualClock()
        yield sb


@pytest.fixture
def clock(sandbox: UpstreamSandbox) -> ManualClock:
    assert isinstance(sandbox.suno.clock, ManualClock)
    return sandbox.suno.clock


@pytest.fixture
async def client(sandbox: UpstreamSandbox) -> AsyncIterator[UpstreamClient]:
    async with aiohttp.ClientSession() as session:
        yield UpstreamClient(
            session, sandbox.base_url, KEY, connect_timeout=1, read_timeout=2, total_timeout=5
        )


@pytest.fixture
def suno(client: UpstreamClient) -> SunoClient:
    return SunoClient(client)


async def finished(suno: SunoClient, clock: ManualClock, task_id: str) -> SunoTask:
    clock.advance(10)
    task = await suno.fetch_one(task_id)
    assert task.succeeded, task
    return task


# --- lifecycle -------------------------------------------------------------------------------


async def test_inspiration_moves_through_the_clip_statuses(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    task_id = await suno.submit_music(Inspiration("an upbeat song about cats", mv="chirp-v3-5"))
    assert task_id.startswith("task_")
    [call] = sandbox.requests_to("/suno/submit/music")
    assert call.json == {
        "gpt_description_prompt": "an upbeat song about cats",
        "make_instrumental": False,
        "mv": "chirp-v3-5",
    }
    seen: list[tuple[str, list[str]]] = []
    for step in (0.5, 1.0, 1.0, 1.0, 1.0):
        clock.advance(step)
        task = await suno.fetch_one(task_id)
        seen.append((task.status, [c.status for c in task.clips]))
    assert seen == [
        ("SUBMITTED", ["submitted", "submitted"]),
        ("QUEUED", ["queued", "queued"]),
        ("IN_PROGRESS", ["streaming", "streaming"]),
        ("IN_PROGRESS", ["streaming", "streaming"]),
        ("SUCCESS", ["complete", "complete"]),
    ]
    task = await suno.fetch_one(task_id)
    assert task.action == "MUSIC" and task.progress == 100 and task.id == task_id
    first, second = task.clips
    assert first.audio_url and first.audio_url.endswith(f"/suno/cdn/{first.id}.mp3")
    assert first.image_url and first.image_url.endswith(".png")
    assert first.title == "An Upbeat Song About" and first.tags
    assert "cats" in first.lyrics and first.description == "an upbeat song about cats"
    assert (first.duration, second.duration) == (120.0, 127.5)
    assert first.model_name == "chirp-v3-5"


async def test_streaming_clips_have_a_playable_partial_url(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock, client: UpstreamClient
) -> None:
    task_id = await suno.submit_music(Custom("[Verse]\nla la", title="La", tags="folk"))
    clock.advance(2.5)
    task = await suno.fetch_one(task_id)
    assert task.status == "IN_PROGRESS" and 20 < task.progress < 95
    clip = task.clips[0]
    assert clip.status == "streaming" and clip.duration is None
    assert clip.audio_url and "audiopipe" in clip.audio_url
    audio = await client.download(clip.audio_url, max_bytes=10_000)
    assert audio.startswith(b"ID3")
    state = task_state(task)
    assert state.status == "running" and state.preview_url == clip.audio_url
    assert state.result and [c["status"] for c in state.result["clips"]] == ["streaming"] * 2
    assert (clip.title, clip.tags, clip.lyrics) == ("La", "folk", "[Verse]\nla la")


async def test_batch_fetch_leaves_out_unknown_ids_and_mixes_actions(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    music = await suno.submit_music(Inspiration("rain"))
    lyrics = await suno.submit_lyrics("a song about rain")
    tasks = await suno.fetch([music, "task_nope", lyrics])
    assert {t.id for t in tasks} == {music, lyrics}
    assert len(sandbox.requests_to("/suno/fetch")) == 1
    assert sandbox.requests_to("/suno/fetch")[0].json["ids"] == [music, "task_nope", lyrics]
    clock.advance(10)
    done = {t.id: t for t in await suno.fetch([music, lyrics])}
    assert done[lyrics].action == "LYRICS" and done[lyrics].lyrics is not None
    assert done[lyrics].lyrics.title == "A Song About Rain"
    assert "rain" in done[lyrics].lyrics.text
    assert len(done[music].clips) == 2
    assert await suno.fetch([]) == []


async def test_continuation_carries_clip_task_and_time(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    parent = await finished(suno, clock, await suno.submit_music(Inspiration("surf rock")))
    clip = parent.clips[1]
    request = Continuation(clip.id, parent.id, 61.5, lyrics="[Bridge]\nwaves", mv="chirp-v3-5")
    task = await finished(suno, clock, await suno.submit_music(request))
    [_, call] = sandbox.requests_to("/suno/submit/music")
    assert call.json["continue_clip_id"] == clip.id and call.json["task_id"] == parent.id
    assert call.json["continue_at"] == 61.5 and call.json["prompt"] == "[Bridge]\nwaves"
    assert task.clips[0].duration == 181.5
    assert sandbox.suno.submits == {"inspiration": 1, "continuation": 1}
    with pytest.raises(ValueError):
        Continuation("clip", "", 10).body()


async def test_lyrics_task(sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock) -> None:
    task_id = await suno.submit_lyrics("lighthouse keeper")
    assert (await suno.fetch_one(task_id)).lyrics is None
    clock.advance(1.5)
    assert (await suno.fetch_one(task_id)).status == "IN_PROGRESS"
    task = await finished(suno, clock, task_id)
    state = task_state(task)
    assert state.status == "succeeded" and state.result is not None
    assert state.result["title"] == "Lighthouse Keeper" and "lighthouse" in state.result["text"]


# --- failures and refusals -------------------------------------------------------------------


async def test_failure_has_a_reason(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    sandbox.suno.fail_next = "Song failed: moderation"
    task_id = await suno.submit_music(Inspiration("anything"))
    clock.advance(2.5)
    assert (await suno.fetch_one(task_id)).status == "IN_PROGRESS"
    clock.advance(10)
    task = await suno.fetch_one(task_id)
    assert task.failed and task.fail_reason == "Song failed: moderation"
    assert [c.status for c in task.clips] == ["error", "error"]
    assert task_state(task).error == "Song failed: moderation"
    assert sandbox.suno.fail_next is None  # used once


async def test_never_finish_keeps_streaming(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    sandbox.suno.never_finish = True
    task_id = await suno.submit_music(Inspiration("forever"))
    clock.advance(1000)
    task = await suno.fetch_one(task_id)
    assert task.status == "IN_PROGRESS" and task_state(task).status == "running"


async def test_validation_refusals_are_submit_rejected(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    with pytest.raises(SubmitRejected) as empty:
        await suno.submit_music(Custom(""))
    assert (empty.value.status, empty.value.code, empty.value.detail) == (
        400,
        "invalid_request",
        "prompt_empty",
    )
    with pytest.raises(SubmitRejected):
        await suno.submit_lyrics("  ")
    with pytest.raises(SubmitRejected) as missing:
        await suno.submit_music(Continuation("clip", "task_gone", 10.0))
    assert missing.value.code == "task_not_exist"
    unfinished = await suno.submit_music(Inspiration("slow"))
    with pytest.raises(SubmitRejected):
        await suno.submit_music(Continuation("clip", unfinished, 10.0))
    with pytest.raises(ContentBlocked):
        await suno.submit_music(Inspiration("lots of gore"))
    assert sandbox.suno.submits == {"inspiration": 1}


async def test_task_shape_errors_are_typed(sandbox: UpstreamSandbox, suno: SunoClient) -> None:
    sandbox.inject_error("task_insufficient_balance", path_regex="/suno/submit/")
    with pytest.raises(UpstreamInsufficientBalance) as balance:
        await suno.submit_music(Inspiration("x"))
    assert balance.value.status == 403 and balance.value.request_id
    sandbox.inject_error("task_saturated", path_regex="/suno/submit/")
    with pytest.raises(UpstreamRateLimited):
        await suno.submit_lyrics("x")
    with pytest.raises(UpstreamFailure) as unknown:
        await suno.fetch_one("task_nope")
    assert unknown.value.code == "task_not_exist" and unknown.value.status == 400
    sandbox.inject("/suno/fetch", 500, task_error("fail_to_fetch_task", "upstream status 502"))
    with pytest.raises(UpstreamFailure) as fetch:
        await suno.fetch(["task_a"])
    assert fetch.value.code == "fail_to_fetch_task"
    # An error code under HTTP 200, with and without data.
    sandbox.inject("/suno/submit/", 200, {"code": "quota_not_enough", "message": "no", "data": ""})
    with pytest.raises(UpstreamInsufficientBalance):
        await suno.submit_lyrics("x")
    sandbox.inject("/suno/submit/", 200, {"code": "success", "message": "", "data": None})
    with pytest.raises(UpstreamFailure, match="no id"):
        await suno.submit_lyrics("x")
    sandbox.inject("/suno/fetch", 200, {"code": "success", "data": None})
    assert await suno.fetch(["task_a"]) == []
    sandbox.inject("/suno/fetch", 200, {"code": "success", "data": {"not": "a list"}})
    with pytest.raises(UpstreamFailure):
        await suno.fetch(["task_a"])


async def test_key_never_in_logs_or_errors(
    sandbox: UpstreamSandbox,
    suno: SunoClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.inject("/suno/submit/", 400, task_error("invalid_request", f"bad key {KEY}"))
    sandbox.inject("/suno/submit/", 200, {"code": "bad", "message": BARE_KEY, "data": "x"})
    sandbox.inject("/suno/fetch", 400, f"plain text with {BARE_KEY}")
    errors: list[UpstreamError] = []
    for call in (
        lambda: suno.submit_lyrics("x"),
        lambda: suno.submit_lyrics("x"),
        lambda: suno.fetch_one("task_x"),
    ):
        try:
            await call()
        except UpstreamError as exc:
            errors.append(exc)
    assert len(errors) == 3
    texts = [r.getMessage() for r in caplog.records] + [str(e) for e in errors]
    texts += [repr(e) for e in errors] + [str(e.params) for e in errors] + [repr(suno)]
    assert any("sk-***" in t for t in texts)
    for text in texts:
        assert BARE_KEY not in text


# --- the provider ----------------------------------------------------------------------------


def test_music_request_from_a_stored_job_request() -> None:
    assert music_request({"prompt": "cats", "mv": "chirp-v4", "instrumental": True}) == (
        Inspiration("cats", instrumental=True, mv="chirp-v4")
    )
    assert music_request({"mode": "custom", "lyrics": "la", "title": "T", "tags": "pop"}) == (
        Custom("la", title="T", tags="pop", mv="chirp-v3-0")
    )
    continuation = music_request(
        {"mode": "continuation", "clip_id": "c", "task_id": "t", "continue_at": "30", "mv": "m"}
    )
    assert continuation == Continuation("c", "t", 30.0, mv="m")


async def test_provider_submits_and_maps_states(
    sandbox: UpstreamSandbox, suno: SunoClient, clock: ManualClock
) -> None:
    provider = SunoProvider(suno)
    assert (provider.name, provider.batch_size) == ("suno", 100)
    job: Any = type("J", (), {"kind": "suno_lyrics", "request": {"prompt": "tea"}})()
    lyrics = (await provider.submit(job)).upstream_id
    job.kind, job.request = "suno_music", {"mode": "custom", "lyrics": "la", "tags": "jazz"}
    music = (await provider.submit(job)).upstream_id
    states = await provider.fetch([lyrics, music, "task_missing"])
    assert set(states) == {lyrics, music}
    assert states[music].status == "pending" and states[music].progress == 5
    clock.advance(1.5)
    assert (await provider.fetch([music]))[music].progress == 15
    clock.advance(10)
    states = await provider.fetch([lyrics, music])
    assert states[music].status == "succeeded" and states[music].progress == 100
    clips = (states[music].result or {})["clips"]
    assert len(clips) == 2 and clips[0]["tags"] == "jazz" and clips[0]["duration"] == 120.0
    assert states[lyrics].status == "succeeded"


def test_success_without_audio_is_a_failure() -> None:
    empty = SunoTask.from_json({"task_id": "t", "action": "MUSIC", "status": "SUCCESS", "data": []})
    assert task_state(empty).status == "failed"
    no_text = SunoTask.from_json({"task_id": "t", "action": "LYRICS", "status": "SUCCESS"})
    assert task_state(no_text).status == "failed"


# --- parsing ---------------------------------------------------------------------------------


def test_task_parsing_is_tolerant() -> None:
    task = SunoTask.from_json(
        {
            "id": 17,
            "task_id": "task_abc",
            "status": "in_progress",
            "progress": "45.5%",
            "data": [
                {
                    "id": "c1",
                    "status": "STREAMING",
                    "audio_url": "https://audiopipe.suno.ai/?item_id=c1",
                    "duration": "96.5",
                    "tags": "top-level tags",
                    "metadata": {"tags": None, "prompt": "[Verse] hi"},
                },
                {"clip_id": "c2", "status": "weird", "audio_url": "ftp://nope", "metadata": 3},
                {"title": "no id"},
                "junk",
            ],
        }
    )
    assert (task.id, task.status, task.progress, task.action) == (
        "task_abc",
        "IN_PROGRESS",
        45,
        "",
    )
    first, second = task.clips
    assert (first.status, first.duration, first.tags, first.lyrics) == (
        "streaming",
        96.5,
        "top-level tags",
        "[Verse] hi",
    )
    assert (second.id, second.status, second.audio_url) == ("c2", "", None)
    # Older builds: the upstream UUID as the id, data as a JSON string.
    legacy = SunoTask.from_json(
        {"id": "uuid-1", "status": "SUCCESS", "data": '[{"id": "c", "audio_url": "https://a/b"}]'}
    )
    assert legacy.id == "uuid-1" and legacy.progress == 100 and legacy.clips[0].id == "c"
    lyrics = SunoTask.from_json(
        {"task_id": "t", "status": "SUCCESS", "data": {"id": "x", "text": "la", "title": "T"}}
    )
    assert lyrics.lyrics is not None and (lyrics.lyrics.title, lyrics.lyrics.text) == ("T", "la")
    failed = SunoTask.from_json(
        {"task_id": "t", "status": "FAILURE", "data": [{"id": "c", "error_message": "nope"}]}
    )
    assert failed.fail_reason == "nope"
    assert SunoTask.from_json(None) == SunoTask(id="")
    assert SunoTask.from_json({"task_id": "t", "status": "WEIRD"}).status == ""


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=15,
)
_CLIPISH = st.fixed_dictionaries(
    {},
    optional={
        "id": _JSONISH,
        "status": st.sampled_from(sorted(CLIP_STATUSES)) | _JSONISH,
        "audio_url": st.just("https://cdn/x.mp3") | _JSONISH,
        "title": _JSONISH,
        "metadata": st.fixed_dictionaries(
            {}, optional={"duration": _JSONISH, "tags": _JSONISH, "prompt": _JSONISH}
        )
        | _JSONISH,
    },
)
_TASKISH = st.fixed_dictionaries(
    {},
    optional={
        "task_id": _JSONISH,
        "id": _JSONISH,
        "action": st.sampled_from(["MUSIC", "LYRICS"]) | _JSONISH,
        "status": st.sampled_from(sorted(TASK_STATUSES)) | _JSONISH,
        "progress": st.from_regex(r"-?\d{1,4}(\.\d+)?%?", fullmatch=True) | _JSONISH,
        "fail_reason": _JSONISH,
        "data": st.lists(_CLIPISH | _JSONISH, max_size=3) | _JSONISH,
    },
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_TASKISH | _JSONISH)
def test_task_parsing_never_raises(obj: Any) -> None:
    task = SunoTask.from_json(obj)
    assert isinstance(task.id, str) and isinstance(task.fail_reason, str)
    assert task.status in TASK_STATUSES or task.status == ""
    assert 0 <= task.progress <= 100
    for clip in task.clips:
        assert clip.id and (clip.status in CLIP_STATUSES or clip.status == "")
        assert clip.duration is None or clip.duration >= 0
        assert clip.audio_url is None or clip.audio_url.startswith("http")
    state = task_state(task)
    assert state.status in ("pending", "running", "succeeded", "failed")
    assert 0 <= state.progress <= 100
