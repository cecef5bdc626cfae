"""Sandbox GPTs routes: one GPT by id (``GET /v1/gpts/?id=``) and search (``/v2/gpts/search``).

Shapes follow upstream-api.md §1 (GPTs info endpoints): ``{"code":0,"msg":"ok","data":…}``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from bot.sandbox.upstream.wire import json_response


@dataclass(slots=True)
class Gizmo:
    id: str
    name: str
    description: str = ""
    author: str = "sandbox author"
    starters: list[str] = field(default_factory=list)
    picture: str = ""


def _default_gizmos() -> dict[str, Gizmo]:
    gizmos = [
        Gizmo("g-2fkFE8rbu", "DALL·E", "Let me turn your imagination into imagery.",
              starters=["Draw a cat", "Make a logo"]),
        Gizmo("g-pmuQfob8d", "Image Generator", "A GPT for images and art.",
              starters=["A sunset over mountains"]),
        Gizmo("g-alKfVrz9K", "翻译大师", "中英互译，地道自然。", author="沙盒作者",
              starters=["把这句话翻译成英文"]),
    ]  # fmt: skip
    return {g.id: g for g in gizmos}


@dataclass(slots=True)
class GPTsState:
    gizmos: dict[str, Gizmo] = field(default_factory=_default_gizmos)
    # Seconds before each answer, for a lookup slower than the bot is willing to wait.
    delay: float = 0.0


GPTS = web.AppKey("upstream_sandbox_gpts", GPTsState)


async def info(request: web.Request) -> web.Response:
    state = request.app[GPTS]
    if state.delay:
        await asyncio.sleep(state.delay)
    gizmo = state.gizmos.get(request.query.get("id", ""))
    if gizmo is None:
        return json_response({"code": 404, "msg": "gizmo not found", "data": None}, status=404)
    return json_response(
        {
            "code": 0,
            "msg": "ok",
            "data": {
                "gizmo": {
                    "id": gizmo.id,
                    "author": {"display_name": gizmo.author},
                    "display": {
                        "name": gizmo.name,
                        "description": gizmo.description,
                        "prompt_starters": gizmo.starters,
                        "profile_picture_url": gizmo.picture or None,
                    },
                }
            },
        }
    )


async def search(request: web.Request) -> web.Response:
    state = request.app[GPTS]
    if state.delay:
        await asyncio.sleep(state.delay)
    query = request.query.get("query", "").casefold()
    found = [
        {
            "id": g.id,
            "title": g.name,
            "link": f"https://chat.openai.com/g/{g.id}",
            "description": g.description,
            "favicon": g.picture,
        }
        for g in state.gizmos.values()
        if query in g.name.casefold() or query in g.description.casefold()
    ]
    return json_response({"code": 0, "msg": "ok", "data": found})


def setup(app: web.Application, state: GPTsState) -> None:
    app[GPTS] = state
    app.router.add_get("/v1/gpts/", info)
    app.router.add_get("/v1/gpts", info)
    app.router.add_get("/v2/gpts/search", search)
