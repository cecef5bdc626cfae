"""midjourney-proxy reached directly, without a gateway in front (upstream-api.md §7).

``MidjourneyState.proxy`` picks which: ``"gateway"`` (new-api: Bearer, buttons, /action), or
``"trueai"`` (trueai-org: the raw Authorization or ``mj-api-secret`` header is compared with
the secret, so ``Bearer sk-…`` never matches), or ``"novicezk"`` (only ``mj-api-secret``; task
objects without ``buttons``, and no /mj/submit/action: U/V/reroll go through
``/mj/submit/change`` with ``action`` and ``index``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

CHANGE_ACTIONS = {"UPSCALE": "UPSCALE", "VARIATION": "VARIATION", "REROLL": "REROLL"}


def direct_key(proxy: str, request: web.Request, secret: str) -> tuple[bool, bool] | None:
    """``(header present, key correct)`` as a direct proxy checks a /mj request, or None where
    the gateway's own check applies."""
    if proxy == "gateway" or not request.path.startswith("/mj"):
        return None
    header = request.headers.get("mj-api-secret")
    if header is None and proxy == "trueai":
        header = request.headers.get("Authorization")  # compared raw: "Bearer …" never matches
    return header is not None, header == secret


def strip_buttons(proxy: str, task: dict[str, Any]) -> dict[str, Any]:
    """novicezk's older task objects carry no ``buttons`` at all."""
    if proxy == "novicezk":
        task.pop("buttons", None)
    return task


async def change(request: web.Request) -> web.Response:
    """novicezk's ``/mj/submit/change``: ``{taskId, action: UPSCALE|VARIATION|REROLL, index}``."""
    # Imported here: the Midjourney routes module registers this one.
    from bot.sandbox.upstream.midjourney import _accept, _code, _state_and_body

    state, body = await _state_and_body(request)
    if state.proxy != "novicezk":
        raise web.HTTPNotFound()
    parent = state.tasks.get(str(body.get("taskId") or ""))
    action = CHANGE_ACTIONS.get(str(body.get("action") or "").upper())
    index = body.get("index")
    if parent is None:
        return _code(3, "关联任务不存在或已失效")
    if action is None or (action != "REROLL" and index not in (1, 2, 3, 4)):
        return _code(4, "action参数错误")
    if state.status(parent)[0] != "SUCCESS" or parent.action == "UPSCALE":
        return _code(4, "关联任务状态错误")
    custom_id = f"change::{action}::{index}"
    return _accept(request, state, action, parent.prompt, custom_id=custom_id, parent_id=parent.id)
