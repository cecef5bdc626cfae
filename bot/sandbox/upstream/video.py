"""Sandbox video routes (upstream-api.md §4): Kling, Luma, Runway, Sora and the unified route.

A task's state follows the time since its submit, computed when it is asked for (no background
tasks): queued for ``durations[0]`` seconds, running through ``progress_steps`` for
``durations[1]``, then done, or failed when ``fail_next`` was set at submit. Which answer form each
API uses is a knob, as real gateways differ: ``kling_form`` (Kling's own body or new-api's
re-wrap), ``luma_form`` (one object or a one-item array) and ``unified_form`` (the URL in
``result_url``, as the gateway's key-protected proxy URL, in ``fail_reason``, only inside the raw
upstream body, or Veo's ``data``). Finished videos are served as small MP4 files from the public
``/video/files/…`` (a CDN) and from Sora's ``/v1/videos/{id}/content``, which needs the key.
A unified task for one of ``image_models`` makes a PNG instead, served the same ways.
"""

from __future__ import annotations

import itertools
import struct
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bot.sandbox.upstream.frames import unopenable_frame
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.wire import json_response, openai_error, task_error

Phase = Literal["queued", "running", "done", "failed"]
KLING_DURATIONS = ("5", "10")
KLING_ASPECTS = ("16:9", "9:16", "1:1")
KLING_MODES = ("std", "pro")
KLING_SOUNDS = ("on", "off")
LUMA_ASPECTS = ("16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21")
RUNWAY_VERSION = "2024-11-06"
RUNWAY_RATIOS = {"gen3a_turbo": ("1280:768", "768:1280")}
SORA_MODELS = ("sora-2", "sora-2-pro")
SORA_SECONDS = ("4", "8", "12")
SORA_SIZES = ("1280x720", "720x1280", "1024x1792", "1792x1024")
# Each API's words for the phases of a task: queued, running, done, failed.
_PHASES = ("queued", "running", "done", "failed")
KLING_STATUS = dict(zip(_PHASES, ("submitted", "processing", "succeed", "failed"), strict=True))
LUMA_STATUS = dict(zip(_PHASES, ("pending", "processing", "completed", "failed"), strict=True))
RUNWAY_STATUS = dict(zip(_PHASES, ("PENDING", "RUNNING", "SUCCEEDED", "FAILED"), strict=True))
OPENAI_STATUS = dict(zip(_PHASES, ("queued", "in_progress", "completed", "failed"), strict=True))
VEO_STATUS = dict(zip(_PHASES, ("queued", "processing", "succeeded", "failed"), strict=True))
TASK_STATUS = dict(zip(_PHASES, ("QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE"), strict=True))


@dataclass(slots=True)
class SandboxVideoTask:
    id: str
    api: str  # kling, luma, runway, sora, unified
    model: str
    prompt: str
    started: float
    durations: tuple[float, float]
    steps: list[int]
    request: dict[str, Any]  # the submitted body (Sora's multipart fields too)
    kind: str = ""  # Kling's route: text2video or image2video
    fail_reason: str | None = None
    never_finish: bool = False
    linkless_polls: int = 0  # polls answered "completed" without a link so far (Luma)


