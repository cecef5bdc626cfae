"""Honest rate limits (per bucket and global) and injected faults.

A bucket is one (method + route template, major parameter) pair, as on Discord. Each window
opens with the first request after the previous one closed and lasts `window` seconds.

The global limit is "50 requests a second" for the token, and Discord does not say how it lines
up its seconds. The sandbox counts it over a sliding second (no second anywhere may hold more
than the limit): the strictest reading, so a bot that passes here passes any window Discord may
use, where a window opened by the first request would let 2 x 50 through across its edge.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .responses import ERROR_MESSAGES


@dataclass
class Window:
    limit: int
    period: float
    opened: float | None = None
    used: int = 0

    def _roll(self, now: float) -> None:
        if self.opened is not None and now >= self.opened + self.period:
            self.opened, self.used = None, 0

    def take(self, now: float) -> bool:
        self._roll(now)
        if self.used >= self.limit:
            return False
        if self.opened is None:
            self.opened = now
        self.used += 1
        return True

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(0, self.limit - self.used)

    def reset_after(self, now: float) -> float:
        self._roll(now)
        return self.period if self.opened is None else max(0.0, self.opened + self.period - now)


@dataclass
class SlidingWindow:
    """At most ``limit`` requests in any ``period`` seconds: the times of those still inside."""

    limit: int
    period: float
    times: deque[float] = field(default_factory=deque)

    def _drop(self, now: float) -> None:
        while self.times and self.times[0] <= now - self.period:
            self.times.popleft()

    def take(self, now: float) -> bool:
        if self.remaining(now) == 0:
            return False
        self.times.append(now)
        return True

    def remaining(self, now: float) -> int:
        self._drop(now)
        return max(0, self.limit - len(self.times))

    def reset_after(self, now: float) -> float:
        """Seconds until one more request fits: when the one that fills the limit leaves."""
        self._drop(now)
        if len(self.times) < self.limit:
            return 0.0
        return max(0.0, self.times[len(self.times) - self.limit] + self.period - now)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    bucket: str
    bucket_hash: str
    limit: int
    remaining: int
    reset_after: float
    is_global: bool = False


def bucket_hash(route_key: str) -> str:
    """A stable, distinct hash per route template, like Discord's X-RateLimit-Bucket."""
    return hashlib.sha1(route_key.encode()).hexdigest()[:32]


class RateLimiter:
    def __init__(self, bucket_limit: int, bucket_window: float, global_limit: int) -> None:
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.global_limit = global_limit
        self._buckets: dict[str, Window] = {}
        self._global = SlidingWindow(global_limit, 1.0)
        self.sent_429: dict[str, int] = {}

    def set_bucket_limit(self, limit: int, window: float) -> None:
        """Change the limit of every bucket, including those already in use."""
        self.bucket_limit, self.bucket_window = limit, window
        for bucket in self._buckets.values():
            bucket.limit, bucket.period = limit, window

    def set_global_limit(self, limit: int) -> None:
        self.global_limit = self._global.limit = limit

    def check(self, route_key: str, major: str, now: float, *, global_exempt: bool) -> Verdict:
        """Count one request; the verdict says whether to answer it or send a 429."""
        key = f"{route_key}|{major}"
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Window(self.bucket_limit, self.bucket_window)
        digest = bucket_hash(route_key)
        if not global_exempt and self._global.remaining(now) == 0:
            self.sent_429[key] = self.sent_429.get(key, 0) + 1
            return Verdict(
                False, key, digest, self.global_limit, 0, self._global.reset_after(now), True
            )
        if not bucket.take(now):
            self.sent_429[key] = self.sent_429.get(key, 0) + 1
            return Verdict(False, key, digest, bucket.limit, 0, bucket.reset_after(now))
        if not global_exempt:
            self._global.take(now)
        return Verdict(
            True, key, digest, bucket.limit, bucket.remaining(now), bucket.reset_after(now)
        )


def _ceil_ms(seconds: float) -> float:
    # Rounding down would let a client that sleeps exactly this long arrive a fraction of a
    # millisecond before the window closes and earn a 429 it did nothing to deserve.
    return math.ceil(seconds * 1000) / 1000


def ratelimit_headers(verdict: Verdict, epoch_now: float) -> dict[str, str]:
    reset_after = _ceil_ms(verdict.reset_after)
    headers = {
        "X-RateLimit-Limit": str(verdict.limit),
        "X-RateLimit-Remaining": str(verdict.remaining),
        "X-RateLimit-Reset": f"{epoch_now + reset_after:.3f}",
        "X-RateLimit-Reset-After": f"{reset_after:.3f}",
        "X-RateLimit-Bucket": verdict.bucket_hash,
        "Via": "1.1 google",
    }
    if not verdict.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(reset_after)))
        headers["X-RateLimit-Scope"] = "global" if verdict.is_global else "user"
        if verdict.is_global:
            headers["X-RateLimit-Global"] = "true"
    return headers


def ratelimited_body(retry_after: float, is_global: bool) -> dict[str, Any]:
    return {
        "message": "You are being rate limited.",
        "retry_after": max(_ceil_ms(retry_after), 0.001),
        "global": is_global,
    }


@dataclass
class Fault:
    """One injected failure: answer `times` matching calls after letting `skip` through."""

    method: str
    pattern: re.Pattern[str]
    status: int = 429
    times: int = 1
    skip: int = 0
    retry_after: float = 0.25
    is_global: bool = False
    code: int | None = None
    message: str | None = None
    # Only calls that upload files (True) or that upload none (False): "may not attach files".
    with_files: bool | None = None
    # Discord's ``errors`` tree of a 400 50035, naming each refused field.
    errors: dict[str, Any] | None = None
    seen: int = 0
    fired: int = 0

    def matches(self, method: str, path: str, has_files: bool = False) -> bool:
        if self.with_files is not None and self.with_files != has_files:
            return False
        return self.method in ("*", method) and self.pattern.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.fired >= self.times

    def body(self) -> dict[str, Any]:
        if self.status == 429:
            return ratelimited_body(self.retry_after, self.is_global)
        code = self.code if self.code is not None else 0
        default = ERROR_MESSAGES.get(code) if code else None
        body = {"message": self.message or default or _status_text(self.status), "code": code}
        return {**body, "errors": self.errors} if self.errors else body

    def headers(self, epoch_now: float) -> dict[str, str]:
        if self.status != 429:
            return {"Via": "1.1 google"}
        verdict = Verdict(False, "injected", "injected", 1, 0, self.retry_after, self.is_global)
        return ratelimit_headers(verdict, epoch_now)


def _status_text(status: int) -> str:
    names = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
        504: "Gateway Timeout",
    }
    return f"{status}: {names.get(status, 'Error')}"


class FaultTable:
    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str, has_files: bool = False) -> Fault | None:
        """The fault that answers this call, if any; consumes one use of it."""
        for fault in self.faults:
            if fault.exhausted or not fault.matches(method, path, has_files):
                continue
            fault.seen += 1
            if fault.seen <= fault.skip:
                continue
            fault.fired += 1
            return fault
        return None
