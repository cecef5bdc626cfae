"""Kling through the gateway (upstream-api.md §4a): ``/kling/v1/videos/{text2video|image2video}``.

Gateways answer in one of two forms and this module takes both:
- Kling's own: ``{"code":0,"data":{"task_id","task_status","task_result":{"videos":[{url}]}}}``
  (``code`` other than 0 is an error, ``task_status`` is submitted/processing/succeed/failed);
- new-api's: submit answers an OpenAI video object (``object == "video"``), polling answers the
  generic task envelope of the unified route with the Kling body in ``data.data``.
Polling needs the route's kind, so the id this adapter hands out is ``"<kind>/<task id>"``.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.errors import SubmitRejected, UpstreamFailure
from bot.upstream.parsing import as_text
from bot.upstream.video.common import (
    GatewayAdapter,
    VideoRequest,
    VideoTask,
    get_json,
    obj_at,
    progress_of,
    require_task_id,
    status_of,
    submit_json,
    task_path,
)
from bot.upstream.video.unified import parse_envelope

log = logging.getLogger(__name__)

KINDS = ("text2video", "image2video")


def _native_error(obj: Any) -> str | None:
    """Kling's own error: a numeric ``code`` other than 0 (HTTP 200 on some gateways)."""
    code = obj.get("code") if isinstance(obj, dict) else None
    if isinstance(code, int) and not isinstance(code, bool) and code != 0:
        return as_text(obj.get("message")).strip() or f"Kling code {code}"
    return None


def parse_submit(obj: Any) -> str:
    """The task id of a submit answer in either form."""
    if (error := _native_error(obj)) is not None:
        raise SubmitRejected(error, status=200, code=str(obj["code"]))
    native = as_text(obj_at(obj, "data", "task_id")).strip()
    return native or require_task_id(obj, "kling submit")


def parse_task(obj: Any, task_id: str) -> VideoTask:
    """A polled task in either form."""
    if (error := _native_error(obj)) is not None:
        raise UpstreamFailure(error, status=200, code=str(obj["code"]))
    data = obj.get("data") if isinstance(obj, dict) else None
    if isinstance(data, dict) and "task_status" in data:
        return parse_native(data, task_id)
    # new-api's envelope; without a result_url its data.data (Kling's own body) has the URL.
    return parse_envelope(obj, task_id)


def parse_native(data: dict[str, Any], task_id: str) -> VideoTask:
    status = status_of(data.get("task_status"))
    progress = {"pending": 10, "running": 50}.get(status, 0)
    return VideoTask(
        id=task_id,
        status=status,
        progress=progress_of(data.get("progress", progress), status),
        url=native_url(data) if status == "succeeded" else None,
        error=as_text(data.get("task_status_msg")).strip() if status == "failed" else "",
    )


def native_url(data: Any) -> str | None:
    url = as_text(obj_at(data, "task_result", "videos", 0, "url")).strip()
    return url or None


class KlingClient(GatewayAdapter):
    name = "kling"

    async def submit(self, request: VideoRequest) -> str:
        kind = "image2video" if request.image else "text2video"
        body: dict[str, Any] = {
            "model_name": request.model,
            "prompt": request.prompt,
            "mode": request.mode or "std",
            "duration": str(request.duration),  # "5" or "10": a string in Kling's API
            "aspect_ratio": request.aspect,
        }
        if request.audio is not None:
            body["sound"] = "on" if request.audio else "off"
        if image := request.image_base64():
            body["image"] = image  # Kling takes bare base64, without a data: prefix
            if tail := request.end_image_base64():
                body["image_tail"] = tail  # the last frame: image to video only
        obj = await submit_json(self._client, f"/kling/v1/videos/{kind}", json=body)
        return f"{kind}/{parse_submit(obj)}"

    async def fetch(self, task_id: str) -> VideoTask | None:
        kind, _, upstream_id = task_id.partition("/")
        if kind not in KINDS or not upstream_id:
            log.warning("not a Kling task id: %r", task_id)
            return None  # left to its deadline
        obj = await get_json(self._client, task_path(f"/kling/v1/videos/{kind}", upstream_id))
        return None if obj is None else parse_task(obj, task_id)
