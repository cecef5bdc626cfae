"""Video tasks on the job engine: one provider per video API, each around its adapter.

A video job's request holds the model, prompt, duration, aspect and (for image to video) the
Discord URL of the reference image, which is fetched at submit time and never stored. These APIs
answer about one task per request, so each provider polls one task at a time. Image models the
gateway serves on the unified task route (``image.models[].adapter = "unified"``) run through the
same adapter as ``unified_image`` jobs, whose result is shown like any other /imagine model's.
"""

from __future__ import annotations

import logging

from bot.errors import SubmitRejected
from bot.job_types import Job, Submitted, TaskState
from bot.upstream.client import UpstreamClient
from bot.upstream.video import (
    UnifiedVideoClient,
    VideoAdapter,
    VideoRequest,
    VideoTask,
    video_adapters,
)

log = logging.getLogger(__name__)

# The engine provider of each configured adapter (``video.models[].adapter``).
PROVIDER_NAMES = {
    "kling": "kling",
    "luma": "luma",
    "runway": "runway",
    "sora": "sora",
    "unified": "video",
    "mj_video": "mj_video",
}
UNIFIED_IMAGE = "unified_image"  # the engine provider of unified-route image models
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
NO_VIDEO = "the service finished without a video"
NO_IMAGE = "the service finished without an image"
TASK_LOST = "gateways.task_lost"  # a catalog key: the member reads it in their language
# A gateway that answers "no such task" this many polls in a row has lost it: refund now rather
# than at the deadline. Two, not one, so a lookup racing the gateway's own write is forgiven.
UNKNOWN_POLLS = 2
# Luma on resellers reports ``completed`` before the link is filled in (upstream-api.md §7): a
# finished task answered without a link this many times in a row counts as failed.
LINKLESS_POLLS = 5


def provider_for(adapter: str) -> str:
    """The engine provider name that runs jobs of a configured adapter."""
    return PROVIDER_NAMES[adapter]


def task_state(task: VideoTask, media: str = "video") -> TaskState:
    """The engine's view of a task. A video's result is ``{"video_url"}``; an image's is
    ``{"urls": [url]}``, the shape every /imagine model other than Midjourney delivers."""
    if task.status == "succeeded":
        if not task.url:
            return TaskState("failed", error=NO_IMAGE if media == "image" else NO_VIDEO)
        result = {"urls": [task.url]} if media == "image" else {"video_url": task.url}
        return TaskState("succeeded", progress=100, result=result)
    if task.status == "failed":
        return TaskState("failed", error=task.error or "failed")
    return TaskState(task.status, progress=task.progress)


class VideoProvider:
    batch_size = 1
    media = "video"

    def __init__(
        self,
        adapter: VideoAdapter,
        upstream: UpstreamClient,
        *,
        unknown_polls: int = UNKNOWN_POLLS,
        linkless_polls: int = LINKLESS_POLLS,
    ) -> None:
        self.adapter = adapter
        self.upstream = upstream
        self.name = adapter.name
        self.unknown_polls = unknown_polls
        self.linkless_polls = linkless_polls
        # Per task, polls in a row answered "unknown" or "finished without a link". Kept in
        # memory: after a restart a task gets at most that many polls again, which is the bound.
        self._unknown: dict[str, int] = {}
        self._linkless: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    async def submit(self, job: Job) -> Submitted:
        request = job.request
        image = await self._reference(request.get("image_url"))
        end_image = await self._reference(request.get("end_image_url"))
        task_id = await self.adapter.submit(
            VideoRequest(
                model=request["model"],
                prompt=request["prompt"],
                duration=int(request["duration"]),
                aspect=request["aspect"],
                image=image,
                mode=request.get("mode"),
                audio=request.get("audio"),
                end_image=end_image,
            )
        )
        log.info("video %s accepted: task %s", self.name, task_id)
        return Submitted(task_id)

    async def _reference(self, url: object) -> bytes | None:
        """A first or last frame, fetched now (a Discord or result link is never sent on)."""
        if not url:
            return None
        if not str(url).startswith(("http://", "https://")):
            raise SubmitRejected("reference images must be http(s) links")
        return await self.upstream.download(str(url), max_bytes=MAX_REFERENCE_BYTES)

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        states: dict[str, TaskState] = {}
        for task_id in upstream_ids:
            task = await self.adapter.fetch(task_id)
            if task is None:
                if _count(self._unknown, task_id) >= self.unknown_polls:
                    log.warning("video %s: the gateway does not know task %s", self.name, task_id)
                    states[task_id] = TaskState("failed", error=TASK_LOST)
                    del self._unknown[task_id]
                continue  # not listed yet: asked again at the next poll
            self._unknown.pop(task_id, None)
            linkless = task.status == "succeeded" and not task.url
            if linkless and _count(self._linkless, task_id) < self.linkless_polls:
                states[task_id] = TaskState("running", progress=99)
                continue
            self._linkless.pop(task_id, None)
            states[task_id] = task_state(task, self.media)
        return states


class UnifiedImageProvider(VideoProvider):
    """Image models on the unified task route (Flux, Stable Diffusion, Recraft…): the same
    submit and polling as unified video, with only a model and a prompt to send."""

    media = "image"

    def __init__(self, adapter: UnifiedVideoClient, upstream: UpstreamClient) -> None:
        super().__init__(adapter, upstream)
        self.unified = adapter
        self.name = UNIFIED_IMAGE

    async def submit(self, job: Job) -> Submitted:
        body = {"model": job.request["model"], "prompt": job.request["prompt"]}
        task_id = await self.unified.submit_body(body)
        log.info("unified image accepted: task %s", task_id)
        return Submitted(task_id)


def _count(counts: dict[str, int], task_id: str) -> int:
    counts[task_id] = counts.get(task_id, 0) + 1
    return counts[task_id]


def video_providers(upstream: UpstreamClient) -> list[VideoProvider]:
    """A provider for every video adapter, and for unified-route image models, to add to the
    job engine."""
    providers = [VideoProvider(adapter, upstream) for adapter in video_adapters(upstream).values()]
    return [*providers, UnifiedImageProvider(UnifiedVideoClient(upstream), upstream)]
