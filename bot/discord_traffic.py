"""Watches the bot's own Discord HTTP traffic for 429s, so streams can widen their pacing.

discord.py retries 429s internally and tells its caller nothing; an aiohttp trace on the bot's
session (``Client(http_trace=…)``) sees every answer, interaction webhooks included.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import aiohttp


class DiscordTraffic:
    def __init__(self) -> None:
        self.rate_limited: Counter[str] = Counter()
        self.requests = 0
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_end.append(self._on_request_end)

    async def _on_request_end(
        self,
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        self.requests += 1
        if params.response.status == 429:
            self.rate_limited[params.url.path] += 1

    def count_429(self, path_suffix: str) -> int:
        """429s received on routes whose path ends with ``path_suffix``."""
        return sum(n for path, n in self.rate_limited.items() if path.endswith(path_suffix))

    @property
    def total_429(self) -> int:
        return sum(self.rate_limited.values())
