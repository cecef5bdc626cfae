"""Sandbox routes for Midjourney's side tools: an image's seed and InsightFace's face swap.

Served where the real servers have them (upstream-api.md §7): new-api relays both, trueai-org's
proxy has both (its face swap only when the admin set up Replicate: ``MidjourneyState.face_swap``
off answers "服务不支持"), novicezk's has neither (its router's 404).

``GET /mj/task/{id}/image-seed`` answers ``{code:1, result:"<seed>"}`` for a finished image
(free: the gateway charges nothing); a task without a message hash (not finished, a face swap,
a describe) gets trueai's ``400 {code:4, 关联任务状态错误}``; an id nobody has, new-api's
``400 task_no_found`` or trueai's ``404 {code:3}``. ``MidjourneyState.seed_error`` makes the
lookup fail as trueai's does when Midjourney's bot never sends the seed (code 9, HTTP 200).
"""

from __future__ import annotations

import uuid

from aiohttp import web

from bot.sandbox.upstream.wire import json_response, mj_error

# Actions whose result is no Midjourney message, so no seed can be read for them.
NO_SEED_ACTIONS = frozenset({"DESCRIBE", "SHORTEN", "SWAP_FACE"})
_SEED_NAMESPACE = uuid.UUID("0b3f6c52-5a8e-4a5f-9d0e-7c1e2f3a4b5c")


def seed_of(task_id: str) -> str:
    """The seed the sandbox reports for a task: stable, and in Midjourney's range."""
    return str(uuid.uuid5(_SEED_NAMESPACE, task_id).int % 4_294_967_295)


async def image_seed(request: web.Request) -> web.Response:
    # Imported here: the Midjourney routes module registers this one.
    from bot.sandbox.upstream.midjourney import MIDJOURNEY, _code

    state = request.app[MIDJOURNEY]
    if state.proxy == "novicezk":
        raise web.HTTPNotFound()  # novicezk has no seed route
    task = state.tasks.get(request.match_info["id"])
    if task is None:
        if state.proxy == "gateway":
            return json_response(mj_error(4, "task_no_found "), status=400)
        return json_response(_result(3, "关联任务不存在或已失效"), status=404)
    if state.status(task)[0] != "SUCCESS" or task.action in NO_SEED_ACTIONS:
        return json_response(_result(4, "关联任务状态错误"), status=400)
    state.submits["SEED"] += 1
    if state.seed_error is not None:
        return _code(9, state.seed_error)
    return json_response(_result(1, "成功", seed_of(task.id)))


async def swap_face(request: web.Request) -> web.Response:
    from bot.sandbox.upstream.midjourney import _accept, _code, _is_data_uri, _state_and_body

    state, body = await _state_and_body(request)
    if state.proxy == "novicezk":
        raise web.HTTPNotFound()  # novicezk has no InsightFace
    source, target = body.get("sourceBase64"), body.get("targetBase64")
    if state.proxy == "gateway" and not (source and target):
        # new-api's own check, before it reaches the proxy.
        return json_response(mj_error(4, "sour_base64_and_target_base64_is_required"), status=400)
    if not state.face_swap:
        return _code(4, "服务不支持")
    if not source:
        return _code(4, "人脸图片不能为空")
    if not target:
        return _code(4, "目标图片不能为空")
    if source == target:
        return _code(4, "人脸图片和目标图片不能相同")
    if not _is_data_uri(source):
        return _code(4, "人脸图片格式错误")
    if not _is_data_uri(target):
        return _code(4, "目标图片格式错误")
    return _accept(request, state, "SWAP_FACE", "InsightFace", bot_type="INSIGHT_FACE")


def _result(code: int, description: str, result: str | None = None) -> dict[str, object]:
    return {"code": code, "description": description, "result": result, "properties": {}}
