"""The unified task route (upstream-api.md §4e): ``POST /v1/video/generations`` and its task.

Any model the gateway routes (Veo, Kling, Vidu, Hailuo…, and image models such as Flux that a
gateway serves as tasks) is served here. Polling answers with new-api's generic task envelope
``{"code":"success","data":{status, progress, result_url, fail_reason, data:{raw upstream
body}}}``; the result URL is ``result_url``, else a URL-like ``fail_reason`` (older builds put it
there on SUCCESS), else whatever URL the raw body holds.
Gemini/Veo channels answer with ``data`` as ``{task_id, status, url, format}`` instead.
"""

from __future__ import annotations

from typing import Any

from bot.upstream.parsing import as_text
from bot.upstream.video.common import (
    GatewayAdapter,
    VideoRequest,
    VideoTask,
    find_url,
    get_json,
    is_url,
    obj_at,
    progress_of,
    require_task_id,
    status_of,
    submit_json,
    task_path,
    unexpected,
)
from bot.upstream.video.sora import SIZES, parse_video_object

PATH = "/v1/video/generations"


def parse_envelope(obj: Any, task_id: str) -> VideoTask:
    """A generic task envelope (or the bare task inside it, or a video object)."""
    if isinstance(obj, dict) and obj.get("object") == "video":
        return parse_video_object(obj, task_id, content_url=None)
    data = obj.get("data") if isinstance(obj, dict) else None
    task = data if isinstance(data, dict) and "status" in data else obj
    if not isinstance(task, dict):
        raise unexpected("task", obj)
    status = status_of(task.get("status"))
    fail_reason = as_text(task.get("fail_reason")).strip()
    url = next(
        (
            as_text(candidate).strip()
            for candidate in (task.get("result_url"), fail_reason, task.get("url"))
            if is_url(candidate)
        ),
        None,
    )
    if url is None and status == "succeeded":
        url = find_url(task.get("data")) or find_url(obj_at(task, "metadata"))
    error = "" if is_url(fail_reason) else fail_reason
    if status == "failed" and not error:
        error = as_text(obj_at(task, "error", "message")) or as_text(task.get("error"))
    return VideoTask(
        id=task_id,
        status=status,
        progress=progress_of(task.get("progress"), status),
        url=url if status == "succeeded" else None,
        error=error.strip(),
    )


class UnifiedVideoClient(GatewayAdapter):
    name = "video"

    async def submit(self, request: VideoRequest) -> str:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "duration": request.duration,
            "seconds": str(request.duration),
            "metadata": {"aspect_ratio": request.aspect},
        }
        if size := SIZES.get(request.aspect):
            body["size"] = size
        if request.image:
            # The gateway hands ``image`` to the channel unchanged: Kling takes bare base64 and
            # refuses a data: URI (upstream-api.md §7); the other channels read a data: URI.
            kling = request.model.lower().startswith("kling")
            body["image"] = request.image_base64() if kling else request.image_data_uri()
        return await self.submit_body(body)

    async def submit_body(self, body: dict[str, Any]) -> str:
        """Start a task from a ready ``TaskSubmitReq`` body (image models send only ``model``
        and ``prompt``); returns the id to poll with."""
        obj = await submit_json(self._client, PATH, json=body)
        return require_task_id(obj, "unified submit")

    async def fetch(self, task_id: str) -> VideoTask | None:
        obj = await get_json(self._client, task_path(PATH, task_id))
        return None if obj is None else parse_envelope(obj, task_id)
