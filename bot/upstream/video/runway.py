"""Runway's own API passed through the gateway (upstream-api.md §4c): ``/runwayml/v1``.

Image to video only (``promptImage`` is required). Every call carries ``X-Runway-Version``.
A task's ``progress`` is a fraction (0–1) and its video is ``output[0]``.
"""

from __future__ import annotations

from typing import Any

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

VERSION_HEADERS = {"X-Runway-Version": "2024-11-06"}
# Aspect ratios as Runway's pixel ratios: Gen-3 Alpha Turbo makes two, later models more.
GEN3_RATIOS = {"16:9": "1280:768", "9:16": "768:1280"}
RATIOS = {
    "16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960",
    "4:3": "1104:832", "3:4": "832:1104", "21:9": "1584:672",
}  # fmt: skip


def ratio_for(model: str, aspect: str) -> str:
    """Runway's ``ratio`` for an aspect; a pixel ratio (``1280:768``) passes through."""
    table = GEN3_RATIOS if model.startswith("gen3") else RATIOS
    return table.get(aspect, aspect)


def parse_task(obj: Any, task_id: str) -> VideoTask:
    if not isinstance(obj, dict):
        raise unexpected("runway task", obj)
    status = status_of(obj.get("status"))
    output = obj.get("output")
    url = None
    if status == "succeeded":
        first = obj_at(output, 0) if isinstance(output, list) else output
        url = as_text(first).strip() if is_url(first) else None
    error = ""
    if status == "failed":
        error = as_text(obj.get("failure")) or as_text(obj.get("failureCode")) or "failed"
    return VideoTask(
        id=task_id,
        status=status,
        progress=progress_of(obj.get("progress"), status, fraction=True),
        url=url,
        error=error.strip(),
    )


class RunwayClient(GatewayAdapter):
    name = "runway"

    async def submit(self, request: VideoRequest) -> str:
        body: dict[str, Any] = {
            "model": request.model,
            "promptImage": request.image_data_uri(),
            "promptText": request.prompt,
            "duration": request.duration,
            "ratio": ratio_for(request.model, request.aspect),
        }
        obj = await submit_json(
            self._client, "/runwayml/v1/image_to_video", json=body, headers=VERSION_HEADERS
        )
        return require_task_id(obj, "runway submit")

    async def fetch(self, task_id: str) -> VideoTask | None:
        path = task_path("/runwayml/v1/tasks", task_id)
        obj = await get_json(self._client, path, headers=VERSION_HEADERS)
        return None if obj is None else parse_task(obj, task_id)
