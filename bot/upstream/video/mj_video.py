"""Midjourney video through the ``/mj`` routes: an image animated into a 5-second clip.

Submitted with ``/mj/submit/video`` (``MidjourneyClient.video``: its codes and refusals are
the other Midjourney submits'), polled with ``/mj/task/{id}/fetch`` like any Midjourney task.
A finished task links its clips in ``videoUrls`` (trueai-org's proxy makes four), in
``videoUrl``, and copies them into ``imageUrls``; the first clip is the video.
"""

from __future__ import annotations

from typing import Any

from bot.errors import SubmitRejected
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import MidjourneyClient, MJTask, data_uri
from bot.upstream.video.common import (
    GatewayAdapter,
    VideoRequest,
    VideoStatus,
    VideoTask,
    get_json,
    is_url,
    task_path,
)

DEFAULT_MOTION = "low"
_STATUSES: dict[str, VideoStatus] = {
    "SUCCESS": "succeeded",
    "FAILURE": "failed",
    "CANCEL": "failed",
    "IN_PROGRESS": "running",
}


def clip_url(obj: Any) -> str | None:
    """The first clip of a finished video task: ``videoUrls``, then ``videoUrl``, then the
    copies in ``imageUrls`` (never ``imageUrl`` alone: on an image task that is a picture)."""
    if not isinstance(obj, dict):
        return None
    candidates: list[Any] = []
    for key in ("videoUrls", "imageUrls"):
        items = obj.get(key)
        if isinstance(items, list):
            candidates += [i.get("url") if isinstance(i, dict) else i for i in items]
        if key == "videoUrls":
            candidates.append(obj.get("videoUrl"))
    return next((str(c).strip() for c in candidates if is_url(c)), None)


def parse_task(obj: Any, task_id: str) -> VideoTask:
    task = MJTask.from_json(obj)
    status = _STATUSES.get(task.status, "pending")
    return VideoTask(
        id=task_id,
        status=status,
        progress=100 if status == "succeeded" else task.progress,
        url=clip_url(obj) if status == "succeeded" else None,
        error=task.fail_reason or task.status.lower() if status == "failed" else "",
    )


class MidjourneyVideoClient(GatewayAdapter):
    name = "mj_video"

    def __init__(self, client: UpstreamClient) -> None:
        super().__init__(client)
        self._mj = MidjourneyClient(client)

    async def submit(self, request: VideoRequest) -> str:
        if not request.image:
            raise SubmitRejected("Midjourney video starts from an image")
        end = data_uri(request.end_image) if request.end_image else None
        motion = request.mode or DEFAULT_MOTION
        submitted = await self._mj.video(
            request.prompt, data_uri(request.image), motion=motion, end_image=end
        )
        return submitted.task_id

    async def fetch(self, task_id: str) -> VideoTask | None:
        obj = await get_json(self._client, task_path("/mj/task", task_id) + "/fetch")
        return None if obj is None else parse_task(obj, task_id)
