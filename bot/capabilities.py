"""What the gateway serves, for the commands to offer only that (issue 13, upstream-api.md §7).

Discovery (``bot.upstream.capabilities``) runs in a background task at start and every
``upstream.capabilities.refresh_minutes``: it never delays the start or an acknowledgement.
Until it has answered, or for a family whose probe could not tell, a family counts as served;
the operator's pins (``served``/``not_served``) win over both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from types import MappingProxyType

from bot.errors import NotOffered
from bot.upstream.capabilities import FAMILIES, Answer, CapabilitiesConfig, Discovery, discover
from bot.upstream.client import UpstreamClient

log = logging.getLogger(__name__)

# Which family serves a configured model's adapter (image, video and song models).
ADAPTER_FAMILIES: Mapping[str, str] = MappingProxyType(
    {"midjourney": "midjourney", "images": "images", "chat": "chat", "unified": "unified",
     "kling": "kling", "luma": "luma", "runway": "runway", "sora": "sora", "suno": "suno",
     "mj_video": "midjourney_video"}
)  # fmt: skip


class Capabilities:
    """The families and models the gateway serves; ``served`` never waits for the network."""

    def __init__(self, client: UpstreamClient, config: CapabilitiesConfig) -> None:
        self._client = client
        self._config = config
        self._found: Discovery | None = None
        self._task: asyncio.Task[None] | None = None
        self._discovered = asyncio.Event()

    @property
    def models(self) -> tuple[str, ...] | None:
        """The models ``/v1/models`` listed at the last discovery; None before, or without one."""
        return self._found.models if self._found else None

    def answer(self, family: str) -> Answer:
        """What the last discovery found for ``family`` (UNKNOWN before the first)."""
        return self._found.answers.get(family, Answer.UNKNOWN) if self._found else Answer.UNKNOWN

    def served(self, family: str) -> bool:
        pinned = self._config.pinned(family)
        if pinned is not None:
            return pinned
        return self.answer(family) is not Answer.NOT_SERVED

    def require(self, family: str) -> None:
        """Raise ``NotOffered`` (a private answer, nothing held) when ``family`` is not served."""
        if not self.served(family):
            raise NotOffered(family)

    def adapter_served(self, adapter: str) -> bool:
        """Whether a configured model with this adapter can be offered."""
        return self.served(ADAPTER_FAMILIES.get(adapter, adapter))

    def require_adapter(self, adapter: str) -> None:
        self.require(ADAPTER_FAMILIES.get(adapter, adapter))

    def table(self) -> list[tuple[str, str, str]]:
        """``(family, answer, where it comes from)`` for every family, for ``atelier doctor``."""
        rows = []
        for family in FAMILIES:
            pinned = self._config.pinned(family)
            if pinned is None:
                rows.append((family, str(self.answer(family)), "discovered"))
            else:
                rows.append((family, "served" if pinned else "not served", "pinned in config"))
        return rows

    async def refresh(self) -> Discovery:
        """Probe the gateway now and keep the answer."""
        found = await discover(self._client)
        self._found = found
        self._discovered.set()
        missing = [f for f, a in found.answers.items() if a is Answer.NOT_SERVED]
        log.info("gateway capabilities: not served: %s", ", ".join(missing) or "none")
        return found

    async def wait_discovered(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Wait (bounded) for the first discovery; False if it has not answered in time."""
        try:
            await asyncio.wait_for(self._discovered.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Discover now and every ``refresh_minutes``, in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="capability-discovery")

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a bug in a probe must not end discovery for good
                log.exception("capability discovery failed; keeping the last answer")
            await asyncio.sleep(self._config.refresh_minutes * 60)
