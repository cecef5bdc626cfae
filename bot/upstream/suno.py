"""Suno through the gateway's ``/suno`` routes (upstream-api.md §3).

Submits answer ``{"code":"success","data":"<task id>"}``; refusals come in the task error shape
(§6) and are raised as typed errors, new-api's own validation (HTTP 400: ``invalid_request``,
``task_not_exist``…) as ``SubmitRejected`` because nothing started and nothing was charged.
Tasks are parsed tolerantly: a gateway that omits or garbles a field yields a task with
defaults, never an exception (the poller must keep going). Clip fields are read from
``metadata`` first and from the clip itself second, where newer upstreams also put them.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from bot.errors import SubmitRejected, UpstreamError, UpstreamFailure
from bot.upstream.client import UpstreamClient
from bot.upstream.parsing import TaskStatus, as_text, word

log = logging.getLogger(__name__)

DEFAULT_MV = "chirp-v3-0"  # what new-api uses when a submit names no model
TASK_STATUSES = frozenset(
    {"NOT_START", "SUBMITTED", "QUEUED", "IN_PROGRESS", "SUCCESS", "FAILURE", "UNKNOWN"}
)

TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE"})
CLIP_STATUSES = frozenset({"submitted", "queued", "streaming", "complete", "error"})
ACTIONS = frozenset({"MUSIC", "LYRICS"})


# --- what can be submitted -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Inspiration:
    """Suno writes the lyrics (and picks title and style) from a description."""

    description: str
    instrumental: bool = False
    mv: str = DEFAULT_MV
    tags: str = ""
    title: str = ""

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "gpt_description_prompt": self.description,
            "make_instrumental": self.instrumental,
            "mv": self.mv,
        }
        return _with_optional(body, tags=self.tags, title=self.title)


@dataclass(frozen=True, slots=True)
class Custom:
    """The member's own lyrics (``prompt``), title and style."""

    lyrics: str
    title: str = ""
    tags: str = ""
    instrumental: bool = False
    mv: str = DEFAULT_MV

    def body(self) -> dict[str, Any]:
        return {
            "prompt": self.lyrics,
            "title": self.title,
            "tags": self.tags,
            "mv": self.mv,
            "make_instrumental": self.instrumental,
        }


@dataclass(frozen=True, slots=True)
class Continuation:
    """Extend ``clip_id`` (owned by ``task_id``) from ``continue_at`` seconds on."""

    clip_id: str
    task_id: str
    continue_at: float
    lyrics: str = ""
    title: str = ""
    tags: str = ""
    mv: str = DEFAULT_MV

    def body(self) -> dict[str, Any]:
        if not self.clip_id or not self.task_id:
            raise ValueError("a continuation needs the clip id and the task that owns it")
        return {
            "prompt": self.lyrics,
            "title": self.title,
            "tags": self.tags,
            "continue_at": self.continue_at,
            "continue_clip_id": self.clip_id,
            "task_id": self.task_id,
            "mv": self.mv,
        }


MusicRequest = Inspiration | Custom | Continuation


def _with_optional(body: dict[str, Any], **optional: str) -> dict[str, Any]:
    return {**body, **{key: value for key, value in optional.items() if value}}


