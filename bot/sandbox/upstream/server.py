"""A local new-api-style gateway on 127.0.0.1 for tests and ``atelier demo``.

It composes route modules (``chat``, ``billing``; later Midjourney, Suno, video), each with a
small state object the test scripts. Around them sit what every gateway route shares: key
auth, a record of every request, injected faults, and a request id per request. The
``profile`` (a name in ``profiles.PROFILES``) makes it one gateway that admins run: the routes
it has, how it checks the key, and how it answers a route it lacks.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.sandbox.upstream import (
    audio,
    billing,
    chat,
    gpts,
    media,
    midjourney,
    moderation,
    suno,
    video,
)
from bot.sandbox.upstream.faults import preset
from bot.sandbox.upstream.mj_direct import direct_key
from bot.sandbox.upstream.profiles import Profile
from bot.sandbox.upstream.profiles import profile as gateway_profile
from bot.sandbox.upstream.wire import Body, BodyFactory, json_response, openai_error, tail

REQUEST_ID_HEADER = "X-Oneapi-Request-Id"
# Handlers that skip auth (e.g. new-api's /mj/image/{id}) are marked with this attribute.
PUBLIC_ATTR = "sandbox_public"


@dataclass(slots=True)
class SandboxRecord:
    """One request as the sandbox saw it. ``status`` is filled in when the answer starts."""

    t: float  # time.monotonic() on arrival
    method: str
    path: str
    query: dict[str, str]
    json: Any  # decoded JSON body, or None
    has_auth: bool  # an Authorization (or mj-api-secret) header was sent
    authorized: bool  # … and it carried the right key
    request_id: str
    status: int | None = None


@dataclass(slots=True)
class Injection:
    """A scripted answer for requests whose path matches ``pattern``; ``times=None`` = forever."""

    pattern: re.Pattern[str]
    status: int
    body: Body | BodyFactory
    times: int | None = 1
    method: str | None = None
    content_type: str | None = None  # for str bodies; default text/plain or text/html
    hits: int = 0

    def matches(self, request: web.Request) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != request.method:
            return False
        return self.pattern.search(request.path) is not None

    def response(self, request_id: str) -> web.Response:
        body = self.body(request_id) if callable(self.body) else self.body
        if isinstance(body, str):
            kind = self.content_type or (
                "text/html" if body.lstrip().startswith("<") else "text/plain"
            )
            return web.Response(status=self.status, text=body, content_type=kind)
        return json_response(body, status=self.status)


def public(handler: Any) -> Any:
    """Mark a route handler as needing no key."""
    setattr(handler, PUBLIC_ATTR, True)
    return handler


@dataclass(slots=True)
class _Runtime:
    runner: web.AppRunner
    base_url: str


@dataclass(eq=False)
class UpstreamSandbox:
    """Start with ``async with UpstreamSandbox() as sb`` and point a client at ``sb.base_url``."""

    api_key: str = "sk-sandbox"
    # union (everything, the default), new-api, one-api, mj-trueai or mj-novicezk.
    profile: str = "union"
    host: str = "127.0.0.1"
    port: int = 0
    chat: chat.ChatState = field(default_factory=chat.ChatState)
    billing: billing.BillingState = field(default_factory=billing.BillingState)
    gpts: gpts.GPTsState = field(default_factory=gpts.GPTsState)
    midjourney: midjourney.MidjourneyState = field(default_factory=midjourney.MidjourneyState)
    moderation: moderation.ModerationState = field(default_factory=moderation.ModerationState)
    media: media.MediaState = field(default_factory=media.MediaState)
    suno: suno.SunoState = field(default_factory=suno.SunoState)
    video: video.VideoState = field(default_factory=video.VideoState)
    audio: audio.AudioState = field(default_factory=audio.AudioState)
    records: list[SandboxRecord] = field(default_factory=list, init=False)
    injections: list[Injection] = field(default_factory=list, init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _runtime: _Runtime | None = field(default=None, init=False)
    # Requests being handled, by id(request): lets the prepare hook find the record without
    # per-request storage (web.RequestKey needs aiohttp 3.14).
    _live: dict[int, SandboxRecord] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.gateway: Profile = gateway_profile(self.profile)
        self.gateway.apply(self.states())

    def states(self) -> dict[str, Any]:
        """The route families' state objects, by family name (what profiles set knobs on)."""
        return {
            "chat": self.chat, "billing": self.billing, "gpts": self.gpts,
            "midjourney": self.midjourney, "moderation": self.moderation, "media": self.media,
            "suno": self.suno, "video": self.video, "audio": self.audio,
        }  # fmt: skip

    def __repr__(self) -> str:
        return f"UpstreamSandbox(base_url={self._runtime.base_url if self._runtime else None!r})"

    @property
    def base_url(self) -> str:
        if self._runtime is None:
            raise RuntimeError("the sandbox is not started")
        return self._runtime.base_url

    def build_app(self) -> web.Application:
        # Room for a 25 MB audio upload (the transcription route's own limit answers past it).
        app = web.Application(middlewares=[_gateway_middleware], client_max_size=27 * 1024 * 1024)
        app[SANDBOX] = self
        app.on_response_prepare.append(_on_prepare)
        chat.setup(app, self.chat)
        billing.setup(app, self.billing)
        gpts.setup(app, self.gpts)
        midjourney.setup(app, self.midjourney)
        moderation.setup(app, self.moderation)
        media.setup(app, self.media)
        suno.setup(app, self.suno)
        video.setup(app, self.video)
        audio.setup(app, self.audio)
        return app

    async def start(self) -> str:
        """Listen on ``host:port`` (0 = a free port) and return the base URL."""
        if self._runtime is not None:
            return self._runtime.base_url
        # Cancel handlers whose client went away (a stalled stream must not outlive the test),
        # and don't wait long for in-flight requests on close.
        runner = web.AppRunner(
            self.build_app(), handler_cancellation=True, access_log=None, shutdown_timeout=0.1
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        host, port = runner.addresses[0][:2]
        self._runtime = _Runtime(runner, f"http://{host}:{port}")
        return self._runtime.base_url

    async def close(self) -> None:
        if self._runtime is not None:
            runtime, self._runtime = self._runtime, None
            await runtime.runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def inject(
        self,
        path_regex: str,
        status: int,
        body: Body | BodyFactory,
        times: int | None = 1,
        *,
        method: str | None = None,
        content_type: str | None = None,
    ) -> Injection:
        """Answer the next ``times`` matching requests with ``status`` and ``body``.

        ``body`` is a dict (sent as JSON), a str (sent as text, HTML or ``content_type``, e.g. a
        hand-written ``text/event-stream``), or a callable taking the request id. Earlier
        injections win over later ones.
        """
        injection = Injection(re.compile(path_regex), status, body, times, method, content_type)
        self.injections.append(injection)
        return injection

    def inject_error(
        self,
        name: str,
        *,
        path_regex: str = ".*",
        times: int | None = 1,
        method: str | None = None,
    ) -> Injection:
        """Inject a documented error (see ``faults.PRESETS``), e.g. ``"insufficient_balance"``."""
        chosen = preset(name)
        return self.inject(path_regex, chosen.status, chosen.body, times, method=method)

    def requests_to(self, path: str) -> list[SandboxRecord]:
        return [r for r in self.records if r.path == path]

    def next_request_id(self) -> str:
        # new-api ids look like a timestamp plus random digits; sequential keeps tests readable.
        return f"20250101000000{next(self._ids):06d}sandbox"

    def check_key(self, request: web.Request) -> tuple[bool, bool]:
        """``(header present, key correct)``: a midjourney-proxy reached directly checks /mj
        requests its own way (``midjourney.proxy``); everything else as the profile's server."""
        if (direct := direct_key(self.midjourney.proxy, request, self.api_key)) is not None:
            return direct
        return self.gateway.check_key(request, self.api_key)


SANDBOX = web.AppKey("upstream_sandbox", UpstreamSandbox)


@web.middleware
async def _gateway_middleware(
    request: web.Request, handler: web.RequestHandler
) -> web.StreamResponse:
    sandbox = request.app[SANDBOX]
    has_auth, authorized = sandbox.check_key(request)
    record = SandboxRecord(
        t=time.monotonic(),
        method=request.method,
        path=request.path,
        query=dict(request.query),
        json=await _json_or_none(request),
        has_auth=has_auth,
        authorized=authorized,
        request_id=sandbox.next_request_id(),
    )
    sandbox.records.append(record)
    sandbox._live[id(request)] = record
    try:
        if not sandbox.gateway.serves(request.path) or (
            sandbox.gateway.routes
            and isinstance(request.match_info.http_exception, web.HTTPNotFound)
        ):
            # Before auth, as a router without the route would: the console page needs no key.
            response = sandbox.gateway.missing_route(request)
        else:
            response = sandbox.gateway.reshape(
                request, await _answer(sandbox, request, handler, record)
            )
    except web.HTTPException as exc:
        _stamp(record, exc)
        raise
    finally:
        sandbox._live.pop(id(request), None)
    if not response.prepared:
        _stamp(record, response)
    return response


async def _answer(
    sandbox: UpstreamSandbox,
    request: web.Request,
    handler: web.RequestHandler,
    record: SandboxRecord,
) -> web.StreamResponse:
    if not record.authorized and not getattr(handler, PUBLIC_ATTR, False):
        message = "无效的令牌" if record.has_auth else "未提供令牌"
        return json_response(openai_error(tail(message, record.request_id)), status=401)
    for injection in sandbox.injections:
        if injection.matches(request):
            injection.hits += 1
            return injection.response(record.request_id)
    return await handler(request)


async def _on_prepare(request: web.Request, response: web.StreamResponse) -> None:
    # Streaming handlers prepare their response themselves, while the middleware still waits.
    record = request.app[SANDBOX]._live.get(id(request))
    if record is not None:
        _stamp(record, response)


def _stamp(record: SandboxRecord, response: web.StreamResponse | web.HTTPException) -> None:
    record.status = response.status
    response.headers[REQUEST_ID_HEADER] = record.request_id


async def _json_or_none(request: web.Request) -> Any:
    if not request.can_read_body or request.content_type != "application/json":
        return None
    try:
        return json.loads(await request.read())
    except ValueError:
        return None
