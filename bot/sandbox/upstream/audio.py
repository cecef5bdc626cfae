"""Sandbox audio routes, stock on new-api and one-api (upstream-api.md §7): text to speech and
transcription. ``POST /v1/audio/speech`` answers MP3-shaped bytes; ``POST
/v1/audio/transcriptions`` (multipart ``file``, ``model``, optional ``language`` and
``response_format``) answers ``{"text": …}``, refusing what OpenAI's route refuses: a body that
is not multipart, a missing model or file, a file type it cannot decode, more than 25 MB, a
language that is not ISO 639-1. A model no channel serves gets new-api's 503 model_not_found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from aiohttp import web

from bot.sandbox.upstream.suno import sandbox_mp3
from bot.sandbox.upstream.wire import json_response, openai_error

# What OpenAI's transcription route decodes, by file extension (it goes by the name).
TRANSCRIBABLE = frozenset("flac m4a mp3 mp4 mpeg mpga oga ogg wav webm".split())
MAX_TRANSCRIBE_BYTES = 25 * 1024 * 1024
RESPONSE_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
_LANGUAGE = re.compile(r"^[a-z]{2}$")


@dataclass(frozen=True, slots=True)
class Transcribed:
    """One transcription request as the route read it, for tests to assert on."""

    model: str
    filename: str
    size: int
    content_type: str
    language: str | None


@dataclass(slots=True)
class AudioState:
    # voice in
    transcript: str = "hello from the sandbox"  # what a transcription reads by default
    # Read by the next transcriptions, one each, before ``transcript`` is used again.
    transcripts: list[str] = field(default_factory=list)
    # Transcription models a channel serves; they are listed at /v1/models too.
    transcribe_models: list[str] = field(default_factory=lambda: ["whisper-1"])
    # Answer the next this-many transcriptions with a 500 (a channel that fails mid-request).
    transcribe_failures: int = 0
    transcribed: list[Transcribed] = field(default_factory=list)
    spoken: int = 0

    def listed_models(self) -> list[str]:
        return list(self.transcribe_models)


AUDIO = web.AppKey("upstream_sandbox_audio", AudioState)


def _refuse(message: str, status: int = 400) -> web.Response:
    return json_response(openai_error(message, type="invalid_request_error"), status=status)


async def speech(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    if not isinstance(body, dict) or not body.get("input") or not body.get("model"):
        return _refuse("model and input are required")
    request.app[AUDIO].spoken += 1
    return web.Response(body=sandbox_mp3(str(body["input"])[:40], None), content_type="audio/mpeg")


async def transcriptions(request: web.Request) -> web.Response:
    state = request.app[AUDIO]
    if not request.content_type.startswith("multipart/form-data"):
        return _refuse("multipart form with a file is required")
    if (request.content_length or 0) > MAX_TRANSCRIBE_BYTES + 64 * 1024:
        return _refuse(f"Maximum content size limit ({MAX_TRANSCRIBE_BYTES}) exceeded", 413)
    form = await request.post()
    model = form.get("model")
    upload = form.get("file")
    if not isinstance(model, str) or not model:
        return _refuse("you must provide a model parameter")
    if not isinstance(upload, web.FileField):
        return _refuse("file is required and must be a file upload")
    data = upload.file.read()
    suffix = PurePosixPath(upload.filename or "").suffix.lower().lstrip(".")
    if not data or suffix not in TRANSCRIBABLE:
        formats = sorted(TRANSCRIBABLE)
        return _refuse(f"Invalid file format. Supported formats: {formats}")
    language = form.get("language")
    if language is not None and (not isinstance(language, str) or not _LANGUAGE.match(language)):
        return _refuse("language must be an ISO-639-1 code, e.g. en")
    response_format = form.get("response_format", "json")
    if response_format not in RESPONSE_FORMATS:
        return _refuse(f"response_format must be one of {sorted(RESPONSE_FORMATS)}")
    if model not in state.transcribe_models:
        message = f"当前分组 default 下对于模型 {model} 无可用渠道"
        return json_response(openai_error(message, code="model_not_found"), status=503)
    state.transcribed.append(
        Transcribed(model, upload.filename, len(data), upload.content_type, language)
    )
    if state.transcribe_failures > 0:
        state.transcribe_failures -= 1
        error = openai_error("upstream channel error", code="bad_response")
        return json_response(error, status=500)
    text = state.transcripts.pop(0) if state.transcripts else state.transcript
    if response_format == "text":
        return web.Response(text=text, content_type="text/plain")
    return json_response({"text": text})


def setup(app: web.Application, state: AudioState) -> None:
    app[AUDIO] = state
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_post("/v1/audio/transcriptions", transcriptions)
