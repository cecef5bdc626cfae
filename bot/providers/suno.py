"""Suno tasks on the job engine: what each job kind submits and how tasks map to states.

Job kinds are the priced actions: ``suno_music`` (request ``mode`` inspiration, custom or
continuation) and ``suno_lyrics``. While a MUSIC task runs, the state carries its clips so the
presenter can link the ``streaming`` audio early; the progress figure moves with the clips, so
each step (queued, streaming, done) is a change the engine shows.
"""

from __future__ import annotations

from typing import Any

from bot.job_types import Job, Submitted, TaskState
from bot.upstream.suno import (
    DEFAULT_MV,
    Continuation,
    Custom,
    Inspiration,
    MusicRequest,
    SunoClient,
    SunoClip,
    SunoTask,
)

MUSIC = "suno_music"
LYRICS = "suno_lyrics"
# How far along a clip is, by its status; a running task shows the mean over its clips.
CLIP_PROGRESS = {"": 0, "submitted": 5, "queued": 15, "streaming": 50, "complete": 100}
RUNNING_CAP = 99  # 100 is for a finished task only
EMPTY_RESULT = "song.empty_result"  # a "successful" task with nothing to show


def music_request(request: dict[str, Any]) -> MusicRequest:
    """The submit body of a ``suno_music`` job's stored request."""
    mode = request.get("mode", "inspiration")
    mv = str(request.get("mv") or DEFAULT_MV)
    title, tags = str(request.get("title") or ""), str(request.get("tags") or "")
    if mode == "continuation":
        return Continuation(
            clip_id=str(request["clip_id"]),
            task_id=str(request["task_id"]),
            continue_at=float(request["continue_at"]),
            lyrics=str(request.get("lyrics") or ""),
            title=title,
            tags=tags,
            mv=mv,
        )
    instrumental = bool(request.get("instrumental"))
    if mode == "custom":
        lyrics = str(request.get("lyrics") or "")
        return Custom(lyrics, title=title, tags=tags, instrumental=instrumental, mv=mv)
    description = str(request.get("prompt") or "")
    return Inspiration(description, instrumental=instrumental, mv=mv, tags=tags, title=title)


def _playable(clip: SunoClip) -> bool:
    return bool(clip.audio_url) and clip.status != "error"


def task_state(task: SunoTask) -> TaskState:
    if task.failed:
        return TaskState("failed", error=task.fail_reason or "jobs.failed")
    if task.lyrics is not None or task.action == "LYRICS":
        return _lyrics_state(task)
    clips = [clip.as_dict() for clip in task.clips]
    if task.succeeded:
        if not any(_playable(c) for c in task.clips):
            return TaskState("failed", error=EMPTY_RESULT)
        return TaskState("succeeded", progress=100, result={"clips": clips})
    streaming = [c for c in task.clips if c.status == "streaming" and c.audio_url]
    by_clips = (
        sum(CLIP_PROGRESS.get(c.status, 0) for c in task.clips) // len(task.clips)
        if task.clips
        else 0
    )
    running = task.status == "IN_PROGRESS" or bool(streaming)
    return TaskState(
        "running" if running else "pending",
        progress=min(RUNNING_CAP, max(task.progress, by_clips)),
        preview_url=streaming[0].audio_url if streaming else None,
        result={"clips": clips} if clips else None,
    )


def _lyrics_state(task: SunoTask) -> TaskState:
    lyrics = task.lyrics
    if task.succeeded:
        if lyrics is None or not lyrics.text.strip():
            return TaskState("failed", error=EMPTY_RESULT)
        return TaskState(
            "succeeded", progress=100, result={"title": lyrics.title, "text": lyrics.text}
        )
    running = task.status == "IN_PROGRESS"
    return TaskState("running" if running else "pending", progress=min(RUNNING_CAP, task.progress))


class SunoProvider:
    name = "suno"
    batch_size = 100

    def __init__(self, client: SunoClient) -> None:
        self.client = client

    async def submit(self, job: Job) -> Submitted:
        if job.kind == LYRICS:
            return Submitted(await self.client.submit_lyrics(str(job.request["prompt"])))
        return Submitted(await self.client.submit_music(music_request(job.request)))

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        tasks = await self.client.fetch(upstream_ids)
        return {task.id: task_state(task) for task in tasks}