@dataclass(slots=True)
class VideoState:
    """Script for the video routes. Timing knobs are copied into a task when it is submitted."""

    durations: tuple[float, float] = (0.05, 0.3)  # queued, running
    progress_steps: list[int] = field(default_factory=lambda: [30, 60, 90])
    kling_form: Literal["native", "newapi"] = "native"
    luma_form: Literal["object", "array"] = "object"
    unified_form: Literal["result_url", "proxy", "fail_reason", "raw", "veo"] = "result_url"
    fail_next: str | None = None  # the next task submitted fails with this reason
    never_finish: bool = False  # tasks submitted from now on keep running
    video_bytes: int | None = None  # pad served MP4 files to this size
    # Result links name this host (same server, another origin, like a CDN): the bot must not
    # send the key there. None = the gateway's own host.
    cdn_host: str | None = "localhost"
    # Models the unified route treats as image models (a PNG result rather than an MP4).
    image_models: tuple[str, ...] = ("flux-dev", "flux-schnell", "recraft-v3", "sd3.5-large")
    # How a task id the gateway does not know is answered: a JSON 404 (the proxies, Sora) or,
    # as stock new-api does, 400 {"code":"task_not_exist"} (upstream-api.md §7).
    unknown_task_style: Literal["404", "task_not_exist"] = "404"
    # A finished Luma generation reports ``completed`` with no link for this many polls first,
    # as resellers' Luma does (§7).
    luma_completed_without_link: int = 0
    # Gateway links (the unified route's proxy URL) are built from this site setting (new-api's
    # ServerAddress, by default http://localhost:3000); None = the request's own host.
    server_address: str | None = None
    clock: Callable[[], float] = time.monotonic
    tasks: dict[str, SandboxVideoTask] = field(default_factory=dict)
    submits: Counter[str] = field(default_factory=Counter)  # accepted submits by API
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def new_task(
        self, api: str, model: str, prompt: str, request: dict[str, Any], **kw: Any
    ) -> SandboxVideoTask:
        number = next(self._ids)
        if api in ("luma", "runway"):
            task_id = str(uuid.UUID(int=number))
        elif api == "kling" and self.kling_form == "native":
            task_id = str(867_200_000_000 + number)
        else:
            task_id = f"task_sandbox{number:06d}"
        task = SandboxVideoTask(
            id=task_id, api=api, model=model, prompt=prompt, started=self.clock(),
            durations=self.durations, steps=list(self.progress_steps) or [50], request=request,
            fail_reason=self.fail_next, never_finish=self.never_finish, **kw,
        )  # fmt: skip
        self.fail_next = None
        self.tasks[task.id] = task
        self.submits[api] += 1
        return task

    def forget(self, task_id: str) -> None:
        """The gateway loses the task (its row deleted, a database restored): polls of it are
        answered as for an id it never had."""
        self.tasks.pop(task_id, None)

    def phase(self, task: SandboxVideoTask) -> tuple[Phase, int]:
        """``(phase, progress)`` at this moment."""
        elapsed = self.clock() - task.started
        queued, running = task.durations
        if elapsed < queued:
            return "queued", 0
        run = elapsed - queued
        if task.never_finish or run < running:
            step = int(run / running * len(task.steps)) if running > 0 else len(task.steps)
            return "running", task.steps[min(step, len(task.steps) - 1)]
        return ("failed", task.steps[-1]) if task.fail_reason is not None else ("done", 100)


VIDEO = web.AppKey("upstream_sandbox_video", VideoState)


def sandbox_mp4(seed: str, pad_to: int | None = None) -> bytes:
    """A small file of MP4 boxes (``ftyp`` then ``mdat``), grown to ``pad_to`` bytes if asked."""
    ftyp = b"ftyp" + b"isom" + struct.pack(">I", 0x200) + b"isommp41"
    head = struct.pack(">I", len(ftyp) + 4) + ftyp
    payload = seed.encode()
    payload += b"\x00" * max(0, (pad_to or 0) - len(head) - 8 - len(payload))
    return head + struct.pack(">I", len(payload) + 8) + b"mdat" + payload


def _file_url(state: VideoState, base: str, task: SandboxVideoTask) -> str:
    """The video on the "CDN": this server under another host name, so another origin."""
    scheme, _, host = base.partition("://")
    if state.cdn_host:
        host = f"{state.cdn_host}:{host.rpartition(':')[2]}"
    return f"{scheme}://{host}/video/files/{task.id}.{_suffix(state, task)}"


def _suffix(state: VideoState, task: SandboxVideoTask) -> str:
    return "png" if task.api == "unified" and task.model in state.image_models else "mp4"


def _seconds(task: SandboxVideoTask) -> str:
    body = task.request
    return str(body.get("duration") or body.get("seconds") or 5)


# --- answer bodies ---------------------------------------------------------------------------


def kling_native(state: VideoState, task: SandboxVideoTask, base: str) -> dict[str, Any]:
    phase, _ = state.phase(task)
    status = KLING_STATUS[phase]
    ms = int(time.time() * 1000)
    data: dict[str, Any] = {
        "task_id": task.id, "task_status": status, "created_at": ms, "updated_at": ms,
        "task_status_msg": task.fail_reason if phase == "failed" else "",
    }  # fmt: skip
    if phase == "done":
        url = _file_url(state, base, task)
        video = {"id": f"v-{task.id}", "url": url, "duration": _seconds(task)}
        data["task_result"] = {"videos": [video]}
    return {"code": 0, "message": "SUCCEED", "request_id": f"req-{task.id}", "data": data}


