"""Midjourney video in the sandbox, as each real server serves it (upstream-api.md §7).

- ``POST /mj/submit/video`` (trueai-org's ``SubmitController.Video``, behind its EnableVideo
  setting: ``MidjourneyState.video_enabled``): ``prompt`` (required), ``image`` (the first
  frame, a link or a data URI), ``endImage``, ``motion`` low|high. ``taskId`` is only for
  ``action: "extend"`` of an earlier video; without it the proxy answers "任务类型错误". New-api
  relays the route (billed as ``mj_video``) after its own checks of a ``taskId`` (the task must
  exist and be finished: ``400 task_not_found`` / ``task_status_not_success``).
- trueai's ``/mj/submit/action`` turns Midjourney's own Animate buttons (``MJ::JOB::animate_*``)
  into a VIDEO task; new-api does not know them (``unknown_action``, see ``mj_buttons``).
- A finished video links its mp4s in ``videoUrl``, ``videoUrls`` and, copied, ``imageUrls``
  (trueai's TaskInfo); they are served by the sandbox's file host like other videos.

Where the sandbox is stricter than trueai, it says so: a new video without a first frame, or a
motion other than low or high, is refused (code 4) rather than sent on to Midjourney.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox.upstream.mj_prompts import read_images
from bot.sandbox.upstream.wire import json_response

VIDEO_ACTIONS = frozenset({"VIDEO", "VIDEO_EXTEND"})
MOTIONS = ("low", "high")
BATCH_SIZE = 4  # trueai's default batchSize: four clips per video task
ANIMATE_PREFIX = "MJ::JOB::animate_"


def proxy_action(proxy: str, custom_id: str) -> str | None:
    """The task a button starts on trueai's proxy beyond new-api's list: its Animate buttons."""
    return "VIDEO" if proxy == "trueai" and custom_id.startswith(ANIMATE_PREFIX) else None


def video_links(task_id: str, base_url: str) -> list[str]:
    """The finished clips, on the file host (another origin than the gateway, like MJ's CDN)."""
    scheme, _, host = base_url.partition("://")
    port = host.rpartition(":")[2] if ":" in host else ""
    cdn = f"{scheme}://localhost{':' + port if port else ''}"
    return [f"{cdn}/files/mj-video-{task_id}-{n}.mp4" for n in range(BATCH_SIZE)]


def video_fields(task: Any, status: str, base_url: str) -> dict[str, Any]:
    """What a finished VIDEO task adds to its task object (nothing for other tasks)."""
    if task.action not in VIDEO_ACTIONS or status != "SUCCESS":
        return {}
    links = video_links(task.id, base_url)
    items = [{"url": link, "thumbnail": ""} for link in links]
    # trueai: "ImageUrl itself is the video link", and imageUrls holds the same clips.
    return {"imageUrl": links[0], "videoUrl": links[0], "videoUrls": items, "imageUrls": items}


def _frame_problem(value: Any) -> bool:
    """A first or last frame the proxy cannot read (DataUrl.Parse: a link, or a data URI)."""
    if value in (None, ""):
        return False
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return False
    return not (isinstance(value, str) and read_images([value], "trueai"))


async def submit_video(request: web.Request) -> web.Response:
    # Imported here: the Midjourney routes module registers this one.
    from bot.sandbox.upstream.midjourney import _accept, _code, _refuse, _state_and_body, _str

    state, body = await _state_and_body(request)
    if state.proxy == "novicezk":
        raise web.HTTPNotFound()  # novicezk has no video
    task_id = _str(body.get("taskId"))
    if task_id and state.proxy == "gateway":
        # new-api's own checks before it relays: the task is the caller's, and finished.
        found = state.tasks.get(task_id)
        if found is None:
            return _refuse("task_not_found")
        if state.status(found)[0] != "SUCCESS":
            return _refuse("task_status_not_success")
    if not state.video_enabled:
        return _code(4, "视频功能未启用")
    prompt = _str(body.get("prompt"))
    if not prompt:
        return _code(4, "Prompt 不能为空")
    if _frame_problem(body.get("image")) or _frame_problem(body.get("endImage")):
        return _code(4, "base64格式错误")
    if body.get("motion", "low") not in MOTIONS:
        return _code(4, "motion must be low or high")  # the sandbox's own check
    if task_id:
        parent = state.tasks.get(task_id)
        if _str(body.get("action")) != "extend":
            return _code(4, "任务类型错误")
        if parent is None:
            refusal = {"code": 3, "description": "关联任务不存在或已失效", "result": None}
            return json_response({**refusal, "properties": {}}, status=404)
        if state.status(parent)[0] != "SUCCESS" or parent.action not in VIDEO_ACTIONS:
            return _code(4, "关联任务状态错误")
        return _accept(request, state, "VIDEO_EXTEND", prompt, parent_id=parent.id)
    if not body.get("image"):
        return _code(4, "image is required")  # the sandbox's own check: a video needs a frame
    return _accept(request, state, "VIDEO", prompt)
