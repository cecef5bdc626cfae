"""Sandbox Midjourney routes (upstream-api.md §2): the task clock and the submits.

Task objects and the routes that read them are in ``mj_tasks``; video in ``mj_video``.

A task's status follows the time since it started running, computed when it is fetched (no
background tasks): NOT_START → SUBMITTED → IN_PROGRESS (through ``progress_steps``) → SUCCESS,
or FAILURE when ``fail_next`` was set. Two kinds of refusal are modelled, as on a real gateway:
new-api's own checks answer HTTP 400 in the Midjourney shape (``task_status_not_success``,
``unknown_action:<id>``, ``prompt_is_required``…); the proxy's answer passes through under HTTP
200 with its code (4 bad input, 23 queue full, 24 banned prompt).
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from bot.sandbox.upstream.mj_buttons import action_name, mask_problem
from bot.sandbox.upstream.mj_direct import change
from bot.sandbox.upstream.mj_prompts import PromptReading, Upload, read_images, read_prompt
from bot.sandbox.upstream.mj_tools import image_seed, swap_face
from bot.sandbox.upstream.mj_video import proxy_action, submit_video
from bot.sandbox.upstream.wire import json_response, mj_error

SPEED_PREFIXES = ("", "/mj-fast", "/mj-relax", "/mj-turbo")
GRID_BUTTON_COUNT = 9
_HASH_NAMESPACE = uuid.UUID("6f1c3b1e-6d1a-4c5e-9f57-2b8d1f6a0c11")
_TASK_ID_BASE = 1_712_345_678_900_000
# Actions that open a remix modal when ``remix`` is on (answered with code 1, status MODAL).
_REMIX_ACTIONS = frozenset({"VARIATION", "LOW_VARIATION", "HIGH_VARIATION", "REROLL", "PAN"})


@dataclass(slots=True)
class SandboxMJTask:
    id: str
    action: str
    prompt: str
    started: float  # state.clock() when it began running (a modal confirmation resets it)
    submit_ms: int
    durations: tuple[float, float, float]
    steps: list[int]
    bot_type: str = "MID_JOURNEY"
    custom_id: str = ""
    parent_id: str = ""
    mode: str = ""  # "fast", "relax", "turbo" from the path prefix; "" without one
    fail_reason: str | None = None
    never_finish: bool = False
    awaiting_modal: bool = False
    mask: str | None = None
    # An /imagine's image prompts (their upload links) and its parameters as Midjourney read
    # them; ``refused`` is Midjourney's failReason for parameters it cannot take.
    uploads: list[str] = field(default_factory=list)
    reading: PromptReading | None = None
    refused: str | None = None

    @property
    def hash(self) -> str:
        return str(uuid.uuid5(_HASH_NAMESPACE, self.id))


@dataclass(slots=True)
class MidjourneyState:
    """Script for the Midjourney routes. Timing knobs are copied into a task when it starts."""

    durations: tuple[float, float, float] = (0.05, 0.05, 0.3)  # NOT_START, SUBMITTED, IN_PROGRESS
    progress_steps: list[int] = field(default_factory=lambda: [10, 45, 80])
    banned_words: set[str] = field(default_factory=lambda: {"gore"})
    queue_full: bool = False  # submits answer code 23
    queued: int = 0  # > 0: submits answer code 22 with this numberOfQueues
    fail_next: str | None = None  # the next task to run ends in FAILURE with this failReason
    never_finish: bool = False  # tasks started from now on stay IN_PROGRESS
    modal_actions: tuple[str, ...] = ("MJ::Inpaint::", "MJ::CustomZoom::")  # answer code 21
    remix: bool = False  # variations/rerolls/pans answer code 1 and wait in status MODAL
    blank_status: bool = False  # new-api before its first poll: status "" instead of NOT_START
    image_bytes: int | None = None  # pad result PNGs to exactly this size
    # Gateways as they really are (upstream-api.md §7). ``current_buttons``: upscales carry
    # today's Animate and ❤️ buttons too, which new-api's action route refuses.
    current_buttons: bool = False
    # Result links are built from this site setting (new-api's ServerAddress, by default
    # http://localhost:3000) instead of the request's own host; None = the request's host.
    server_address: str | None = None
    # Which proxy answers /mj: "gateway" (new-api), or midjourney-proxy reached directly,
    # "trueai" or "novicezk" (see ``mj_direct``).
    proxy: Literal["gateway", "trueai", "novicezk"] = "gateway"
    # The versions a prompt that names none runs on (Midjourney's and Niji's defaults).
    default_version: str = "7"
    niji_version: str = "6"
    uploads: dict[str, Upload] = field(default_factory=dict)  # image prompts, by file name
    # InsightFace set up behind the proxy (trueai needs a Replicate token); off: "服务不支持".
    face_swap: bool = True
    # trueai's EnableVideo: /mj/submit/video answers "视频功能未启用" when off (see mj_video).
    video_enabled: bool = True
    # Seed lookups fail with this reason (Midjourney's bot never sent the seed); see mj_tools.
    seed_error: str | None = None
    clock: Callable[[], float] = time.monotonic
    tasks: dict[str, SandboxMJTask] = field(default_factory=dict)
    submits: Counter[str] = field(default_factory=Counter)  # accepted submits by action
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def new_task(self, action: str, prompt: str, **kw: Any) -> SandboxMJTask:
        task = SandboxMJTask(
            id=str(_TASK_ID_BASE + next(self._ids)),
            action=action,
            prompt=prompt,
            started=self.clock(),
            submit_ms=int(time.time() * 1000),
            durations=self.durations,
            steps=list(self.progress_steps) or [50],
            never_finish=self.never_finish,
            **kw,
        )
        self.tasks[task.id] = task
        return task

    def start(self, task: SandboxMJTask) -> None:
        """Begin (or, after a modal, restart) the clock; this is when ``fail_next`` is used."""
        task.started = self.clock()
        task.awaiting_modal = False
        if task.refused is not None:
            task.fail_reason = task.refused  # Midjourney's own refusal; fail_next stays
        else:
            task.fail_reason, self.fail_next = self.fail_next, None

    def status(self, task: SandboxMJTask) -> tuple[str, int]:
        """``(status, progress)`` at this moment."""
        if task.awaiting_modal:
            return "MODAL", 0
        elapsed = self.clock() - task.started
        wait, submitted, running = task.durations
        if elapsed < wait:
            return ("" if self.blank_status else "NOT_START"), 0
        if elapsed < wait + submitted:
            return "SUBMITTED", 0
        run = elapsed - wait - submitted
        if task.never_finish or run < running:
            step = int(run / running * len(task.steps)) if running > 0 else len(task.steps)
            return "IN_PROGRESS", task.steps[min(step, len(task.steps) - 1)]
        if task.fail_reason is not None:
            return "FAILURE", task.steps[-1]
        return "SUCCESS", 100

    def banned_word(self, prompt: str) -> str | None:
        for word in sorted(self.banned_words):
            if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", prompt, re.IGNORECASE):
                return word
        return None


MIDJOURNEY = web.AppKey("upstream_sandbox_midjourney", MidjourneyState)


# --- submit routes ---------------------------------------------------------------------------


async def imagine(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _refuse("prompt_is_required")
    images = read_images(body.get("base64Array"), state.proxy)
    if images is None:
        return _code(4, "base64格式错误")
    bot_type = _bot_type(body)

    def uploaded(task: SandboxMJTask) -> None:
        # The proxy uploads the image prompts and puts their links in front of the prompt.
        for n, image in enumerate(images):
            name = f"{task.id}-{n}.{image.content_type.rsplit('/', 1)[-1]}"
            if not image.url:
                state.uploads[name] = image
            task.uploads.append(image.url or f"{_base_url(request)}/mj/upload/{name}")
        task.prompt = " ".join([*task.uploads, task.prompt])
        task.reading = read_prompt(
            prompt,
            niji_bot=bot_type == "NIJI_JOURNEY",
            default=state.default_version,
            niji_default=state.niji_version,
        )
        task.refused = task.reading.problem

    return _accept(request, state, "IMAGINE", prompt, bot_type=bot_type, setup=uploaded)


async def action(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    if state.proxy == "novicezk":
        raise web.HTTPNotFound()  # novicezk has no action route, only /mj/submit/change
    task_id, custom_id = _str(body.get("taskId")), _str(body.get("customId"))
    if not task_id:
        return _refuse("task_id_is_required")
    if not custom_id:
        return _refuse("custom_id_is_required")
    name = action_name(custom_id) or proxy_action(state.proxy, custom_id)
    if name is None:
        return _refuse(f"unknown_action:{custom_id}")
    parent = state.tasks.get(task_id)
    if parent is None:
        return _refuse("task_not_found")
    if state.status(parent)[0] != "SUCCESS":
        return _refuse("task_status_not_success")
    # Imported here: the task objects module imports this one.
    from bot.sandbox.upstream.mj_tasks import buttons_for

    if custom_id not in {b["customId"] for b in buttons_for(parent, state)}:
        return _refuse(f"unknown_action:{custom_id}")
    if custom_id.startswith(state.modal_actions):
        modal = state.new_task(name, parent.prompt, custom_id=custom_id, parent_id=parent.id)
        modal.awaiting_modal = True
        state.submits[name] += 1
        return json_response(
            {
                "code": 21,
                "description": "Waiting for window confirm",
                "result": modal.id,
                "properties": {"finalPrompt": parent.prompt, "remix": True},
            }
        )
    remix = state.remix and name in _REMIX_ACTIONS
    return _accept(
        request,
        state,
        name,
        parent.prompt,
        custom_id=custom_id,
        parent_id=parent.id,
        bot_type=parent.bot_type,
        hold_for_modal=remix,
    )


async def modal(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    task_id = _str(body.get("taskId"))
    if not task_id:
        return _refuse("task_id_is_required")
    task = state.tasks.get(task_id)
    if task is None:
        return _refuse("task_not_found")
    if not task.awaiting_modal:
        return _code(4, "task is not waiting for a modal")
    prompt = _str(body.get("prompt")) or task.prompt
    if (word := state.banned_word(prompt)) is not None:
        return _banned(prompt, word)
    if state.queue_full:
        return _code(23, "队列已满，请稍后尝试")
    mask = _str(body.get("maskBase64"))
    if task.action == "INPAINT" and (problem := mask_problem(mask)):
        return _code(4, problem)  # the proxy fails an inpaint without a fitting mask
    task.prompt = prompt
    task.mask = mask or None
    state.start(task)
    state.submits["MODAL"] += 1
    return _accepted(state, task)


async def blend(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    images = body.get("base64Array")
    if not isinstance(images, list) or not 2 <= len(images) <= 5:
        return _code(4, "base64List参数错误")
    if not all(_is_data_uri(i) for i in images):
        return _code(4, "base64格式错误")
    if body.get("dimensions", "SQUARE") not in ("PORTRAIT", "SQUARE", "LANDSCAPE"):
        return _code(4, "dimensions参数错误")
    return _accept(request, state, "BLEND", "", bot_type=_bot_type(body))


async def describe(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    if not _is_data_uri(body.get("base64")):
        return _code(4, "base64参数错误")
    return _accept(request, state, "DESCRIBE", "", bot_type=_bot_type(body))


async def shorten(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return _code(4, "prompt不能为空")
    return _accept(request, state, "SHORTEN", prompt, bot_type=_bot_type(body))


def _accept(
    request: web.Request,
    state: MidjourneyState,
    name: str,
    prompt: str,
    *,
    hold_for_modal: bool = False,
    setup: Callable[[SandboxMJTask], None] | None = None,
    **kw: Any,
) -> web.Response:
    if prompt and (word := state.banned_word(prompt)) is not None:
        return _banned(prompt, word)
    if state.queue_full:
        return _code(23, "队列已满，请稍后尝试")
    mode = request.path.split("/mj/", 1)[0].removeprefix("/mj-")
    task = state.new_task(name, prompt, mode=mode, **kw)
    if setup is not None:
        setup(task)
    if hold_for_modal:
        task.awaiting_modal = True
    else:
        state.start(task)
    state.submits[name] += 1
    return _accepted(state, task)


def _accepted(state: MidjourneyState, task: SandboxMJTask) -> web.Response:
    if state.queued > 0:
        return json_response(
            {
                "code": 22,
                "description": f"排队中，前面还有{state.queued}个任务",
                "result": task.id,
                "properties": {"numberOfQueues": state.queued, "discordInstanceId": "sandbox"},
            }
        )
    return json_response(
        {"code": 1, "description": "提交成功", "result": task.id, "properties": {}}
    )


# --- helpers ---------------------------------------------------------------------------------


async def _state_and_body(request: web.Request) -> tuple[MidjourneyState, dict[str, Any]]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return request.app[MIDJOURNEY], body if isinstance(body, dict) else {}


def _refuse(description: str) -> web.Response:
    """new-api's own refusal: HTTP 400, Midjourney shape, code 4."""
    return json_response(mj_error(4, description), status=400)


