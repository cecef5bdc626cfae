"""Luma through the gateway (upstream-api.md §4b): ``/luma/generations``.

A generation comes back as one object, as a one-item array (the original proxy), wrapped as
``{code, message, data}`` by some resellers, or as only ``{task_id}`` from submit. ``state`` is
pending/processing/completed/failed; the video is ``video.url`` (or ``video.download_url``).
"""

from __future__ import annotations

from typing import Any

from bot.upstream.midjourney import data_uri
from bot.upstream.parsing import as_text
from bot.upstream.video.common import (
    GatewayAdapter,
    VideoRequest,
    VideoTask,
    get_json,
    is_url,
    obj_at,
    progress_of,
    require_task_id,
    status_of,
    submit_json,
    task_id_of,
    task_path,
    unexpected,
)

PATH = "/luma/generations"
Wrapped = dict | list


def generation(obj: Any) -> Any:
    """The generation object inside any of its wrappings."""
    for _ in range(3):
        if isinstance(obj, list):
            obj = obj[0] if obj else None
        elif isinstance(obj, dict) and "state" not in obj and isinstance(obj.get("data"), Wrapped):
            obj = obj["data"]
        else:
            break
    return obj


def parse_submit(obj: Any) -> str:
    return task_id_of(generation(obj)) or require_task_id(obj, "luma submit")


def parse_generation(obj: Any, task_id: str) -> VideoTask:
    found = generation(obj)
    if not isinstance(found, dict):
        raise unexpected("luma generation", obj)
    status = status_of(found.get("state") or found.get("status"))
    url = None
    if status == "succeeded":
        url = next(
            (
                as_text(u).strip()
                for u in (obj_at(found, "video", "url"), obj_at(found, "video", "download_url"))
                if is_url(u)
            ),
            None,
        )
    error = ""
    if status == "failed":
        error = as_text(found.get("failure_reason")) or as_text(obj_at(found, "detail", "reason"))
    progress = {"pending": 10, "running": 50}.get(status, 0)
    return VideoTask(
        id=task_id,
        status=status,
        progress=progress_of(found.get("progress", progress), status),
        url=url,
        error=(error or ("failed" if status == "failed" else "")).strip(),
    )


class LumaClient(GatewayAdapter):
    name = "luma"

    async def submit(self, request: VideoRequest) -> str:
        body: dict[str, Any] = {
            "user_prompt": request.prompt,
            "aspect_ratio": request.aspect,
            "expand_prompt": True,
            "loop": False,
        }
        if image := request.image_data_uri():
            body["image_url"] = image
        if request.end_image:
            body["image_end_url"] = data_uri(request.end_image)
        return parse_submit(await submit_json(self._client, PATH, json=body))

    async def fetch(self, task_id: str) -> VideoTask | None:
        obj = await get_json(self._client, task_path(PATH, task_id))
        return None if obj is None else parse_generation(obj, task_id)
