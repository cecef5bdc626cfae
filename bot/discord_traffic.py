"""Watches the bot's own Discord HTTP traffic for 429s and bucket sizes, so streams can pace.

discord.py retries 429s internally and tells its caller nothing; an aiohttp trace on the bot's
session (``Client(http_trace=…)``) sees every answer, interaction webhooks included.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace

import aiohttp

_API_PREFIX = re.compile(r"^/api/v\d+")
_WEBHOOK = re.compile(r"^/webhooks/\d+/[^/]+")
_ID = re.compile(r"/\d+(?=/|$)")


def route_of(method: str, path: str) -> str:
    """``PATCH /channels/{id}/messages/{id}``: a request's route with ids and tokens masked."""
    path = _WEBHOOK.sub("/webhooks/{id}/{token}", _API_PREFIX.sub("", path))
    return f"{method} {_ID.sub('/{id}', path)}"


@dataclass(frozen=True, slots=True)
class Bucket:
    """What Discord's headers tell of a route's bucket: ``limit`` requests per ``period`` s."""

    limit: int
    period: float


class DiscordTraffic:
    def __init__(self) -> None:
        self.rate_limited: Counter[str] = Counter()
        self.requests = 0
        # By route (see route_of), so the table stays as small as the set of routes used.
        self.buckets: dict[str, Bucket] = {}
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_end.append(self._on_request_end)

    async def _on_request_end(
        self,
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        self.requests += 1
        response = params.response
        if response.status == 429:
            self.rate_limited[params.url.path] += 1
            return
        self._learn(route_of(params.method, params.url.path), response.headers)

    def _learn(self, route: str, headers: Mapping[str, str]) -> None:
        limit, reset_after = (
            headers.get("X-RateLimit-Limit"),
            headers.get("X-RateLimit-Reset-After"),
        )
        if limit is None or reset_after is None:
            return
        try:
            bucket = Bucket(int(limit), float(reset_after))
        except ValueError:
            return
        # Reset-After is the whole window on a window's first request and less afterwards.
        known = self.buckets.get(route)
        if known is None or known.limit != bucket.limit or known.period < bucket.period:
            self.buckets[route] = bucket

    def bucket(self, route: str) -> Bucket | None:
        """The bucket last seen on ``route`` (``route_of`` form), if any response showed it."""
        return self.buckets.get(route)

    def count_429(self, path_suffix: str) -> int:
        """429s received on routes whose path ends with ``path_suffix``."""
        return sum(n for path, n in self.rate_limited.items() if path.endswith(path_suffix))

    @property
    def total_429(self) -> int:
        return sum(self.rate_limited.values())
