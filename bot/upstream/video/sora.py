"""Sora in OpenAI's own video format (upstream-api.md §4d): ``/v1/videos``.

The finished video is streamed by ``GET /v1/videos/{id}/content``, which needs the API key: the
task's ``url`` then points at the gateway and ``UpstreamClient.download`` sends the key there
(and only there). Channels that are not Sora set ``metadata.url`` to a plain link instead.
"""

from __future__ import annotations

from typing import Any

import aiohttp

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
    task_path,
    unexpected,
)

PATH = "/v1/videos"
# Aspect ratios as the ``WxH`` sizes OpenAI's video API takes; a size passes through as is.
SIZES = {"16:9": "1280x720", "9:16": "720x1280", "1:1": "1024x1024"}


def content_path(task_id: str) -> str:
    return f"{task_path(PATH, task_id)}/content"


def parse_video_object(obj: Any, task_id: str, *, content_url: str | None) -> VideoTask:
    """An OpenAI video object; ``content_url`` is where a finished video without
    ``metadata.url`` is downloaded from."""
    if not isinstance(obj, dict):
        raise unexpected("video object", obj)
    status = status_of(obj.get("status"))
    url = None
    if status == "succeeded":
        link = obj_at(obj, "metadata", "url")
        url = as_text(link).strip() if is_url(link) else content_url
    error = ""
    if status == "failed":
        error = as_text(obj_at(obj, "error", "message")) or as_text(obj.get("error")) or "failed"
    return VideoTask(
        id=task_id,
        status=status,
        progress=progress_of(obj.get("progress"), status),
        url=url,
        error=error.strip(),
    )


class SoraClient(GatewayAdapter):
    name = "sora"

    async def submit(self, request: VideoRequest) -> str:
        fields = {
            "model": request.model,
            "prompt": request.prompt,
            "seconds": str(request.duration),  # a string in this API
            "size": SIZES.get(request.aspect, request.aspect),
        }
        if request.image:
            # The reference image goes as a file, which needs multipart.
            form = aiohttp.FormData()
            for key, value in fields.items():
                form.add_field(key, value)
            form.add_field(
                "input_reference",
                request.image,
                filename="reference." + request.image_type().rsplit("/", 1)[-1],
                content_type=request.image_type(),
            )
            obj = await submit_json(self._client, PATH, data=form)
        else:
            obj = await submit_json(self._client, PATH, json=fields)
        return require_task_id(obj, "sora submit")

    async def fetch(self, task_id: str) -> VideoTask | None:
        obj = await get_json(self._client, task_path(PATH, task_id))
        if obj is None:
            return None
        return parse_video_object(
            obj, task_id, content_url=self._client.url_for(content_path(task_id))
        )
