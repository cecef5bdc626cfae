"""Gateway profiles: the routes the sandbox serves and how it answers the rest (upstream-api §7).

``union`` is everything §1–6 describe (the OpenAI Next family), the default. The others are what
server admins actually run: stock new-api, one-api, and midjourney-proxy reached directly (the
trueai-org and novicezk builds). A profile decides three things the bot can trip over:

- the routes it has; a route it lacks answers as that server's router does (new-api and one-api:
  ``200 text/html``, the console page; ``/v1/...`` a JSON 404 ``Invalid URL``; the proxies a 404);
- how a key is checked (trueai compares the raw header, so ``Bearer sk-…`` never matches;
  novicezk reads only ``mj-api-secret``);
- answers that differ in shape (new-api's ``400 task_not_exist`` for an unknown video task,
  novicezk's task objects without ``buttons``).

Explicit behaviours of one route family stay settings on that family's state object; a profile
only sets them (``Profile.apply``), so a test can still turn one knob on top of a profile.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from aiohttp import web

from bot.sandbox.upstream.wire import json_response, openai_error, task_error

AuthMode = Literal["gateway", "raw", "mj-secret"]

# The sandbox's stand-ins for CDNs and file hosts: another host in real life, so every profile
# "serves" them (they are not the gateway's routes).
_FILE_HOSTS = r"^/(files|video/files|suno/cdn|suno/audiopipe)(/|$)"
_MJ = r"^(/mj-(fast|relax|turbo))?/mj/"
_CHAT = r"^/v1/(chat/completions|models)$"
_OPENAI_MEDIA = r"^/v1/(images/generations|moderations|audio/(speech|transcriptions))$"
_BILLING = r"^(/v1)?/dashboard/billing/(subscription|usage)$"
_TOKEN_USAGE = r"^/api/usage/token/?$"
_NEW_API_VIDEO = r"^/(kling/v1/videos/|v1/videos(/|$)|v1/video/generations(/|$))"
_SUNO = r"^/suno/"
# Not stock anywhere but the union: GPTs info/search (/v1/gpts, /v2/gpts), Luma, Runway.
# A video task fetch by id (not a submit, not the content route).
_VIDEO_TASK = re.compile(
    r"^/(kling/v1/videos/(text2video|image2video)/[^/]+|v1/videos/[^/]+|"
    r"v1/video/generations/[^/]+)$"
)
_MJ_TASK_OBJECTS = re.compile(r"^/mj/task/([^/]+/fetch|list-by-condition)$")

# What new-api's and one-api's router answer for a path they have no route for: the web console.
CONSOLE_PAGE = (
    '<!doctype html><html lang="zh"><head><meta charset="utf-8"/>'
    '<title>New API</title></head><body><div id="root"></div>'
    '<script type="module" src="/assets/index.js"></script></body></html>'
)


@dataclass(frozen=True, slots=True)
class Profile:
    """One kind of gateway: the routes it has, how it checks a key, how it answers the rest."""

    name: str
    routes: tuple[str, ...]  # regexes on the path; () = every route (union)
    auth: AuthMode = "gateway"
    # How a path without a route is answered: "console" (new-api/one-api), "spring" (novicezk),
    # "empty" (trueai's 404 without a body).
    missing: Literal["console", "spring", "empty"] = "console"
    # new-api answers an unknown video task with 400 task_not_exist, not 404.
    task_not_exist_400: bool = False
    # novicezk's task objects carry no buttons (and it has no /mj/submit/action).
    mj_buttons: bool = True
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, default=())

    def __post_init__(self) -> None:
        patterns = (*self.routes, _FILE_HOSTS) if self.routes else ()
        object.__setattr__(self, "_compiled", tuple(re.compile(p) for p in patterns))

    def serves(self, path: str) -> bool:
        return not self._compiled or any(p.search(path) for p in self._compiled)

    def apply(self, states: Mapping[str, Any]) -> None:
        """Set this profile's explicit behaviours on the route families' state objects."""
        for family, values in self.settings.items():
            for knob, value in values.items():
                setattr(states[family], knob, value)

    def check_key(self, request: web.Request, api_key: str) -> tuple[bool, bool]:
        """``(a credential was sent, it is the right one)`` as this server checks it."""
        headers = request.headers
        secret = headers.get("mj-api-secret")
        if self.auth == "mj-secret":  # novicezk: only its own header
            return secret is not None, secret == api_key
        if self.auth == "raw":  # trueai: the raw Authorization header, or mj-api-secret
            sent = headers.get("Authorization") or secret
            return sent is not None, sent == api_key
        header = headers.get("Authorization")
        if header is None and request.path.startswith("/mj"):
            header = secret
        if header is None:
            return False, False
        # new-api and one-api: the "Bearer " and "sk-" prefixes are both optional.
        token = header.removeprefix("Bearer ").strip().removeprefix("sk-")
        return True, bool(token) and token == api_key.removeprefix("sk-")

    def missing_route(self, request: web.Request) -> web.Response:
        """The answer of this server's router to a path it has no route for."""
        if self.missing == "spring":
            body = {"timestamp": "2026-12-01T00:00:00.000+00:00", "status": 404,
                    "error": "Not Found", "path": request.path}  # fmt: skip
            return json_response(body, status=404)
        if self.missing == "empty":
            return web.Response(status=404)
        if request.path.startswith("/v1/"):
            # The relay router's own fallback (RelayNotFound).
            message = f"Invalid URL ({request.method} {request.path})"
            error = openai_error(message, type="invalid_request_error")
            return json_response(error, status=404)
        return web.Response(status=200, text=CONSOLE_PAGE, content_type="text/html")

    def reshape(self, request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
        """Turn the union's answer into this server's where the two differ in shape."""
        if not isinstance(response, web.Response) or response.body is None:
            return response
        path = request.path
        if self.task_not_exist_400 and response.status == 404 and _VIDEO_TASK.match(path):
            return json_response(task_error("task_not_exist", "task_not_exist"), status=400)
        if not self.mj_buttons and response.status == 200 and _MJ_TASK_OBJECTS.match(path):
            return json_response(_without_buttons(_decoded(response)))
        return response


def _decoded(response: web.Response) -> Any:
    return json.loads(bytes(response.body))  # type: ignore[arg-type]


def _without_buttons(body: Any) -> Any:
    if isinstance(body, list):
        return [_without_buttons(item) for item in body]
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k != "buttons"}
    return body


