"""Sandbox audio routes, stock on new-api and one-api (upstream-api.md §7): text to speech and
transcription. ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``) answers
``{"text": …}``.

``POST /v1/audio/speech`` checks its body as OpenAI's route does (a known voice and format,
at most 4,096 characters) and a model without a channel as new-api does (503
``model_not_found``); it answers a valid Ogg Opus file for ``response_format: "opus"``
(``bot/sandbox/upstream/ogg.py``) and MP3-shaped bytes otherwise. With ``opus = False`` it
plays a channel that only makes MP3 whatever is asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.upstream.ogg import sandbox_ogg_opus
from bot.sandbox.upstream.suno import sandbox_mp3
from bot.sandbox.upstream.wire import json_response, openai_error, tail

# What OpenAI's speech route accepts.
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage",
          "shimmer", "verse")  # fmt: skip
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MAX_INPUT = 4096


@dataclass(slots=True)
class AudioState:
    transcript: str = "hello from the sandbox"  # what every transcription reads
    spoken: int = 0
    # Speech models the gateway has a channel for (the rest answer 503 model_not_found).
    models: list[str] = field(default_factory=lambda: ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"])
    # False: the channel answers MP3 whatever response_format asks (some TTS channels do).
    opus: bool = True
    # Every speech request's body, in order.
    speeches: list[dict[str, Any]] = field(default_factory=list)


AUDIO = web.AppKey("upstream_sandbox_audio", AudioState)


def _refuse(message: str) -> web.Response:
    return json_response(openai_error(message, type="invalid_request_error"), status=400)


async def speech(request: web.Request) -> web.Response:
    state = request.app[AUDIO]
    body = await request.json() if request.body_exists else {}
    if not isinstance(body, dict) or not body.get("input") or not body.get("model"):
        return _refuse("model and input are required")
    model, text = str(body["model"]), str(body["input"])
    voice, kind = body.get("voice"), body.get("response_format", "mp3")
    if voice not in VOICES:
        return _refuse(f"Input should be {', '.join(repr(v) for v in VOICES)}")
    if kind not in FORMATS:
        return _refuse(f"Input should be {', '.join(repr(f) for f in FORMATS)}")
    if len(text) > MAX_INPUT:
        return _refuse(f"String should have at most {MAX_INPUT} characters")
    if model not in state.models:
        message = tail(f"当前分组 default 下对于模型 {model} 无可用渠道", "sandbox")
        return json_response(openai_error(message, code="model_not_found"), status=503)
    state.spoken += 1
    state.speeches.append(body)
    if kind == "opus" and state.opus:
        return web.Response(body=sandbox_ogg_opus(text), content_type="audio/ogg")
    return web.Response(body=sandbox_mp3(text[:40], None), content_type="audio/mpeg")


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
