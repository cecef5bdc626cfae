"""What every video adapter shares: the request and task records, and tolerant parsing helpers.

Each adapter (Kling, Luma, Runway, Sora, unified) turns one ``VideoRequest`` into its own body
and every answer variant the gateways send back into one ``VideoTask``. Parsing never raises on a
garbled field (the poller must keep going); a task the gateway does not know is ``None``.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import quote

from bot.errors import SubmitRejected, UpstreamError, UpstreamFailure
from bot.upstream.client import UpstreamClient
from bot.upstream.midjourney import data_uri
from bot.upstream.parsing import as_text

log = logging.getLogger(__name__)

VideoStatus = Literal["pending", "running", "succeeded", "failed"]

# Status words of every video API, lower-cased, in the engine's terms.
STATUS_WORDS: dict[str, VideoStatus] = {
    **dict.fromkeys(
        ("", "not_start", "submitted", "queued", "pending", "throttled", "unknown", "created"),
        "pending",
    ),
    **dict.fromkeys(("in_progress", "processing", "running", "dreaming"), "running"),
    **dict.fromkeys(("success", "succeed", "succeeded", "completed", "complete"), "succeeded"),
    **dict.fromkeys(("failure", "failed", "fail", "cancelled", "canceled", "error"), "failed"),
}
# Keys that name the video in raw upstream bodies, most specific first.
_URL_KEYS = ("video_url", "url", "download_url", "result_url", "uri", "output")
_REFUSED_STATUSES = frozenset({400, 404, 413, 422})
# The gateways' ways of saying "no such task": new-api's task style (HTTP 400), the proxies'
# and Sora's 404, and the words some resellers use under 400.
UNKNOWN_TASK_CODES = frozenset({"task_not_exist", "task_not_found", "not_found"})


@dataclass(frozen=True, slots=True)
class VideoRequest:
    """One video to make. ``image`` is the reference image's bytes, already fetched."""

    model: str
    prompt: str
    duration: int
    aspect: str
    image: bytes | None = None
    mode: str | None = None  # Kling's std/pro; None: the API's default
    audio: bool | None = None  # Kling's sound on/off; None: not sent (the model has no switch)
    end_image: bytes | None = None  # the last frame (Kling's image_tail, Luma's end frame)

    def image_data_uri(self) -> str | None:
        return data_uri(self.image) if self.image else None

    def image_base64(self) -> str | None:
        return base64.b64encode(self.image).decode("ascii") if self.image else None

    def end_image_base64(self) -> str | None:
        return base64.b64encode(self.end_image).decode("ascii") if self.end_image else None

    def image_type(self) -> str:
        """The image's MIME type, read from its first bytes."""
        return data_uri(self.image[:16] if self.image else b"").split(";", 1)[0][len("data:") :]


@dataclass(frozen=True, slots=True)
class VideoTask:
    """One task as the gateway reports it. ``url`` is set once the video exists."""

    id: str
    status: VideoStatus
    progress: int = 0
    url: str | None = None
    error: str = ""


class VideoAdapter(Protocol):
    """One video API family; ``name`` is its engine provider's name."""

    name: str

    async def submit(self, request: VideoRequest) -> str:
        """Start a task; returns the id to poll with. Raises UpstreamError to refuse."""
        ...

    async def fetch(self, task_id: str) -> VideoTask | None:
        """The task's state, or ``None`` when the gateway does not know the id (yet)."""
        ...


async def submit_json(client: UpstreamClient, path: str, **kwargs: Any) -> Any:
    """POST a submit; a 4xx refusal means nothing started and nothing was charged upstream."""
    try:
        obj = await client.request_json("POST", path, **kwargs)
    except UpstreamError as exc:
        if type(exc) is UpstreamFailure and exc.status in _REFUSED_STATUSES:
            raise SubmitRejected(
                readable_detail(exc.detail), status=exc.status, code=exc.code,
                request_id=exc.request_id,
            ) from None  # fmt: skip
        raise
    _raise_unless_task(client, obj)
    return obj


async def get_json(client: UpstreamClient, path: str, **kwargs: Any) -> Any | None:
    """GET a task; ``None`` when the gateway says it does not know the id (``is_unknown_task``)."""
    try:
        obj = await client.request_json("GET", path, **kwargs)
    except UpstreamError as exc:
        if is_unknown_task(exc):
            return None
        raise
    _raise_unless_task(client, obj)
    return obj


