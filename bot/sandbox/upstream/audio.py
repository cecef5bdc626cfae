"""Sandbox audio routes, stock on new-api and one-api (upstream-api.md §7): text to speech and
transcription. ``POST /v1/audio/transcriptions`` (multipart ``file``, ``model``, optional
``language`` and ``response_format``) answers ``{"text": …}``, refusing what OpenAI's route
refuses: a body that is not multipart, a missing model or file, a file type it cannot decode,
more than 25 MB, a language that is not ISO 639-1. A model no channel serves gets new-api's 503
model_not_found.

``POST /v1/audio/speech`` checks its body as OpenAI's route does (a known voice and format,
at most 4,096 characters) and a model without a channel as new-api does (503
``model_not_found``); it answers a valid Ogg Opus file for ``response_format: "opus"``
(``bot/sandbox/upstream/ogg.py``) and MP3-shaped bytes otherwise. With ``opus = False`` it
plays a channel that only makes MP3 whatever is asked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
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
    # Speech models the gateway has a channel for (the rest answer 503 model_not_found).
    models: list[str] = field(default_factory=lambda: ["tts-1", "tts-1-hd", "gpt-4o-mini-tts"])
    # False: the channel answers MP3 whatever response_format asks (some TTS channels do).
    opus: bool = True
    # Every speech request's body, in order.
    speeches: list[dict[str, Any]] = field(default_factory=list)

    def listed_models(self) -> list[str]:
        return list(self.transcribe_models)


AUDIO = web.AppKey("upstream_sandbox_audio", AudioState)


def _refuse(message: str, status: int = 400) -> web.Response:
    return json_response(openai_error(message, type="invalid_request_error"), status=status)


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