def envelope(state: VideoState, task: SandboxVideoTask, base: str) -> dict[str, Any]:
    """new-api's generic task envelope (unified route, and Kling re-wrapped)."""
    phase, progress = state.phase(task)
    url = _file_url(state, base, task)
    form = state.unified_form if task.api == "unified" else "result_url"
    if form == "veo":
        data: dict[str, Any] = {"task_id": task.id, "status": VEO_STATUS[phase], "format": "mp4"}
        if phase == "done":
            data["url"] = url
        if phase == "failed":
            data["error"] = task.fail_reason
        return {"code": "success", "message": "", "data": data}
    result_url = fail_reason = ""
    if phase == "failed":
        fail_reason = task.fail_reason or "failed"
    elif phase == "done" and form == "result_url":
        result_url = url
    elif phase == "done" and form == "proxy":
        site = (state.server_address or base).rstrip("/")
        result_url = f"{site}/v1/videos/{task.id}/content"
    elif phase == "done" and form == "fail_reason":
        fail_reason = url  # older builds kept the URL here on SUCCESS
    if task.api == "kling":
        raw: dict[str, Any] = kling_native(state, task, base)
    else:
        raw = {"id": f"up-{task.id}", "state": phase}
        if phase == "done":
            raw["output"] = {"video": {"uri": url}, "thumbnail": f"{base}/video/thumb.jpg"}
    status = TASK_STATUS[phase]
    shown = {"queued": "20%", "running": f"{progress}%"}.get(phase, "100%")
    now = int(time.time())
    return {
        "code": "success",
        "message": "",
        "data": {
            "task_id": task.id, "platform": task.api, "action": "textGenerate", "status": status,
            "progress": shown, "fail_reason": fail_reason, "result_url": result_url,
            "submit_time": now, "start_time": now, "finish_time": now, "data": raw,
        },
    }  # fmt: skip


def video_object(state: VideoState, task: SandboxVideoTask) -> dict[str, Any]:
    """OpenAI's video object (Sora, and new-api's answer to a Kling submit)."""
    phase, progress = state.phase(task)
    status = OPENAI_STATUS[phase]
    obj: dict[str, Any] = {
        "id": task.id, "task_id": task.id, "object": "video", "model": task.model,
        "status": status, "progress": 100 if phase == "done" else progress,
        "created_at": int(time.time()), "seconds": _seconds(task),
        "size": task.request.get("size", "1280x720"),
    }  # fmt: skip
    if phase == "failed":
        obj["error"] = {"code": "generation_failed", "message": task.fail_reason}
    return obj


def luma_object(state: VideoState, task: SandboxVideoTask, base: str) -> dict[str, Any]:
    phase, _ = state.phase(task)
    obj: dict[str, Any] = {
        "id": task.id, "prompt": task.prompt, "created_at": "2024-07-01T07:35:13.498660Z",
        "state": LUMA_STATUS[phase],
        "video": None, "liked": None, "estimate_wait_seconds": None,
    }  # fmt: skip
    if phase == "done" and task.linkless_polls < state.luma_completed_without_link:
        task.linkless_polls += 1  # "completed", but the link is not filled in yet
    elif phase == "done":
        obj["video"] = {
            "url": _file_url(state, base, task), "width": 1360, "height": 752,
            "thumbnail": f"{base}/video/thumb.jpg",
        }  # fmt: skip
    if phase == "failed":
        obj["failure_reason"] = task.fail_reason
    return obj


def runway_task(state: VideoState, task: SandboxVideoTask, base: str) -> dict[str, Any]:
    phase, progress = state.phase(task)
    obj: dict[str, Any] = {
        "id": task.id, "createdAt": "2024-11-06T10:00:00.000Z",
        "status": RUNWAY_STATUS[phase],
    }  # fmt: skip
    if phase == "running":
        obj["progress"] = progress / 100  # a fraction in Runway's API
    if phase == "done":
        obj["output"] = [_file_url(state, base, task)]
    if phase == "failed":
        obj["failure"], obj["failureCode"] = task.fail_reason, "INTERNAL.BAD_OUTPUT"
    return obj


# --- routes ----------------------------------------------------------------------------------


