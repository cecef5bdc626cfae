"""Which API families and models the gateway serves, found with one cheap call per family.

Gateways differ (upstream-api.md §7): stock new-api has no Luma, Runway or GPTs routes, one-api
has only the OpenAI-style ones, a midjourney-proxy reached directly has only ``/mj``. A route a
server lacks is answered by its router, not by the route: new-api and one-api send their web
console (``200 text/html``), a ``/v1/...`` path they lack gets a JSON 404 ``Invalid URL``, the
proxies a bare or Spring-style 404. A route that exists answers a fake task id with an error *in
its own shape* (``task_not_exist``, ``task_not_found``…): that means "served". A 401 means the
key, not the route, is the problem.

Every probe is a GET on a task route with an id no task has, or a POST with an empty body the
route refuses before it charges anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.errors import UpstreamError
from bot.upstream.client import UpstreamClient

log = logging.getLogger(__name__)

PROBE_ID = "atelier-capability-probe"


class Answer(StrEnum):
    SERVED = "served"
    NOT_SERVED = "not served"
    KEY_REJECTED = "key rejected"
    UNKNOWN = "unknown"  # not asked yet, or the gateway failed (5xx, network): assume served


@dataclass(frozen=True, slots=True)
class Probe:
    method: str
    path: str
    body: Any = None


# One probe per family, in the order the doctor's table lists them. Midjourney's actions are
# read from two answers (see ``_mj_actions``), so they have no probe of their own.
PROBES: Mapping[str, Probe] = MappingProxyType(
    {
        "chat": Probe("GET", "/v1/models"),
        # Without the trailing slash the bot's lookups use: the same route, told apart in logs.
        "gpts": Probe("GET", f"/v1/gpts?id=g-{PROBE_ID}"),
        "midjourney": Probe("GET", f"/mj/task/{PROBE_ID}/fetch"),
        "suno": Probe("GET", f"/suno/fetch/{PROBE_ID}"),
        "kling": Probe("GET", f"/kling/v1/videos/text2video/{PROBE_ID}"),
        "luma": Probe("GET", f"/luma/generations/{PROBE_ID}"),
        "runway": Probe("GET", f"/runwayml/v1/tasks/{PROBE_ID}"),
        "sora": Probe("GET", f"/v1/videos/{PROBE_ID}"),
        "unified": Probe("GET", f"/v1/video/generations/{PROBE_ID}"),
        "images": Probe("POST", "/v1/images/generations", {}),
        "audio": Probe("POST", "/v1/audio/speech", {}),
        # Voice in's route, probed apart from speech: a relay may serve one and not the other.
        # An empty JSON body is refused (the route wants a multipart file) before anything runs.
        "transcription": Probe("POST", "/v1/audio/transcriptions", {}),
        "moderation": Probe("POST", "/v1/moderations", {}),
        # The alias without /v1: the same route, and the bot's own balance checks stay countable.
        "billing": Probe("GET", "/dashboard/billing/subscription"),
    }
)
# A direct midjourney-proxy answers a GET on a POST route it has with 405; one it lacks, 404.
# novicezk has neither /mj/submit/action (only /mj/submit/change) nor /mj/submit/shorten, nor
# the seed and InsightFace routes; trueai answers a seed for no task with its own JSON 404.
MJ_ROUTES: Mapping[str, Probe] = MappingProxyType(
    {
        "midjourney_actions": Probe("GET", "/mj/submit/action"),
        "midjourney_shorten": Probe("GET", "/mj/submit/shorten"),
        "midjourney_seed": Probe("GET", f"/mj/task/{PROBE_ID}/image-seed"),
        "midjourney_swap_face": Probe("GET", "/mj/insight-face/swap"),
    }
)
# Midjourney video (/mj/submit/video) is newer than the rest of /mj, so it is asked on gateways
# too: builds without it answer their console page. A taskId no task has is refused by new-api
# before anything is relayed or charged; trueai-org's proxy checks its EnableVideo setting, then
# the (missing) prompt, and starts nothing either way.
MJ_VIDEO = "midjourney_video"
MJ_VIDEO_PROBE = Probe("POST", "/mj/submit/video", {"taskId": PROBE_ID})
MJ_VIDEO_OFF = "视频功能未启用"  # trueai-org's answer while EnableVideo is off
FAMILIES: tuple[str, ...] = (*PROBES, *MJ_ROUTES, MJ_VIDEO)
ALL_PROBES: tuple[Probe, ...] = (*PROBES.values(), *MJ_ROUTES.values(), MJ_VIDEO_PROBE)


class CapabilitiesConfig(BaseModel):
    """``[upstream.capabilities]``: how often to discover, and the operator's pins."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Minutes between discoveries of what the gateway serves (also once at start).
    refresh_minutes: float = Field(60.0, gt=0)
    # Families taken as served / not served whatever discovery finds.
    served: list[str] = Field(default_factory=list)
    not_served: list[str] = Field(default_factory=list)

    @field_validator("served", "not_served")
    @classmethod
    def _families(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown families {unknown}; choose from {list(FAMILIES)}")
        return value

    @model_validator(mode="after")
    def _not_both(self) -> CapabilitiesConfig:
        both = sorted(set(self.served) & set(self.not_served))
        if both:
            raise ValueError(f"served, not_served: {both} cannot be in both")
        return self

    def pinned(self, family: str) -> bool | None:
        """The operator's answer for ``family``, or None to go by discovery."""
        if family in self.served:
            return True
        return False if family in self.not_served else None


@dataclass(frozen=True, slots=True)
class Discovery:
    """What one round of probes found: an answer per family, and the models listed."""

    answers: Mapping[str, Answer]
    models: tuple[str, ...] | None  # None: /v1/models gave no list


def classify(status: int, content_type: str, body: bytes) -> Answer:
    """Read one probe's answer (see the module docstring)."""
    if status == 401:
        return Answer.KEY_REJECTED
    decoded = _json(body)
    if status >= 500:
        return Answer.SERVED if decoded is not None else Answer.UNKNOWN
    if "html" in content_type or body.lstrip()[:1] == b"<":
        return Answer.NOT_SERVED
    if status == 405:
        return Answer.SERVED
    if status == 404 and (decoded is None or _router_not_found(decoded)):
        return Answer.NOT_SERVED
    return Answer.SERVED if decoded is not None else Answer.UNKNOWN


def _json(body: bytes) -> Any:
    try:
        return json.loads(body) if body.strip() else None
    except ValueError:
        return None


def _router_not_found(body: Any) -> bool:
    """A 404 from the router rather than from the route: new-api/one-api's ``Invalid URL``,
    Spring's ``{"status":404,"error":"Not Found","path":…}``."""
    if not isinstance(body, dict):
        return True
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message", "")).startswith("Invalid URL")
    return error == "Not Found" and "path" in body


async def discover(client: UpstreamClient) -> Discovery:
    """Probe every family at once; a family whose probe fails on the network is UNKNOWN."""
    names = list(PROBES)
    results = await asyncio.gather(*(_ask(client, PROBES[n]) for n in names))
    answers = {name: answer for name, (answer, _) in zip(names, results, strict=True)}
    models = _models(results[names.index("chat")][1])
    for family, probe in MJ_ROUTES.items():
        answers[family] = await _mj_route(client, answers, probe)
    answers[MJ_VIDEO] = await _mj_video(client, answers["midjourney"])
    return Discovery(MappingProxyType(answers), models)


async def _mj_video(client: UpstreamClient, midjourney: Answer) -> Answer:
    """Whether /mj/submit/video starts videos here (see ``MJ_VIDEO_PROBE``)."""
    if midjourney is not Answer.SERVED:
        return midjourney
    answer, body = await _ask(client, MJ_VIDEO_PROBE)
    description = body.get("description") if isinstance(body, dict) else None
    return Answer.NOT_SERVED if description == MJ_VIDEO_OFF else answer


async def _ask(client: UpstreamClient, probe: Probe) -> tuple[Answer, Any]:
    try:
        status, kind, body = await client.probe(probe.method, probe.path, json=probe.body)
    except UpstreamError as exc:
        log.info("capability probe %s %s failed: %s", probe.method, probe.path, exc)
        return Answer.UNKNOWN, None
    answer = classify(status, kind, body)
    log.debug("capability probe %s %s -> %s (%s)", probe.method, probe.path, status, answer)
    return answer, _json(body) if status == 200 else None


async def _mj_route(client: UpstreamClient, answers: Mapping[str, Answer], probe: Probe) -> Answer:
    """A gateway (it answers /v1/models) relays every Midjourney route it knows; a proxy
    reached directly has the route or not."""
    midjourney = answers["midjourney"]
    if midjourney is not Answer.SERVED:
        return midjourney
    if answers["chat"] is Answer.SERVED:
        return Answer.SERVED
    answer, _ = await _ask(client, probe)
    return answer


def _models(body: Any) -> tuple[str, ...] | None:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return tuple(str(m["id"]) for m in data if isinstance(m, dict) and m.get("id"))
