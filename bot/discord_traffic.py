"""The bot's own Discord HTTP traffic: spends the token's request budget and watches for 429s.

discord.py retries 429s internally and tells its caller nothing; an aiohttp trace on the bot's
session (``Client(http_trace=…)``) sees every answer, interaction webhooks included. The same
trace is the one place every request passes right before it leaves, each retry included, so it
is where a request that Discord counts against the global limit waits for its slot of the
budget.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import aiohttp
from multidict import CIMultiDict

from bot.write_budget import WriteBudget


def counts_globally(headers: CIMultiDict[str]) -> bool:
    """Whether Discord counts a request against the bot's global limit.

    The limit belongs to the token: a request carries it in ``Authorization``. Interaction
    callbacks, follow-ups and webhooks authenticate by the token in their path and carry none
    (Discord keeps interaction endpoints out of the global limit); neither do the gateway's
    websocket and the CDN.
    """
    return headers.get("Authorization", "").startswith("Bot ")


class DiscordTraffic:
    def __init__(self, budget: WriteBudget | None = None) -> None:
        self.rate_limited: Counter[str] = Counter()
        self.requests = 0
        self.budget = budget
        self.trace_config = aiohttp.TraceConfig()
        self.trace_config.on_request_start.append(self._on_request_start)
        self.trace_config.on_request_end.append(self._on_request_end)

    async def _on_request_start(
        self,
        _session: aiohttp.ClientSession,
        _context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        if self.budget is not None and counts_globally(params.headers):
            await self.budget.acquire()

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
