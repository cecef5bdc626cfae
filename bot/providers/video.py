"""Video tasks on the job engine: one provider per video API, each around its adapter.

A video job's request holds the model, prompt, duration, aspect and (for image to video) the
Discord URL of the reference image, which is fetched at submit time and never stored. These APIs
answer about one task per request, so each provider polls one task at a time.
"""

from __future__ import annotations

import logging

from bot.errors import SubmitRejected
from bot.job_types import Job, Submitted, TaskState
from bot.upstream.client import UpstreamClient
from bot.upstream.video import VideoAdapter, VideoRequest, VideoTask, video_adapters

log = logging.getLogger(__name__)

# The engine provider of each configured adapter (``video.models[].adapter``).
PROVIDER_NAMES = {
    "kling": "kling",
    "luma": "luma",
    "runway": "runway",
    "sora": "sora",
    "unified": "video",
}
MAX_REFERENCE_BYTES = 10 * 1024 * 1024
NO_VIDEO = "the service finished without a video"


def provider_for(adapter: str) -> str:
    """The engine provider name that runs jobs of a configured adapter."""
    return PROVIDER_NAMES[adapter]


def task_state(task: VideoTask) -> TaskState:
    if task.status == "succeeded":
        if not task.url:
            return TaskState("failed", error=NO_VIDEO)
        return TaskState("succeeded", progress=100, result={"video_url": task.url})
    if task.status == "failed":
        return TaskState("failed", error=task.error or "failed")
    return TaskState(task.status, progress=task.progress)


class VideoProvider:
    batch_size = 1

    def __init__(self, adapter: VideoAdapter, upstream: UpstreamClient) -> None:
        self.adapter = adapter
        self.upstream = upstream
        self.name = adapter.name

    def __repr__(self) -> str:
        return f"VideoProvider({self.name!r})"

    async def submit(self, job: Job) -> Submitted:
        request = job.request
        image = None
        if url := request.get("image_url"):
            if not str(url).startswith(("http://", "https://")):
                raise SubmitRejected("reference images must be http(s) links")
            image = await self.upstream.download(url, max_bytes=MAX_REFERENCE_BYTES)
        task_id = await self.adapter.submit(
            VideoRequest(
                model=request["model"],
                prompt=request["prompt"],
                duration=int(request["duration"]),
                aspect=request["aspect"],
                image=image,
            )
        )
        log.info("video %s accepted: task %s", self.name, task_id)
        return Submitted(task_id)

    async def fetch(self, upstream_ids: list[str]) -> dict[str, TaskState]:
        states: dict[str, TaskState] = {}
        for task_id in upstream_ids:
            task = await self.adapter.fetch(task_id)
            if task is not None:
                states[task_id] = task_state(task)
        return states


def video_providers(upstream: UpstreamClient) -> list[VideoProvider]:
    """A provider for every video adapter, to add to the job engine."""
    return [VideoProvider(adapter, upstream) for adapter in video_adapters(upstream).values()]