PROFILES: Mapping[str, Profile] = MappingProxyType(
    {
        "union": Profile("union", ()),
        "new-api": Profile(
            "new-api",
            (_CHAT, _OPENAI_MEDIA, _BILLING, _TOKEN_USAGE, _NEW_API_VIDEO, _SUNO, _MJ),
            task_not_exist_400=True,
            # Current Midjourney upscales carry Animate and ❤️, which stock new-api refuses.
            settings={
                "midjourney": {"current_buttons": True},
                "video": {"unknown_task_style": "task_not_exist"},
            },
        ),
        "one-api": Profile("one-api", (_CHAT, _OPENAI_MEDIA, _BILLING)),
        "mj-trueai": Profile(
            "mj-trueai",
            (r"^/mj/",),
            auth="raw",
            missing="empty",
            settings={"midjourney": {"proxy": "trueai", "current_buttons": True}},
        ),
        "mj-novicezk": Profile(
            "mj-novicezk",
            # Its task routes are fetch, queue, list and list-by-condition: no image-seed.
            (
                r"^/mj/(submit/(imagine|change|simple-change|blend|describe|modal)$|"
                r"task/([^/]+/fetch|queue|list|list-by-condition)$|image/)",
            ),
            auth="mj-secret",
            missing="spring",
            mj_buttons=False,
            settings={"midjourney": {"proxy": "novicezk"}},
        ),
    }
)

# Which command families each profile offers, as the tests and the doctor table expect them.
OFFERS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "union": frozenset({"chat", "gpts", "midjourney", "midjourney_actions",
                            "midjourney_shorten", "midjourney_seed", "midjourney_swap_face",
                            "midjourney_video", "suno", "kling",
                            "luma", "runway", "sora", "unified", "images", "audio", "transcription",
                            "moderation", "billing"}),
        "new-api": frozenset({"chat", "midjourney", "midjourney_actions", "midjourney_shorten",
                              "midjourney_seed", "midjourney_swap_face", "midjourney_video",
                              "suno", "kling", "sora",
                              "unified", "images", "audio", "transcription", "moderation",
                              "billing"}),
        "one-api": frozenset({"chat", "images", "audio", "transcription", "moderation",
                              "billing"}),
        "mj-trueai": frozenset({"midjourney", "midjourney_actions", "midjourney_shorten",
                                "midjourney_seed", "midjourney_swap_face",
                                "midjourney_video"}),
        "mj-novicezk": frozenset({"midjourney"}),
    }
)  # fmt: skip


def profile(name: str) -> Profile:
    """Look up a profile by name, listing the valid names when it is unknown."""
    try:
        return PROFILES[name]
    except KeyError:
        known = sorted(PROFILES)
        raise KeyError(f"unknown gateway profile {name!r}; choose from {known}") from None
