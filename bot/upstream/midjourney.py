"""Midjourney through the gateway's ``/mj`` routes (upstream-api.md §2).

Submitting answers with a numeric ``code`` under HTTP 200; this module turns the codes that mean
"not accepted" into typed errors, so a caller only ever sees an accepted ``MJSubmit``. Tasks are
then polled with ``fetch``/``fetch_one`` and parsed tolerantly: a gateway that omits or garbles a
field yields a task with defaults, never an exception (the poller must keep going).
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from bot.errors import (
    BannedPrompt,
    NotOffered,
    QueueFull,
    RouteNotServed,
    SeedUnavailable,
    SubmitFailed,
    SubmitRejected,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
)
from bot.upstream.client import UpstreamClient
from bot.upstream.errors import BALANCE_CODES, MJ_SATURATED, split_request_id
from bot.upstream.parsing import TaskStatus, as_text, word

log = logging.getLogger(__name__)

MID_JOURNEY = "MID_JOURNEY"
NIJI_JOURNEY = "NIJI_JOURNEY"
BLEND_DIMENSIONS = frozenset({"PORTRAIT", "SQUARE", "LANDSCAPE"})

# Submit codes (midjourney-proxy ReturnCode, plus new-api's 30).
CODE_SUCCESS = 1
CODE_EXISTED = 21  # task exists, or waiting for the modal
CODE_IN_QUEUE = 22
CODE_QUEUE_FULL = 23
CODE_BANNED_PROMPT = 24
CODE_FAILURE = 9  # the proxy's own system failure, as opposed to 4 (the request was invalid)
ACCEPTED_CODES = frozenset({CODE_SUCCESS, CODE_EXISTED, CODE_IN_QUEUE})
MODAL_DESCRIPTION = "waiting for window confirm"

STATUSES = frozenset(
    {"NOT_START", "SUBMITTED", "MODAL", "IN_PROGRESS", "FAILURE", "SUCCESS", "CANCEL"}
)
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCEL"})

# The button actions stock new-api relays through /mj/submit/action (its customId → action
# mapping). Current Midjourney also shows Animate (MJ::JOB::animate_*), ❤️ (MJ::BOOKMARK::…)
# and video buttons, which it refuses with 400 unknown_action (upstream-api.md §7).
RELAYED_JOB_WORDS = ("upsample", "variation", "reroll", "pan_")
RELAYED_KINDS = frozenset({"Outpaint", "CustomZoom", "Inpaint"})

# novicezk's midjourney-proxy sends no buttons and has no /mj/submit/action: a grid's U1–U4,
# reroll and V1–V4 are made here, in Midjourney's customId form with this mark for the hash,
# and pressed through /mj/submit/change (upstream-api.md §7).
CHANGE_MARK = "atelier-change"
GRID_ACTIONS = frozenset({"IMAGINE", "VARIATION", "REROLL", "BLEND"})

# Actions whose result is numbered prompts, and how many: /describe four, /shorten five.
PROMPT_ACTIONS = {"DESCRIBE": 4, "SHORTEN": 5}
# Describe results: "1️⃣ prompt…\n\n2️⃣ prompt…"; the variation selector is sometimes missing.
_KEYCAP = re.compile(r"(?m)^\s*([1-5])\ufe0f?\u20e3\s*")
# A seed as Midjourney gives it: a whole number (shown to members as it is, so nothing else).
_SEED = re.compile(r"[0-9]{1,20}")
# Describe prompts link artist names: "[name](https://s.mj.run/…)" → "name".
_MD_LINK = re.compile(r"\[([^\]]*)\]\(\s*https?://[^)\s]*\s*\)")


@dataclass(frozen=True, slots=True)
class MJSubmit:
    """An accepted submit. ``modal`` means: call ``modal()`` with this ``task_id`` next."""

    task_id: str
    code: int
    modal: bool = False
    queued: int | None = None  # tasks ahead of this one (code 22)
    description: str = ""


@dataclass(frozen=True, slots=True)
class MJButton:
    custom_id: str
    label: str = ""
    emoji: str = ""


@dataclass(frozen=True, slots=True)
class MJTask(TaskStatus):
    """One task as the gateway reports it; build with ``MJTask.from_json``.

    ``status`` is one of ``STATUSES`` or ``""`` (new-api before its first poll, or a value this
    bot does not know). ``prompts`` holds the four prompts of a DESCRIBE result.
    """

    id: str
    action: str = ""
    status: str = ""
    progress: int = 0
    image_url: str | None = None
    fail_reason: str = ""
    prompt: str = ""
    final_prompt: str = ""
    buttons: list[MJButton] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)

    TERMINAL: ClassVar[frozenset[str]] = TERMINAL_STATUSES

    @property
    def needs_modal(self) -> bool:
        """Remix or Vary Region waits for ``MidjourneyClient.modal`` before it runs."""
        return self.status == "MODAL"

    @classmethod
    def from_json(cls, obj: Any) -> MJTask:
        """Parse a task object; never raises, whatever the shape."""
        if not isinstance(obj, dict):
            return cls(id="")
        props = obj.get("properties")
        props = props if isinstance(props, dict) else {}
        status = word(obj.get("status"), STATUSES)
        action = as_text(obj.get("action")).strip().upper()
        progress = cls.progress_of(obj.get("progress"), status)
        prompt = as_text(obj.get("prompt"))
        final_prompt = as_text(props.get("finalPrompt")) or as_text(obj.get("promptEn"))
        prompts: list[str] = []
        if action in PROMPT_ACTIONS:
            texts = (
                final_prompt,
                prompt,
                as_text(obj.get("promptEn")),
                as_text(obj.get("description")),
            )
            limit = PROMPT_ACTIONS[action]
            prompts = next((p for p in (describe_prompts(t, limit) for t in texts) if p), [])
        return cls(
            id=as_text(obj.get("id")),
            action=action,
            status=status,
            progress=progress,
            image_url=as_text(obj.get("imageUrl")).strip() or None,
            fail_reason=as_text(obj.get("failReason")),
            prompt=prompt,
            final_prompt=final_prompt,
            buttons=(
                _buttons(obj.get("buttons"))
                if "buttons" in obj or status != "SUCCESS" or action not in GRID_ACTIONS
                else change_buttons()
            ),
            prompts=prompts,
        )


def describe_prompts(text: str, limit: int = 4) -> list[str]:
    """The numbered prompts of a describe (``1️⃣ …`` to ``4️⃣ …``) or shorten (to ``5️⃣``)
    result, links flattened."""
    marks = list(_KEYCAP.finditer(text))
    prompts = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        prompt = " ".join(_MD_LINK.sub(r"\1", text[mark.end() : end]).split())
        if prompt:
            prompts.append(prompt)
    return prompts[:limit]


def data_uri(content: bytes, content_type: str | None = None) -> str:
    """An image as the ``data:<type>;base64,…`` string the submit routes take.

    Without ``content_type`` the type is read from the file's magic bytes (PNG, JPEG, GIF,
    WebP), falling back to PNG.
    """
    kind = content_type or _sniff_image_type(content)
    return f"data:{kind};base64,{base64.b64encode(content).decode('ascii')}"


def _sniff_image_type(content: bytes) -> str:
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return "image/png"


class MidjourneyClient:
    """Midjourney submits and polls over the shared ``UpstreamClient``.

    ``path_prefix`` selects a speed mode, e.g. ``"/mj-fast"`` for ``/mj-fast/mj/...``.
    """

    def __init__(self, client: UpstreamClient, *, path_prefix: str = "") -> None:
        prefix = path_prefix.strip().rstrip("/")
        if prefix and not prefix.startswith("/"):
            prefix = f"/{prefix}"
        self._client = client
        self._prefix = prefix

    def __repr__(self) -> str:
        return f"MidjourneyClient({self._client!r}, path_prefix={self._prefix!r})"

    async def imagine(
        self, prompt: str, *, images: Sequence[str] = (), niji: bool = False
    ) -> MJSubmit:
        """Start an IMAGINE; ``images`` are data URIs used as image prompts."""
        body = {"prompt": prompt, "base64Array": list(images), "botType": _bot_type(niji)}
        return await self._submit("imagine", body)

    async def action(self, task_id: str, custom_id: str) -> MJSubmit:
        """Press a button of a finished task (its ``MJButton.custom_id``, unchanged); one of
        ``change_buttons`` goes to /mj/submit/change instead."""
        parts = custom_id.split("::")
        if CHANGE_MARK in parts and len(parts) >= 4:
            word, index = parts[2], int(parts[3])
            kind = (
                "UPSCALE" if word == "upsample" else "REROLL" if word == "reroll" else "VARIATION"
            )
            body: dict[str, Any] = {"taskId": task_id, "action": kind}
            if kind != "REROLL":
                body["index"] = index
            return await self._submit("change", body)
        return await self._submit("action", {"taskId": task_id, "customId": custom_id})

    async def modal(self, task_id: str, prompt: str, mask_base64: str | None = None) -> MJSubmit:
        """Confirm a task waiting for its modal (code 21 or status MODAL); the mask is for
        Vary Region."""
        body: dict[str, Any] = {"taskId": task_id, "prompt": prompt}
        if mask_base64 is not None:
            body["maskBase64"] = mask_base64
        return await self._submit("modal", body)

    async def blend(self, images: Sequence[str], dimensions: str = "SQUARE") -> MJSubmit:
        """Blend 2–5 images (data URIs); ``dimensions`` is PORTRAIT, SQUARE or LANDSCAPE."""
        if dimensions not in BLEND_DIMENSIONS:
            raise ValueError(f"dimensions must be one of {sorted(BLEND_DIMENSIONS)}")
        body = {"base64Array": list(images), "dimensions": dimensions, "botType": MID_JOURNEY}
        return await self._submit("blend", body)

    async def describe(self, image: str) -> MJSubmit:
        """Ask for four prompts that describe an image (a data URI)."""
        return await self._submit("describe", {"base64": image, "botType": MID_JOURNEY})

    async def shorten(self, prompt: str) -> MJSubmit:
        """Ask for five shorter versions of a prompt (Midjourney's prompt analyzer)."""
        return await self._submit("shorten", {"prompt": prompt, "botType": MID_JOURNEY})

    async def swap_face(self, source: str, target: str) -> MJSubmit:
        """Put the face in ``source`` onto the person in ``target`` (both data URIs): an
        InsightFace task, polled like any other."""
        body = {"sourceBase64": source, "targetBase64": target}
        return await self._submit("swap face", body, "/mj/insight-face/swap")

    async def video(
        self, prompt: str, image: str, *, motion: str = "low", end_image: str | None = None
    ) -> MJSubmit:
        """Animate an image (a data URI or link) into a video task (trueai-org's proxy, relayed
        by new-api as ``mj_video``); ``motion`` is low or high. No ``taskId``: the proxy takes
        one only to extend an earlier video."""
        body: dict[str, Any] = {"prompt": prompt, "image": image, "motion": motion}
        if end_image is not None:
            body["endImage"] = end_image
        return await self._submit("video", body)

    async def image_seed(self, task_id: str) -> str:
        """The seed of a finished task's image (the gateway charges nothing for it).

        Raises ``SeedUnavailable`` when the proxy has none for this task (not finished, not an
        image of Midjourney's, or its seed lookup failed), and ``NotOffered`` when the server has
        no such route (novicezk's proxy answers its router's bare 404).
        """
        path = f"{self._prefix}/mj/task/{quote(task_id, safe='')}/image-seed"
        try:
            obj = await self._client.request_json("GET", path)
        except RouteNotServed:
            raise NotOffered("midjourney_seed") from None
        except UpstreamFailure as exc:
            if exc.status not in (400, 404):
                raise
            if exc.code is None:  # the router's 404, not the route's answer about a task
                raise NotOffered("midjourney_seed") from None
            raise SeedUnavailable(exc.detail, status=exc.status, code=exc.code) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("code"), int):
            self._client.raise_for_error_body(obj)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        seed = as_text(obj.get("result")).strip()
        if obj["code"] == CODE_SUCCESS and not _SEED.fullmatch(seed):
            log.warning("mj image-seed %s: not a seed: %r", task_id, seed[:40])
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        if obj["code"] != CODE_SUCCESS:
            detail, _ = split_request_id(self._client.redact(as_text(obj.get("description"))))
            raise SeedUnavailable(detail, status=200, code=str(obj["code"]))
        return seed

    async def fetch(self, ids: Sequence[str]) -> list[MJTask]:
        """Several tasks in one request; ids the gateway does not know are simply absent."""
        if not ids:
            return []
        path = f"{self._prefix}/mj/task/list-by-condition"
        obj = await self._client.request_json("POST", path, json={"ids": list(ids)})
        if not isinstance(obj, list):
            self._client.raise_for_error_body(obj)
            log.warning("mj list-by-condition: expected a list, got %s", type(obj).__name__)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        return [task for task in map(MJTask.from_json, obj) if task.id]

    async def fetch_one(self, task_id: str) -> MJTask:
        """One task by id."""
        path = f"{self._prefix}/mj/task/{quote(task_id, safe='')}/fetch"
        obj = await self._client.request_json("GET", path)
        if not isinstance(obj, dict):
            log.warning("mj fetch %s: expected an object, got %s", task_id, type(obj).__name__)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        self._client.raise_for_error_body(obj)
        code = obj.get("code")
        if "id" not in obj and isinstance(code, int) and not isinstance(code, bool):
            # A raw proxy's refusal (e.g. an unknown id) under HTTP 200, in the submit shape.
            detail, _ = split_request_id(self._client.redact(as_text(obj.get("description"))))
            raise UpstreamFailure(detail or "task not found", status=200, code=str(code))
        return MJTask.from_json(obj)

    async def _submit(self, kind: str, body: dict[str, Any], route: str = "") -> MJSubmit:
        path = f"{self._prefix}{route or f'/mj/submit/{kind}'}"
        try:
            obj = await self._client.request_json("POST", path, json=body)
        except UpstreamError as exc:
            # new-api's own validation (HTTP 400, e.g. task_status_not_success) means the task
            # never started and nothing was charged; balance and rate limits keep their class.
            if type(exc) is UpstreamFailure and exc.status == 400:
                raise SubmitRejected(
                    exc.detail, status=exc.status, code=exc.code, request_id=exc.request_id
                ) from None
            raise
        result = self._submit_result(kind, obj)
        log.info(
            "mj %s accepted: task %s code %s%s",
            kind,
            result.task_id,
            result.code,
            " (modal)" if result.modal else "",
        )
        return result

    def _submit_result(self, kind: str, obj: Any) -> MJSubmit:
        if not isinstance(obj, dict):
            log.warning("mj submit %s: expected an object, got %s", kind, type(obj).__name__)
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        code = obj.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            self._client.raise_for_error_body(obj)  # an OpenAI-shape error under HTTP 200
            log.warning("mj submit %s: no numeric code in %s", kind, sorted(obj)[:10])
            raise UpstreamFailure("the upstream sent an unexpected answer", status=200)
        props = obj.get("properties")
        props = props if isinstance(props, dict) else {}
        raw_description = self._client.redact(as_text(obj.get("description")))
        description, request_id = split_request_id(raw_description)
        if code not in ACCEPTED_CODES:
            raise self._rejection(kind, code, description, request_id, props)
        task_id = as_text(obj.get("result")).strip()
        if not task_id:
            log.warning("mj submit %s: code %s without a task id", kind, code)
            raise UpstreamFailure("the upstream accepted the task but sent no id", status=200)
        modal = code == CODE_EXISTED and _is_modal(description, props)
        queued = _int_or_none(props.get("numberOfQueues")) if code == CODE_IN_QUEUE else None
        return MJSubmit(task_id, code, modal=modal, queued=queued, description=description)

    def _rejection(
        self,
        kind: str,
        code: int,
        description: str,
        request_id: str | None,
        props: dict[str, Any],
    ) -> UpstreamError:
        detail = description or f"Midjourney code {code}"
        kw: dict[str, Any] = {"status": 200, "code": str(code), "request_id": request_id}
        error: UpstreamError
        if code == CODE_QUEUE_FULL:
            error = QueueFull(detail, **kw)
        elif code == CODE_BANNED_PROMPT:
            word = self._client.redact(as_text(props.get("bannedWord")))
            error = BannedPrompt(detail, word=word, **kw)
        elif description.strip().lower() in BALANCE_CODES:
            error = UpstreamInsufficientBalance(detail, **kw)
        elif code == MJ_SATURATED:
            error = UpstreamRateLimited(detail, **kw)
        elif code == CODE_FAILURE:
            error = SubmitFailed(detail, **kw)
        else:
            error = SubmitRejected(detail, **kw)
        log.warning(
            "mj submit %s refused: %s code=%s: %s", kind, type(error).__name__, code, detail
        )
        return error


