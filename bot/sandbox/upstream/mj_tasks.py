"""The sandbox's Midjourney task objects and the routes that read them (upstream-api.md §2).

A task object is built when it is asked for, from the task's clock (``MidjourneyState.status``):
``/mj/task/{id}/fetch``, ``/mj/task/list-by-condition``, and the public result image
``/mj/image/{id}`` (a preview while it runs). A VIDEO task's links come from ``mj_video``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.sandbox.upstream.midjourney import (
    MIDJOURNEY,
    MidjourneyState,
    SandboxMJTask,
    _base_url,
    _refuse,
    _state_and_body,
)
from bot.sandbox.upstream.mj_buttons import current_buttons, grid_buttons, upscale_buttons
from bot.sandbox.upstream.mj_direct import strip_buttons
from bot.sandbox.upstream.mj_tools import NO_SEED_ACTIONS
from bot.sandbox.upstream.mj_video import VIDEO_ACTIONS, video_fields
from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.wire import json_response, listed


def buttons_for(task: SandboxMJTask, state: MidjourneyState | None = None) -> list[dict[str, Any]]:
    if task.action in NO_SEED_ACTIONS:  # no Midjourney message: no buttons either
        return []
    if task.action in VIDEO_ACTIONS:  # the sandbox offers no Extend under a video
        return []
    if task.action != "UPSCALE":
        return grid_buttons(task.hash)
    extra = current_buttons(task.hash) if state is not None and state.current_buttons else []
    return [*upscale_buttons(task.hash), *extra]


def describe_text(task: SandboxMJTask) -> str:
    """Four prompts as the Midjourney bot's embed has them: keycap numbers, linked artists."""
    tag = task.id[-4:]
    return "\n\n".join(
        f"{n}\ufe0f\u20e3 sandbox scene {tag} number {n}, soft light, in the style of "
        f"[Sandbox Artist {n}](https://s.mj.run/sandbox{n}) --ar 1:1"
        for n in range(1, 5)
    )


def shorten_text(task: SandboxMJTask) -> str:
    """Midjourney's /shorten embed: the prompt's weighty tokens, then five shorter options
    (keycap numbers), the shortest last."""
    words = task.prompt.split()
    options = [" ".join(words[: max(1, len(words) * n // 5)]) for n in range(5, 0, -1)]
    return (
        "**IMPORTANT TOKENS**\n"
        + " ".join(words[:3])
        + "\n\n**SHORTENED OPTIONS**\n"
        + ("\n\n".join(f"{n}\ufe0f\u20e3 {option}" for n, option in enumerate(options, 1)))
    )


def task_json(state: MidjourneyState, task: SandboxMJTask, base_url: str) -> dict[str, Any]:
    status, progress = state.status(task)
    image = f"{base_url}/mj/image/{task.id}"
    image_url = {"IN_PROGRESS": f"{image}?rand={progress}", "SUCCESS": image}.get(status, "")
    done = status == "SUCCESS"
    prompt = (
        describe_text(task) if task.action == "DESCRIBE" and done
        else shorten_text(task) if task.action == "SHORTEN" and done
        else task.prompt
    )  # fmt: skip
    elapsed_ms = int((state.clock() - task.started) * 1000)
    wait_ms = int(sum(task.durations[:2]) * 1000)
    terminal = status in ("SUCCESS", "FAILURE")
    return {
        "id": task.id,
        "action": task.action,
        "customId": task.custom_id,
        "botType": task.bot_type,
        "prompt": prompt,
        "promptEn": prompt,
        "description": "提交成功",
        "state": "",
        "submitTime": task.submit_ms,
        "startTime": task.submit_ms + wait_ms if status in ("IN_PROGRESS", "SUCCESS") else 0,
        "finishTime": task.submit_ms + elapsed_ms if terminal else 0,
        "imageUrl": image_url,
        "videoUrl": "",
        "videoUrls": None,
        "status": status,
        "progress": f"{progress}%",
        "failReason": (task.fail_reason or "") if status == "FAILURE" else "",
        "buttons": buttons_for(task, state) if status == "SUCCESS" else [],
        "maskBase64": "",
        "properties": {"finalPrompt": prompt, "finalZhPrompt": ""},
        **video_fields(task, status, base_url),
    }


async def fetch(request: web.Request) -> web.Response:
    state = request.app[MIDJOURNEY]
    task = state.tasks.get(request.match_info["id"])
    if task is None:
        return _refuse("task_not_found")
    return json_response(strip_buttons(state.proxy, task_json(state, task, _base_url(request))))


async def list_by_condition(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    base = _base_url(request)
    found = listed(state.tasks, body)
    return json_response([strip_buttons(state.proxy, task_json(state, t, base)) for t in found])


async def image(request: web.Request) -> web.Response:
    state = request.app[MIDJOURNEY]
    task = state.tasks.get(request.match_info["id"])
    if task is None or state.status(task)[0] not in ("IN_PROGRESS", "SUCCESS"):
        return web.Response(status=404, text="image not found")
    grid = task.action not in ("UPSCALE", *NO_SEED_ACTIONS, *VIDEO_ACTIONS)
    return web.Response(
        body=sandbox_png(task.id, grid, state.image_bytes), content_type="image/png"
    )


async def upload(request: web.Request) -> web.Response:
    """An uploaded image prompt, where the proxy's link to it points."""
    found = request.app[MIDJOURNEY].uploads.get(request.match_info["name"])
    if found is None:
        return web.Response(status=404, text="upload not found")
    return web.Response(body=found.data, content_type=found.content_type)
