"""Sandbox images route (``POST /v1/images/generations``) and the media files it links to.

``GET /files/{name}`` serves a PNG for ``*.png`` and a few bytes shaped like an MP4 for ``*.mp4``
or an MP3 for ``*.mp3`` (public, like a CDN); chat-format media replies in tests link here via
``state.url(base, name)``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from aiohttp import web

from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.suno import sandbox_mp3
from bot.sandbox.upstream.wire import json_response, openai_error

PUBLIC_ATTR = "sandbox_public"


@dataclass(slots=True)
class MediaState:
    b64: bool = False  # answer like gpt-image models: base64 instead of a URL
    file_bytes: int | None = None  # pad served files to this size (for the oversize test)
    generated: int = 0

    @staticmethod
    def url(base_url: str, name: str) -> str:
        return f"{base_url}/files/{name}"


MEDIA = web.AppKey("upstream_sandbox_media", MediaState)


def _mp4(seed: str, pad_to: int | None) -> bytes:
    body = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + seed.encode()
    return body + b"\x00" * max(0, (pad_to or 0) - len(body))


async def generations(request: web.Request) -> web.Response:
    state = request.app[MEDIA]
    body = await request.json()
    if not str(body.get("prompt") or "").strip():
        # As the gateway's relay does: refused before anything is generated or charged.
        error = openai_error("prompt is required", type="invalid_request_error")
        return json_response(error, status=400)
    state.generated += 1
    name = f"gen-{state.generated}.png"
    item: dict[str, str] = {"revised_prompt": str(body.get("prompt", ""))}
    if state.b64:
        item["b64_json"] = base64.b64encode(sandbox_png(name, False, state.file_bytes)).decode()
    else:
        item["url"] = MediaState.url(f"{request.scheme}://{request.host}", name)
    return json_response({"created": 1712345678, "data": [item]})


async def files(request: web.Request) -> web.Response:
    state = request.app[MEDIA]
    name = request.match_info["name"]
    if name.endswith(".png"):
        png = sandbox_png(name, False, state.file_bytes)
        return web.Response(body=png, content_type="image/png")
    if name.endswith(".mp4"):
        return web.Response(body=_mp4(name, state.file_bytes), content_type="video/mp4")
    if name.endswith(".mp3"):
        return web.Response(body=sandbox_mp3(name, state.file_bytes), content_type="audio/mpeg")
    raise web.HTTPNotFound()


setattr(files, PUBLIC_ATTR, True)


def setup(app: web.Application, state: MediaState) -> None:
    app[MEDIA] = state
    app.router.add_post("/v1/images/generations", generations)
    app.router.add_get("/files/{name}", files)
