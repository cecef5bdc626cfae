"""Limits that belong to the bot token, not to one process, counted in Redis when configured.

Discord's global limit (50 requests a second) is per token, across every process and shard, so
the channel-write budget must be one budget however many processes stream. The per-member
request limit is likewise one limit per member. Both are kept in one Redis that every process
reaches (``[redis] url``); each decision is one round trip running a Lua script, so it is
atomic across processes and uses Redis's clock, not each machine's.

When Redis cannot be reached, a process falls back to its own share: the write budget times the
fraction of the shards it serves, and the member window in its own memory (Discord routes a
guild to one shard, so a member's requests mostly reach one process anyway). It says so once
in the log, and once more when Redis answers again.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# How long a failed Redis stays out of use before the next attempt: a store that is down
# must not add a timeout to every write.
RETRY_AFTER = 5.0
# A process that stops refreshing its count of streams is forgotten after this many seconds.
STREAMS_TTL = 5.0

# Generic cell rate: `next` is the earliest free slot (ms, Redis time). A caller takes the slot
# max(now, next) and moves `next` one interval on; it then waits until its slot. The key lives
# a little longer than the slots reserved on it.
_RESERVE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local interval = tonumber(ARGV[1])
local nxt = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, nxt)
redis.call('SET', KEYS[1], tostring(slot + interval), 'PX', math.ceil(slot - now + interval) + 1000)
return tostring(slot - now)
"""

# A sliding minute of request times per member: drop the old, refuse at the limit (answering
# how many ms until the oldest leaves the window), else record this one.
_ADMIT = """
local t = redis.call('TIME')
local now = t[1] * 1000 + t[2] / 1000
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(tonumber(oldest[2]) + window - now)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return '-1'
"""

# Each process's count of active streams, with an expiry per process: set ours, forget the
# processes that stopped refreshing, answer the total.
_STREAMS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, pid in ipairs(stale) do redis.call('HDEL', KEYS[2], pid) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local total = 0
for _, n in ipairs(redis.call('HVALS', KEYS[2])) do total = total + tonumber(n) end
return total
"""


class SharedStore:
    """One Redis shared by every process of one bot; None-returning verbs mean "fall back"."""

    def __init__(
        self,
        url: str,
        *,
        scope: str,
        timeout: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The scope names the bot (a digest of its token) so that two bots on one Redis never
        # share a budget, and a token never appears in Redis in the clear.
        self.prefix = "atelier:" + hashlib.sha256(scope.encode()).hexdigest()[:16]
        self.process = uuid.uuid4().hex
        self._redis = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        self._reserve = self._redis.register_script(_RESERVE)
        self._admit = self._redis.register_script(_ADMIT)
        self._streams = self._redis.register_script(_STREAMS)
        self._clock = clock
        self._down_until = 0.0
        self._warned = False

    @property
    def available(self) -> bool:
        """False while a recent failure keeps Redis out of use."""
        return self._clock() >= self._down_until

    async def close(self) -> None:
        await self._redis.aclose()

    async def reserve_write(self, per_second: float) -> float | None:
        """Seconds to wait for the next slot of the token's write budget, or None to fall back."""
        answer = await self._call(self._reserve, [f"{self.prefix}:writes"], [1000.0 / per_second])
        return None if answer is None else float(answer) / 1000.0

    async def admit_member(
        self, guild_id: int, user_id: int, limit: int, window: float
    ) -> float | None:
        """Count one request of a member: 0.0 when admitted, else seconds until a slot frees;
        None to fall back."""
        answer = await self._call(
            self._admit,
            [f"{self.prefix}:member:{guild_id}:{user_id}"],
            [window * 1000.0, limit, uuid.uuid4().hex],
        )
        if answer is None:
            return None
        wait = float(answer)
        return 0.0 if wait < 0 else wait / 1000.0

    async def count_streams(self, active: int) -> int | None:
        """Publish this process's active streams; the total over every live process."""
        answer = await self._call(
            self._streams,
            [f"{self.prefix}:streams:ttl", f"{self.prefix}:streams"],
            [self.process, active, STREAMS_TTL],
        )
        return None if answer is None else int(answer)

    async def _call(self, script: object, keys: list[str], args: list[object]) -> bytes | None:
        if not self.available:
            return None
        try:
            answer = await script(keys=keys, args=args)  # type: ignore[operator]
        except (RedisError, OSError) as exc:
            self._down_until = self._clock() + RETRY_AFTER
            if not self._warned:
                self._warned = True
                log.warning(
                    "redis unreachable (%s); each process keeps its own share of the write "
                    "budget and counts member limits alone until it answers",
                    type(exc).__name__,
                )
            return None
        if self._warned:
            self._warned = False
            log.info("redis answers again; limits are shared across processes")
        return answer
