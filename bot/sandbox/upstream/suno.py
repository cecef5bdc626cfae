"""Sandbox Suno routes (upstream-api.md §3): submits, task polling, and the files clips link to.

A task's state follows the time since it was submitted, computed when it is fetched (no
background tasks). MUSIC: SUBMITTED/submitted → QUEUED/queued → IN_PROGRESS/streaming (the
``audio_url`` is a partial stream, progress grows) → SUCCESS/complete (the final mp3 and a
duration), or FAILURE/error when ``fail_next`` was set; ``never_finish`` keeps it streaming.
LYRICS: SUBMITTED → IN_PROGRESS → SUCCESS with ``{"id","status","title","text"}``. Refusals
use new-api's task error shape under HTTP 400 (``invalid_request``, ``task_not_exist``,
``sensitive_words_detected``). Like newer builds, task objects carry a numeric row ``id`` next
to the public ``task_id``.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.sandbox.upstream.png import sandbox_png
from bot.sandbox.upstream.wire import json_response, listed, task_error

DEFAULT_MV = "chirp-v3-0"
DEFAULT_TAGS = "sandbox pop, upbeat"
# An MPEG-1 Layer III frame header (128 kbit/s, 44.1 kHz) after an empty ID3v2 tag.
_ID3 = b"ID3\x03\x00\x00\x00\x00\x00\x00"
_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 413


@dataclass(slots=True)
class SandboxClip:
    id: str
    title: str
    tags: str
    lyrics: str
    description: str | None
    duration: float


@dataclass(slots=True)
class SandboxSunoTask:
    id: str
    row_id: int
    action: str  # MUSIC or LYRICS
    mode: str  # inspiration, custom, continuation or lyrics
    body: dict[str, Any]
    started: float  # state.clock() at submit
    submit_s: int
    durations: tuple[float, float, float]
    mv: str = DEFAULT_MV
    clips: list[SandboxClip] = field(default_factory=list)
    lyrics_title: str = ""
    lyrics_text: str = ""
    fail_reason: str | None = None
    never_finish: bool = False


@dataclass(slots=True)
class SunoState:
    """Script for the Suno routes. Timing knobs are copied into a task when it is submitted."""

    durations: tuple[float, float, float] = (0.05, 0.05, 0.3)  # submitted, queued, streaming
    clips_per_task: int = 2
    banned_words: set[str] = field(default_factory=lambda: {"gore"})
    fail_next: str | None = None  # the next task submitted ends in FAILURE with this reason
    never_finish: bool = False  # tasks submitted from now on stay streaming
    audio_bytes: int | None = None  # pad served mp3 files to exactly this size
    image_bytes: int | None = None  # pad served cover images to exactly this size
    # Appended to finished audio links, like a CDN's signed query (long links make long cards).
    signature: str = ""
    clock: Callable[[], float] = time.monotonic
    tasks: dict[str, SandboxSunoTask] = field(default_factory=dict)
    submits: Counter[str] = field(default_factory=Counter)  # accepted submits by mode
    _ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(1), init=False, repr=False
    )

    def new_task(self, action: str, mode: str, body: dict[str, Any]) -> SandboxSunoTask:
        row_id = next(self._ids)
        task = SandboxSunoTask(
            id=f"task_{uuid.uuid4().hex[:24]}",
            row_id=row_id,
            action=action,
            mode=mode,
            body=body,
            started=self.clock(),
            submit_s=int(time.time()),
            durations=self.durations,
            mv=_str(body.get("mv")) or DEFAULT_MV,
            never_finish=self.never_finish,
        )
        task.fail_reason, self.fail_next = self.fail_next, None
        self.tasks[task.id] = task
        self.submits[mode] += 1
        return task

    def phase(self, task: SandboxSunoTask) -> tuple[str, str, int]:
        """``(task status, clip status, progress)`` at this moment."""
        elapsed = self.clock() - task.started
        submitted, queued, streaming = task.durations
        if task.action == "LYRICS":
            if elapsed < submitted:
                return "SUBMITTED", "submitted", 0
            if task.never_finish or elapsed < submitted + queued:
                return "IN_PROGRESS", "streaming", 50
            return self._end(task)
        if elapsed < submitted:
            return "SUBMITTED", "submitted", 0
        if elapsed < submitted + queued:
            return "QUEUED", "queued", 10
        run = elapsed - submitted - queued
        if task.never_finish or run < streaming:
            share = min(1.0, run / streaming) if streaming > 0 else 1.0
            return "IN_PROGRESS", "streaming", 20 + int(75 * share)
        return self._end(task)

    @staticmethod
    def _end(task: SandboxSunoTask) -> tuple[str, str, int]:
        if task.fail_reason is not None:
            return "FAILURE", "error", 100
        return "SUCCESS", "complete", 100

    def banned_word(self, *texts: str) -> str | None:
        for word in sorted(self.banned_words):
            pattern = rf"(?<!\w){re.escape(word)}(?!\w)"
            if any(re.search(pattern, text, re.IGNORECASE) for text in texts):
                return word
        return None


SUNO = web.AppKey("upstream_sandbox_suno", SunoState)


# --- task JSON -------------------------------------------------------------------------------


def clip_json(
    state: SunoState, task: SandboxSunoTask, clip: SandboxClip, base: str
) -> dict[str, Any]:
    _, clip_status, _ = state.phase(task)
    audio = {
        "streaming": f"{base}/suno/audiopipe?item_id={clip.id}",
        "complete": f"{base}/suno/cdn/{clip.id}.mp3{state.signature}",
    }.get(clip_status, "")
    shown = clip_status in ("streaming", "complete")
    image = f"{base}/suno/cdn/image_{clip.id}.png" if shown else ""
    failed = clip_status == "error"
    return {
        "id": clip.id,
        "title": clip.title,
        "status": clip_status,
        "audio_url": audio,
        "video_url": "",
        "image_url": image,
        "image_large_url": image,
        "model_name": task.mv,
        "major_model_version": task.mv.removeprefix("chirp-").split("-")[0],
        "metadata": {
            "tags": clip.tags,
            "prompt": clip.lyrics,
            "gpt_description_prompt": clip.description,
            "duration": clip.duration if clip_status == "complete" else None,
            "error_type": "moderation" if failed else None,
            "error_message": task.fail_reason if failed else None,
            "type": "concat" if task.mode == "continuation" else "gen",
        },
    }


def task_json(state: SunoState, task: SandboxSunoTask, base: str) -> dict[str, Any]:
    status, _, progress = state.phase(task)
    terminal = status in ("SUCCESS", "FAILURE")
    data: Any
    if task.action == "LYRICS":
        data = (
            {"id": task.id, "status": "complete", "title": task.lyrics_title,
             "text": task.lyrics_text}
            if status == "SUCCESS"
            else None
        )  # fmt: skip
    else:
        data = [clip_json(state, task, clip, base) for clip in task.clips]
    elapsed = int(state.clock() - task.started)
    return {
        "id": task.row_id,
        "task_id": task.id,
        "platform": "suno",
        "action": task.action,
        "status": status,
        "fail_reason": (task.fail_reason or "") if status == "FAILURE" else "",
        "submit_time": task.submit_s,
        "start_time": task.submit_s if status != "SUBMITTED" else 0,
        "finish_time": task.submit_s + elapsed if terminal else 0,
        "progress": f"{progress}%",
        "data": data,
    }


# --- submit routes ---------------------------------------------------------------------------


async def submit_music(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    description = _str(body.get("gpt_description_prompt"))
    lyrics = _str(body.get("prompt"))
    clip_id = _str(body.get("continue_clip_id"))
    instrumental = body.get("make_instrumental") is True
    parent: SandboxSunoTask | None = None
    if clip_id:
        parent_id = _str(body.get("task_id"))
        if not parent_id:
            return _refuse("invalid_request", "task_id is required with continue_clip_id")
        parent = state.tasks.get(parent_id)
        if parent is None:
            return _refuse("task_not_exist", "task_not_exist")
        if state.phase(parent)[0] != "SUCCESS" or clip_id not in {c.id for c in parent.clips}:
            return _refuse("invalid_request", "continue_clip_id is not a finished clip")
        if not isinstance(body.get("continue_at"), int | float):
            return _refuse("invalid_request", "continue_at is required")
    elif not description and not lyrics and not instrumental:
        return _refuse("invalid_request", "prompt_empty")
    texts = (description, lyrics, _str(body.get("tags")), _str(body.get("title")))
    if (word := state.banned_word(*texts)) is not None:
        return _refuse("sensitive_words_detected", f"敏感词检测失败: {word}")
    mode = "continuation" if parent else "inspiration" if description else "custom"
    task = state.new_task("MUSIC", mode, body)
    title = _str(body.get("title")) or _title_for(description or lyrics)
    tags = _str(body.get("tags")) or DEFAULT_TAGS
    if mode == "inspiration":
        lyrics = "" if instrumental else _lyrics_for(description)
    source = next((c for c in parent.clips if c.id == clip_id), None) if parent else None
    for index in range(max(1, state.clips_per_task)):
        start = float(body["continue_at"]) if source is not None else 0.0
        task.clips.append(
            SandboxClip(
                id=str(uuid.uuid4()),
                title=title,
                tags=tags,
                lyrics=lyrics,
                description=description or None,
                duration=round(start + 120.0 + 7.5 * index, 2),
            )
        )
    return _accepted(task)


async def submit_lyrics(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    prompt = _str(body.get("prompt"))
    if not prompt:
        return _refuse("invalid_request", "prompt_empty")
    if (word := state.banned_word(prompt)) is not None:
        return _refuse("sensitive_words_detected", f"敏感词检测失败: {word}")
    task = state.new_task("LYRICS", "lyrics", body)
    task.lyrics_title = _title_for(prompt)
    task.lyrics_text = _lyrics_for(prompt)
    return _accepted(task)


def _accepted(task: SandboxSunoTask) -> web.Response:
    return json_response({"code": "success", "message": "", "data": task.id})


# --- polling and files -----------------------------------------------------------------------


async def fetch_one(request: web.Request) -> web.Response:
    state = request.app[SUNO]
    task = state.tasks.get(request.match_info["id"])
    if task is None:
        return _refuse("task_not_exist", "task_not_exist")
    body = task_json(state, task, _base_url(request))
    return json_response({"code": "success", "message": "", "data": body})


async def fetch_many(request: web.Request) -> web.Response:
    state, body = await _state_and_body(request)
    base = _base_url(request)
    data = [task_json(state, task, base) for task in listed(state.tasks, body)]
    return json_response({"code": "success", "message": "", "data": data})


async def cdn(request: web.Request) -> web.Response:
    """Final files: ``<clip>.mp3`` and ``image_<clip>.png`` (public, like Suno's CDN)."""
    state = request.app[SUNO]
    name = request.match_info["name"]
    if name.endswith(".png") and name.startswith("image_"):
        png = sandbox_png(name, False, state.image_bytes)
        return web.Response(body=png, content_type="image/png")
    if name.endswith(".mp3"):
        return web.Response(body=sandbox_mp3(name, state.audio_bytes), content_type="audio/mpeg")
    raise web.HTTPNotFound()


async def audiopipe(request: web.Request) -> web.Response:
    """The partial stream a ``streaming`` clip's ``audio_url`` points at."""
    item = request.query.get("item_id", "")
    return web.Response(body=sandbox_mp3(item), content_type="audio/mpeg")


def sandbox_mp3(seed: str, pad_to: int | None = None) -> bytes:
    """A few bytes shaped like an MP3 (ID3 tag, then frames), padded to ``pad_to``."""
    body = _ID3 + _FRAME * 3 + seed.encode()
    return body + b"\x00" * max(0, (pad_to or 0) - len(body))


# --- helpers ---------------------------------------------------------------------------------


def _title_for(text: str) -> str:
    words = re.findall(r"\w+", text)[:4]
    return " ".join(w.capitalize() for w in words) or "Sandbox Song"


def _lyrics_for(text: str) -> str:
    subject = " ".join(text.split())[:80] or "nothing at all"
    return (
        f"[Verse]\nI sing about {subject}\nIn a sandbox far away\n\n"
        f"[Chorus]\n{subject}, {subject}\nEvery single day"
    )


def _refuse(code: str, message: str) -> web.Response:
    """new-api's own refusal: HTTP 400 in the task shape."""
    return json_response(task_error(code, message), status=400)


async def _state_and_body(request: web.Request) -> tuple[SunoState, dict[str, Any]]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    return request.app[SUNO], body if isinstance(body, dict) else {}


def _str(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def setup(app: web.Application, state: SunoState) -> None:
    # Imported here: the server module imports this one to compose the app.
    from bot.sandbox.upstream.server import public

    app[SUNO] = state
    app.router.add_post("/suno/submit/music", submit_music)
    app.router.add_post("/suno/submit/lyrics", submit_lyrics)
    app.router.add_get("/suno/fetch/{id}", fetch_one)
    app.router.add_post("/suno/fetch", fetch_many)
    app.router.add_get("/suno/cdn/{name}", public(cdn))
    app.router.add_get("/suno/audiopipe", public(audiopipe))
