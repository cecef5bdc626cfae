"""The aiohttp application: one middleware records every REST call and applies, in Discord's
order, unknown-route 404s, injected faults, the token check and the rate limits."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .ratelimit import FaultTable, RateLimiter, Verdict, ratelimit_headers, ratelimited_body
from .request_body import BODY_KEY, Body, read_body
from .responses import DiscordError, json_response
from .settings import API_PREFIX, Settings
from .state import Clock

_log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Routes that authenticate with the token in the path; Discord also keeps them out of the
# global rate limit.
TOKEN_IN_PATH = ("webhook_token", "interaction_token")
_REGEX_PART = re.compile(r"\{(\w+):[^}]+\}")
# Uploads can be up to 25 MiB per file and 10 files; aiohttp's default cap is 1 MiB.
MAX_REQUEST_BYTES = 300 * 1024 * 1024


def route_template(request: web.Request) -> str | None:
    """`/channels/{channel_id}/messages` for a matched API route, None when nothing matched."""
    info = request.match_info
    if info.http_exception is not None or info.route.resource is None:
        return None
    canonical = _REGEX_PART.sub(r"{\1}", info.route.resource.canonical)
    if not canonical.startswith(API_PREFIX):
        return None
    return canonical[len(API_PREFIX) :]


def major_parameter(info: dict[str, str]) -> str:
    """The part of the path that splits a route's bucket, as Discord's major parameters do."""
    if "channel_id" in info:
        return info["channel_id"]
    if "guild_id" in info:
        return info["guild_id"]
    if "webhook_token" in info:
        return f"{info['webhook_id']}/{info['webhook_token']}"
    if "interaction_token" in info:
        return f"{info['interaction_id']}/{info['interaction_token']}"
    return ""


class Recorder:
    """Builds the middleware; owns nothing but references to the sandbox's parts."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        limiter: RateLimiter,
        faults: FaultTable,
        records: list[dict[str, Any]],
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.limiter = limiter
        self.faults = faults
        self.records = records

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith(API_PREFIX + "/"):
            return await handler(request)  # the websocket and the CDN are not REST calls
        path = request.path[len(API_PREFIX) :]
        record: dict[str, Any] = {
            "t": self.clock.now(),
            "method": request.method,
            "path": path,
            "route": route_template(request),
            "query": dict(request.query),
            "json": None,
            "files": [],
            "auth": request.headers.get("Authorization"),
            "status": None,
            "injected": False,
            "bucket": None,
            "is_global": False,
            "code": None,
        }
        self.records.append(record)
        try:
            body = await read_body(request)
        except DiscordError as exc:
            body, early = Body(), exc
        else:
            early = None
        request[BODY_KEY] = body
        record["json"], record["files"] = body.json, body.files_summary()
        response = await self._answer(request, record, handler, early)
        if self.settings.latency > 0:
            await asyncio.sleep(self.settings.latency)
        record["status"] = response.status
        return response

    async def _answer(
        self,
        request: web.Request,
        record: dict[str, Any],
        handler: Handler,
        early: DiscordError | None,
    ) -> web.StreamResponse:
        if record["route"] is None:
            status = (
                405
                if isinstance(request.match_info.http_exception, web.HTTPMethodNotAllowed)
                else 404
            )
            text = "405: Method Not Allowed" if status == 405 else "404: Not Found"
            return json_response({"message": text, "code": 0}, status)
        fault = self.faults.take(request.method, record["path"], bool(record["files"]))
        if fault is not None:
            record["injected"], record["is_global"] = True, fault.is_global
            record["code"] = fault.body().get("code")
            response = json_response(fault.body(), fault.status)
            response.headers.update(fault.headers(self.clock.epoch()))
            return response
        info = request.match_info
        token_route = any(k in info for k in TOKEN_IN_PATH)
        if not token_route and record["auth"] != f"Bot {self.settings.token}":
            return json_response({"message": "401: Unauthorized", "code": 0}, 401)
        route_key = f"{request.method} {record['route']}"
        # Counted when it arrived, as Discord's edge would: reading a large upload takes time.
        verdict = self.limiter.check(
            route_key, major_parameter(dict(info)), record["t"], global_exempt=token_route
        )
        record["bucket"] = verdict.bucket
        if not verdict.allowed:
            record["is_global"] = verdict.is_global
            # The major parameter (a channel or guild id) says which guild, hence which shard
            # and process, earned it.
            _log.info(
                "429 %s on %s at %.3f s", "global" if verdict.is_global else "bucket",
                verdict.bucket, record["t"],
            )  # fmt: skip
            response = json_response(ratelimited_body(verdict.reset_after, verdict.is_global), 429)
        else:
            response = await self._call(handler, request, record, early)
        self._headers(response, verdict)
        return response

    async def _call(
        self,
        handler: Handler,
        request: web.Request,
        record: dict[str, Any],
        early: DiscordError | None,
    ) -> web.StreamResponse:
        try:
            if early is not None:
                raise early
            return await handler(request)
        except DiscordError as exc:
            record["code"] = exc.code
            return json_response(exc.body(), exc.status)
        except Exception as exc:
            # A sandbox bug, not a Discord behaviour: keep it visible in the record and the log.
            _log.exception("sandbox handler failed for %s %s", request.method, request.path)
            record["error"] = repr(exc)
            return json_response({"message": "500: Internal Server Error", "code": 0}, 500)

    def _headers(self, response: web.StreamResponse, verdict: Verdict) -> None:
        response.headers.update(ratelimit_headers(verdict, self.clock.epoch()))


def build_app(
    recorder: Recorder, add_routes: list[Callable[[web.UrlDispatcher, str], None]], gateway: Handler
) -> web.Application:
    app = web.Application(middlewares=[recorder.middleware], client_max_size=MAX_REQUEST_BYTES)
    for add in add_routes:
        add(app.router, API_PREFIX)
    app.router.add_get("/gateway", gateway)
    return app
