"""Sandbox audio routes, stock on new-api and one-api (upstream-api.md §7): text to speech and
transcription. ``POST /v1/audio/speech`` answers MP3-shaped bytes; ``POST
/v1/audio/transcriptions`` (multipart ``file``, ``model``) answers ``{"text": …}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.sandbox.upstream.suno import sandbox_mp3
from bot.sandbox.upstream.wire import json_response, openai_error


@dataclass(slots=True)
class AudioState:
    transcript: str = "hello from the sandbox"  # what every transcription reads
    spoken: int = 0


AUDIO = web.AppKey("upstream_sandbox_audio", AudioState)


def _refuse(message: str) -> web.Response:
    return json_response(openai_error(message, type="invalid_request_error"), status=400)


async def speech(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    if not isinstance(body, dict) or not body.get("input") or not body.get("model"):
        return _refuse("model and input are required")
    request.app[AUDIO].spoken += 1
    return web.Response(body=sandbox_mp3(str(body["input"])[:40], None), content_type="audio/mpeg")


async def transcriptions(request: web.Request) -> web.Response:
    if not request.content_type.startswith("multipart/"):
        return _refuse("multipart form with a file is required")
    form = await request.post()
    if "file" not in form or not form.get("model"):
        return _refuse("file and model are required")
    return json_response({"text": request.app[AUDIO].transcript})


def setup(app: web.Application, state: AudioState) -> None:
    app[AUDIO] = state
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