async def kling_submit(request: web.Request) -> web.Response:
    state, body = request.app[VIDEO], await _body(request)
    kind = request.match_info["kind"]
    problem = (
        "prompt is required" if not _str(body.get("prompt")) and kind == "text2video"
        else "model_name is required" if not _str(body.get("model_name"))
        else "duration must be \"5\" or \"10\"" if body.get("duration", "5") not in KLING_DURATIONS
        else "aspect_ratio is invalid" if body.get("aspect_ratio", "16:9") not in KLING_ASPECTS
        else "mode must be \"std\" or \"pro\"" if body.get("mode", "std") not in KLING_MODES
        else "sound must be \"on\" or \"off\"" if body.get("sound", "off") not in KLING_SOUNDS
        else "image must be a URL or bare base64"
        if kind == "image2video" and (_str(body.get("image")) or "data:").startswith("data:")
        else "image_tail is for image2video only" if "image_tail" in body and kind != "image2video"
        else "image_tail must be a URL or bare base64"
        if "image_tail" in body and (_str(body["image_tail"]) or "data:").startswith("data:")
        else ""
    ) or await unopenable_frame(body, ("image", "image_tail"))  # fmt: skip
    if problem:
        if state.kling_form == "native":
            return json_response({"code": 1201, "message": problem, "data": None}, status=400)
        return json_response(task_error("invalid_request", problem), status=400)
    task = state.new_task("kling", body["model_name"], _str(body.get("prompt")), body, kind=kind)
    if state.kling_form == "newapi":
        return json_response(video_object(state, task))
    return json_response(kling_native(state, task, _base(request)))