def is_unknown_task(exc: UpstreamError) -> bool:
    """Whether an error answer to a task lookup means the gateway has no such task: 404, or
    stock new-api's ``400 {"code":"task_not_exist"}`` (upstream-api.md §7)."""
    if exc.status == 404:
        return True
    words = {(exc.code or "").lower(), exc.detail.strip().lower()}
    return exc.status == 400 and bool(words & UNKNOWN_TASK_CODES)


def _raise_unless_task(client: UpstreamClient, obj: Any) -> None:
    """Raise an error body under HTTP 200, but not a task whose own ``error`` says it failed
    (Sora's ``{"status":"failed","error":{…}}`` is an answer, not a refusal)."""
    if not (isinstance(obj, dict) and ("status" in obj or "state" in obj)):
        client.raise_for_error_body(obj)


def readable_detail(detail: str) -> str:
    """The reason inside an error body the shared parser keeps as raw text (Luma's
    ``{"detail":{"reason":…}}``, Kling's ``{"code":1201,"message":…}``)."""
    try:
        obj = json.loads(detail)
    except ValueError:
        return detail
    inner = obj.get("detail") if isinstance(obj, dict) else None
    for node in (inner, obj):
        if isinstance(node, dict):
            for key in ("reason", "message", "msg", "error"):
                if as_text(node.get(key)).strip():
                    return as_text(node[key]).strip()
        elif isinstance(node, str) and node.strip():
            return node.strip()
    return detail


def unexpected(what: str, obj: Any) -> UpstreamFailure:
    shape = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
    log.warning("video %s: unexpected answer %s", what, shape)
    return UpstreamFailure("the upstream sent an unexpected answer", status=200)


def status_of(value: Any) -> VideoStatus:
    """Any API's status word in the engine's terms; unknown words count as still pending."""
    return STATUS_WORDS.get(as_text(value).strip().lower(), "pending")


def progress_of(value: Any, status: VideoStatus, *, fraction: bool = False) -> int:
    """``"30%"``, ``30``, ``"30"`` or a fraction ``0.3`` → 30, clamped to 0–100.

    ``fraction``: the API counts 0–1 (Runway), so ``1.0`` is 100, not 1. Elsewhere only a
    float strictly between 0 and 1 reads as a fraction."""
    if status == "succeeded":
        return 100
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int | float) and (0 <= value <= 1 if fraction else 0 < value < 1):
        number = value * 100
    elif isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip().rstrip("%").strip() or "nan")
        except ValueError:
            number = None
    if number is None or number != number:  # missing or NaN
        return {"pending": 0, "running": 30}.get(status, 0)
    return int(min(100.0, max(0.0, number)))


def is_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def find_url(value: Any, depth: int = 0) -> str | None:
    """The first video-like URL in a raw upstream body of unknown shape."""
    if depth > 6:
        return None
    if is_url(value):
        return str(value).strip()
    if isinstance(value, list):
        for item in value:
            if (found := find_url(item, depth + 1)) is not None:
                return found
    elif isinstance(value, dict):
        ranked = [k for k in _URL_KEYS if k in value]
        rest = [k for k in value if k not in _URL_KEYS and "thumb" not in str(k).lower()]
        for key in [*ranked, *rest]:
            if (found := find_url(value[key], depth + 1)) is not None:
                return found
    return None


def obj_at(obj: Any, *path: str | int) -> Any:
    """``obj[path0][path1]…`` or None, through dicts and lists alike."""
    for step in path:
        if isinstance(step, int) and isinstance(obj, list) and -len(obj) <= step < len(obj):
            obj = obj[step]
        elif isinstance(step, str) and isinstance(obj, dict):
            obj = obj.get(step)
        else:
            return None
    return obj


def task_id_of(obj: Any) -> str:
    """The task id of a submit answer in any of its shapes, or ``""``."""
    for path in (("task_id",), ("id",), ("data", "task_id"), ("data", "id"), ("data",)):
        value = obj_at(obj, *path)
        if isinstance(value, str | int) and not isinstance(value, bool) and as_text(value).strip():
            return as_text(value).strip()
    return ""


def require_task_id(obj: Any, what: str) -> str:
    """``task_id_of`` a submit answer; one without an id is an unexpected answer."""
    if task_id := task_id_of(obj):
        return task_id
    raise unexpected(what, obj)


def task_path(prefix: str, task_id: str) -> str:
    # Quoted whole: an id with a slash must not reach another route of the gateway.
    return f"{prefix}/{quote(task_id, safe='')}"


class GatewayAdapter:
    """What every adapter holds: the gateway client it submits and polls through."""

    def __init__(self, client: UpstreamClient) -> None:
        self._client = client