# --- what comes back ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SunoClip:
    """One song of a MUSIC task. ``status`` is one of ``CLIP_STATUSES`` or ``""``."""

    id: str
    status: str = ""
    title: str = ""
    audio_url: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    model_name: str = ""
    tags: str = ""
    lyrics: str = ""
    description: str = ""
    duration: float | None = None
    error_message: str = ""

    @classmethod
    def from_json(cls, obj: Any) -> SunoClip:
        """Parse a clip; never raises, whatever the shape."""
        if not isinstance(obj, dict):
            return cls(id="")
        meta = obj.get("metadata")
        meta = meta if isinstance(meta, dict) else {}

        def pick(key: str) -> Any:
            value = meta.get(key)
            return value if value not in (None, "") else obj.get(key)

        status = as_text(obj.get("status")).strip().lower()
        return cls(
            id=as_text(obj.get("id")).strip() or as_text(obj.get("clip_id")).strip(),
            status=status if status in CLIP_STATUSES else "",
            title=as_text(obj.get("title")).strip(),
            audio_url=_url(obj.get("audio_url")),
            image_url=_url(obj.get("image_url")) or _url(obj.get("image_large_url")),
            video_url=_url(obj.get("video_url")),
            model_name=as_text(obj.get("model_name")),
            tags=as_text(pick("tags")).strip(),
            lyrics=as_text(pick("prompt")),
            description=as_text(pick("gpt_description_prompt")),
            duration=_seconds(pick("duration")),
            error_message=as_text(pick("error_message")),
        )

    def as_dict(self) -> dict[str, Any]:
        """What a job keeps of the clip (JSON, for the presenter and the buttons)."""
        return {
            "id": self.id,
            "status": self.status,
            "title": self.title,
            "audio_url": self.audio_url,
            "image_url": self.image_url,
            "video_url": self.video_url,
            "model_name": self.model_name,
            "tags": self.tags,
            "lyrics": self.lyrics,
            "duration": self.duration,
        }


@dataclass(frozen=True, slots=True)
class SunoLyrics:
    """The result of a LYRICS task."""

    title: str = ""
    text: str = ""
    status: str = ""


@dataclass(frozen=True, slots=True)
class SunoTask(TaskStatus):
    """One task as the gateway reports it; build with ``SunoTask.from_json``.

    ``status`` is one of ``TASK_STATUSES`` or ``""`` (unknown or missing). A MUSIC task has
    ``clips`` (usually two); a LYRICS task has ``lyrics``.
    """

    id: str
    action: str = ""
    status: str = ""
    progress: int = 0
    fail_reason: str = ""
    submit_time: int | None = None
    finish_time: int | None = None
    clips: list[SunoClip] = field(default_factory=list)
    lyrics: SunoLyrics | None = None

    TERMINAL: ClassVar[frozenset[str]] = TERMINAL_STATUSES

    @classmethod
    def from_json(cls, obj: Any) -> SunoTask:
        """Parse a task object; never raises, whatever the shape."""
        if not isinstance(obj, dict):
            return cls(id="")
        # Newer builds add a numeric row id; the public task id is ``task_id``.
        task_id = as_text(obj.get("task_id")).strip()
        if not task_id and isinstance(obj.get("id"), str):
            task_id = obj["id"].strip()
        status = word(obj.get("status"), TASK_STATUSES)
        action = as_text(obj.get("action")).strip().upper()
        data = obj.get("data")
        if isinstance(data, str) and data.strip()[:1] in ("[", "{"):
            data = _loads(data)  # some builds keep the upstream's JSON as a string
        clips: list[SunoClip] = []
        lyrics: SunoLyrics | None = None
        if _looks_like_lyrics(action, data):
            lyrics = _lyrics(data)
            action = action or "LYRICS"
        elif isinstance(data, list | dict):
            items = data if isinstance(data, list) else [data]
            clips = [clip for clip in map(SunoClip.from_json, items) if clip.id]
        progress = cls.progress_of(obj.get("progress"), status)
        fail_reason = as_text(obj.get("fail_reason"))
        if status == "FAILURE" and not fail_reason:
            fail_reason = next((c.error_message for c in clips if c.error_message), "")
        return cls(
            id=task_id,
            action=action if action in ACTIONS else "",
            status=status,
            progress=progress,
            fail_reason=fail_reason,
            submit_time=_int_or_none(obj.get("submit_time")),
            finish_time=_int_or_none(obj.get("finish_time")),
            clips=clips,
            lyrics=lyrics,
        )


def _looks_like_lyrics(action: str, data: Any) -> bool:
    if action == "LYRICS":
        return True
    return isinstance(data, dict) and "text" in data