def _is_modal(description: str, props: dict[str, Any]) -> bool:
    # Code 21 also means "this task already finished" (properties carry status and imageUrl);
    # that one is a normal result to poll, not a modal.
    return MODAL_DESCRIPTION in description.lower() or props.get("remix") is True


def _bot_type(niji: bool) -> str:
    return NIJI_JOURNEY if niji else MID_JOURNEY


def change_buttons() -> list[MJButton]:
    """U1–U4, reroll and V1–V4 of a grid from a proxy that sends no buttons (``CHANGE_MARK``)."""
    ups = [MJButton(f"MJ::JOB::upsample::{i}::{CHANGE_MARK}", f"U{i}") for i in range(1, 5)]
    reroll = MJButton(f"MJ::JOB::reroll::0::{CHANGE_MARK}::SOLO", "", "🔄")
    variations = [MJButton(f"MJ::JOB::variation::{i}::{CHANGE_MARK}", f"V{i}") for i in range(1, 5)]
    return [*ups, reroll, *variations]


def relayed(custom_id: str) -> bool:
    """Whether the gateway can press this button (see ``RELAYED_JOB_WORDS``)."""
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        return False
    if parts[1] == "JOB":
        return any(word in parts[2] for word in RELAYED_JOB_WORDS)
    return parts[1] in RELAYED_KINDS


def _buttons(value: Any) -> list[MJButton]:
    """The buttons a member may press: those the gateway relays, in Midjourney's order."""
    if not isinstance(value, list):
        return []
    buttons = []
    for item in value:
        if not isinstance(item, dict):
            continue
        custom_id = item.get("customId")
        if isinstance(custom_id, str) and custom_id and relayed(custom_id):
            buttons.append(
                MJButton(custom_id, as_text(item.get("label")), as_text(item.get("emoji")))
            )
    return buttons


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None