def _code(code: int, description: str) -> web.Response:
    """The proxy's refusal passed through under HTTP 200."""
    return json_response(
        {"code": code, "description": description, "result": None, "properties": {}}
    )


def _banned(prompt: str, word: str) -> web.Response:
    return json_response(
        {
            "code": 24,
            "description": "可能包含敏感词",
            "result": None,
            "properties": {"promptEn": prompt, "bannedWord": word},
        }
    )


def _bot_type(body: dict[str, Any]) -> str:
    return "NIJI_JOURNEY" if body.get("botType") == "NIJI_JOURNEY" else "MID_JOURNEY"


def _is_data_uri(value: Any) -> bool:
    """A data URI whose base64 decodes (the proxies refuse the rest with code 4)."""
    return isinstance(value, str) and bool(read_images([value], "gateway"))


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _base_url(request: web.Request) -> str:
    """Where result links point: the configured ServerAddress, else this request's host."""
    address = request.app[MIDJOURNEY].server_address
    return address.rstrip("/") if address else f"{request.scheme}://{request.host}"


def setup(app: web.Application, state: MidjourneyState) -> None:
    # Imported here: the server module imports this one to compose the app, and the task
    # objects module imports this one for its state.
    from bot.sandbox.upstream.mj_tasks import fetch, image, list_by_condition, upload
    from bot.sandbox.upstream.server import public

    app[MIDJOURNEY] = state
    for prefix in SPEED_PREFIXES:
        for kind, handler in (
            ("imagine", imagine),
            ("action", action),
            ("modal", modal),
            ("blend", blend),
            ("describe", describe),
            ("shorten", shorten),
            ("video", submit_video),
        ):
            app.router.add_post(f"{prefix}/mj/submit/{kind}", handler)
        app.router.add_post(f"{prefix}/mj/submit/change", change)
        app.router.add_get(f"{prefix}/mj/task/{{id}}/fetch", fetch)
        app.router.add_get(f"{prefix}/mj/task/{{id}}/image-seed", image_seed)
        app.router.add_post(f"{prefix}/mj/insight-face/swap", swap_face)
        app.router.add_post(f"{prefix}/mj/task/list-by-condition", list_by_condition)
    app.router.add_get("/mj/image/{id}", public(image))
    app.router.add_get("/mj/upload/{name}", public(upload))