def _lyrics(data: Any) -> SunoLyrics | None:
    if isinstance(data, list):
        data = next((item for item in data if isinstance(item, dict)), None)
    if not isinstance(data, dict):
        return None
    text = as_text(data.get("text")) or as_text(data.get("lyrics"))
    return SunoLyrics(
        title=as_text(data.get("title")).strip(),
        text=text,
        status=as_text(data.get("status")).strip().lower(),
    )


# --- the client ------------------------------------------------------------------------------


class SunoClient:
    """Suno submits and polls over the shared ``UpstreamClient``."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"SunoClient({self._client!r})"

    async def submit_music(self, request: MusicRequest) -> str:
        """Start a MUSIC task (inspiration, custom or continuation); returns its task id."""
        return await self._submit("music", request.body())

    async def submit_lyrics(self, prompt: str) -> str:
        """Start a LYRICS task; returns its task id."""
        return await self._submit("lyrics", {"prompt": prompt})

    async def fetch(self, ids: Sequence[str], action: str = "MUSIC") -> list[SunoTask]:
        """Several tasks in one request; ids the gateway does not know are simply absent.

        new-api looks the ids up whatever ``action`` says, so MUSIC and LYRICS tasks may be
        asked about together.
        """
        if not ids:
            return []
        obj = await self._client.request_json(
            "POST", "/suno/fetch", json={"ids": list(ids), "action": action}
        )
        data = self._data(obj, "fetch")
        if data is None:
            return []
        if not isinstance(data, list):
            log.warning("suno fetch: expected a list, got %s", type(data).__name__)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        return [task for task in map(SunoTask.from_json, data) if task.id]

    async def fetch_one(self, task_id: str) -> SunoTask:
        """One task by id; an unknown id raises (``task_not_exist``, HTTP 400)."""
        obj = await self._client.request_json("GET", f"/suno/fetch/{quote(task_id, safe='')}")
        data = self._data(obj, "fetch_one")
        task = SunoTask.from_json(data)
        if not task.id:
            log.warning("suno fetch %s: no task in the answer", task_id)
            raise UpstreamFailure("task not found", status=200, code="task_not_exist")
        return task

    async def _submit(self, kind: str, body: dict[str, Any]) -> str:
        path = f"/suno/submit/{kind}"
        try:
            obj = await self._client.request_json("POST", path, json=body)
        except UpstreamError as exc:
            # new-api's own checks (HTTP 400: invalid_request, task_not_exist…) mean the task
            # never started and nothing was charged; balance and rate limits keep their class.
            if type(exc) is UpstreamFailure and exc.status == 400:
                raise SubmitRejected(
                    exc.detail, status=exc.status, code=exc.code, request_id=exc.request_id
                ) from None
            raise
        data = self._data(obj, f"submit {kind}")
        if isinstance(data, dict):  # tolerate {"task_id": …} from proxies that wrap it
            data = data.get("task_id") or data.get("id")
        task_id = as_text(data).strip()
        if not task_id:
            log.warning("suno submit %s: accepted without a task id", kind)
            raise UpstreamFailure("the upstream accepted the task but sent no id", status=200)
        log.info("suno %s accepted: task %s", kind, task_id)
        return task_id

    def _data(self, obj: Any, what: str) -> Any:
        """The ``data`` of a task-shape answer, raising the typed error of an error body."""
        if isinstance(obj, list):
            return obj  # a bare array from a proxy that skips the envelope
        if not isinstance(obj, dict):
            log.warning("suno %s: expected an object, got %s", what, type(obj).__name__)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        code = obj.get("code")
        if isinstance(code, str) and code and code != "success" and "message" in obj:
            # The task error shape, whatever its data holds (the generic check wants null).
            log.warning("suno %s refused under HTTP 200 with code %s", what, code)
            self._client.raise_for_error_body({**obj, "data": None})
        self._client.raise_for_error_body(obj)
        return obj.get("data")


# --- tolerant readers ------------------------------------------------------------------------


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def _url(value: Any) -> str | None:
    text = as_text(value).strip()
    return text if text.startswith(("http://", "https://")) else None


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None