async def kling_fetch(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    task = _task(state, request, "kling")
    if task is None or task.kind != request.match_info["kind"]:
        return _unknown(state, task_error("task_not_exist", "task_not_exist"))
    if state.kling_form == "newapi":
        return json_response(envelope(state, task, _base(request)))
    return json_response(kling_native(state, task, _base(request)))


async def luma_submit(request: web.Request) -> web.Response:
    state, body = request.app[VIDEO], await _body(request)
    image, end = body.get("image_url"), body.get("image_end_url")
    problem = (
        "user_prompt is required" if not _str(body.get("user_prompt"))
        else "aspect_ratio is invalid" if body.get("aspect_ratio", "16:9") not in LUMA_ASPECTS
        else "image_url must be a URL or a data URI"
        if image is not None and not _str(image).startswith(("data:", "http"))
        else "image_end_url must be a URL or a data URI"
        if end is not None and not _str(end).startswith(("data:", "http"))
        else ""
    ) or await unopenable_frame(body, ("image_url", "image_end_url"))  # fmt: skip
    if problem:
        return json_response({"detail": {"reason": problem, "code": 1}}, status=400)
    task = state.new_task("luma", "luma", body["user_prompt"], body)
    return _luma_answer(state, luma_object(state, task, _base(request)), status=201)


async def luma_fetch(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    task = _task(state, request, "luma")
    if task is None:
        return _unknown(state, {"detail": {"reason": "generation not found", "code": 1}})
    return _luma_answer(state, luma_object(state, task, _base(request)))


def _luma_answer(state: VideoState, obj: dict[str, Any], status: int = 200) -> web.Response:
    return json_response([obj] if state.luma_form == "array" else obj, status=status)


async def runway_submit(request: web.Request) -> web.Response:
    state, body = request.app[VIDEO], await _body(request)
    ratios = RUNWAY_RATIOS.get(_str(body.get("model")), ())
    problem = (
        f"X-Runway-Version must be {RUNWAY_VERSION}"
        if request.headers.get("X-Runway-Version") != RUNWAY_VERSION
        else "model is invalid" if not ratios
        else "promptImage is required"
        if not _str(body.get("promptImage")).startswith(("data:image/", "http"))
        else "duration must be 5 or 10" if body.get("duration", 10) not in (5, 10)
        else f"ratio must be one of {', '.join(ratios)}" if body.get("ratio") not in ratios
        else ""
    ) or await unopenable_frame(body, ("promptImage",))  # fmt: skip
    if problem:
        return json_response({"error": problem}, status=400)
    task = state.new_task("runway", body["model"], _str(body.get("promptText")), body)
    return json_response({"id": task.id})


async def runway_fetch(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    task = _task(state, request, "runway")
    if task is None:
        return _unknown(state, {"error": "Task not found"})
    return json_response(runway_task(state, task, _base(request)))


async def sora_submit(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    if request.content_type == "multipart/form-data":
        body: dict[str, Any] = {}
        for name, value in (await request.post()).items():
            if isinstance(value, web.FileField):
                content = value.file.read()
                body[name] = {
                    "filename": value.filename, "content_type": value.content_type,
                    "size": len(content), "head": content[:8].hex(),
                }  # fmt: skip
            else:
                body[name] = str(value)
    else:
        body = await _body(request)
    problem = (
        "prompt is required" if not _str(body.get("prompt"))
        else "model is invalid" if body.get("model") not in SORA_MODELS
        else "seconds must be one of '4', '8', '12'" if body.get("seconds", "4") not in SORA_SECONDS
        else "size is invalid" if body.get("size", "1280x720") not in SORA_SIZES
        else ""
    )  # fmt: skip
    if problem:
        error = openai_error(problem, code="invalid_value", type="invalid_request_error")
        return json_response(error, status=400)
    task = state.new_task("sora", body["model"], body["prompt"], body)
    return json_response(video_object(state, task))


async def sora_fetch(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    task = _task(state, request, "sora")
    if task is None:
        return _unknown(state, openai_error("task_not_exist", code="task_not_exist"))
    return json_response(video_object(state, task))


async def content(request: web.Request) -> web.Response:
    """The gateway's video proxy: any finished task's MP4, for the key's owner only."""
    state = request.app[VIDEO]
    task = state.tasks.get(request.match_info["id"])
    if task is None:
        return json_response(openai_error("task_not_exist", code="task_not_exist"), status=404)
    phase, _ = state.phase(task)
    if phase != "done":
        shown = {"queued": "QUEUED", "running": "IN_PROGRESS"}.get(phase, "FAILURE")
        message = f"Task is not completed yet, current status: {shown}"
        error = openai_error(message, code=None, type="invalid_request_error")
        return json_response(error, status=400)
    return _mp4(state, task)


async def unified_submit(request: web.Request) -> web.Response:
    state, body = request.app[VIDEO], await _body(request)
    if not _str(body.get("model")) or not _str(body.get("prompt")):
        return json_response(task_error("invalid_request", "model and prompt are required"), 400)
    kling = _str(body.get("model")).lower().startswith("kling")
    if kling and _str(body.get("image")).startswith("data:"):
        # new-api hands ``image`` to a Kling channel unchanged, and Kling takes no data: URI.
        problem = "image must be a URL or bare base64"
        return json_response(task_error("invalid_request", problem), 400)
    if problem := await unopenable_frame(body, ("image",)):
        return json_response(task_error("invalid_request", problem), 400)
    task = state.new_task("unified", body["model"], body["prompt"], body)
    return json_response(video_object(state, task))


async def unified_fetch(request: web.Request) -> web.Response:
    state = request.app[VIDEO]
    task = _task(state, request, "unified")
    if task is None:
        return _unknown(state, task_error("task_not_exist", "task_not_exist"))
    return json_response(envelope(state, task, _base(request)))


async def files(request: web.Request) -> web.Response:
    """The public CDN the result URLs point at."""
    state = request.app[VIDEO]
    stem, _, suffix = request.match_info["name"].rpartition(".")
    task = state.tasks.get(stem)
    if task is None or state.phase(task)[0] != "done" or suffix != _suffix(state, task):
        raise web.HTTPNotFound()
    return _mp4(state, task)


# --- helpers ---------------------------------------------------------------------------------


def _mp4(state: VideoState, task: SandboxVideoTask) -> web.Response:
    """The task's result file: an MP4, or a PNG for an image model."""
    if _suffix(state, task) == "png":
        png = sandbox_png(task.id, False, state.video_bytes)
        return web.Response(body=png, content_type="image/png")
    return web.Response(body=sandbox_mp4(task.id, state.video_bytes), content_type="video/mp4")


def _unknown(state: VideoState, not_found: dict[str, Any]) -> web.Response:
    """The answer to a task id the gateway does not know, in the configured style."""
    if state.unknown_task_style == "task_not_exist":
        return json_response(task_error("task_not_exist", "task_not_exist"), status=400)
    return json_response(not_found, status=404)


def _task(state: VideoState, request: web.Request, api: str) -> SandboxVideoTask | None:
    task = state.tasks.get(request.match_info["id"])
    return task if task is not None and task.api == api else None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {}


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _base(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def setup(app: web.Application, state: VideoState) -> None:
    # Imported here: the server module imports this one to compose the app.
    from bot.sandbox.upstream.server import public

    app[VIDEO] = state
    app.router.add_post("/kling/v1/videos/{kind:text2video|image2video}", kling_submit)
    app.router.add_get("/kling/v1/videos/{kind:text2video|image2video}/{id}", kling_fetch)
    app.router.add_post("/luma/generations", luma_submit)
    app.router.add_get("/luma/generations/{id}", luma_fetch)
    app.router.add_post("/runwayml/v1/image_to_video", runway_submit)
    app.router.add_get("/runwayml/v1/tasks/{id}", runway_fetch)
    app.router.add_post("/v1/videos", sora_submit)
    app.router.add_get("/v1/videos/{id}", sora_fetch)
    app.router.add_get("/v1/videos/{id}/content", content)
    app.router.add_post("/v1/video/generations", unified_submit)
    app.router.add_get("/v1/video/generations/{id}", unified_fetch)
    app.router.add_get("/video/files/{name}", public(files))
