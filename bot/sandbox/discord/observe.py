"""What tests read from a sandbox: REST records, gateway frames, messages, and waits on them.

A mixin for `DiscordSandbox`, kept apart so the facade stays about wiring and actions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .interactions import InteractionHandle
from .mentions import mentions_pinged
from .state import Message, Store

# Waits poll: cheap, and immune to missed wake-ups.
POLL_INTERVAL = 0.005


class Observations:
    # The waits take `timeout=` (ASYNC109) because that is the API the project's tests use.

    records: list[dict[str, Any]]
    gateway_log: list[dict[str, Any]]
    store: Store

    def count_429(self, route: str | None = None, *, injected: bool | None = None) -> int:
        """429s sent; `route` matches a record's route template or "METHOD template"."""
        return sum(
            1
            for r in self.records
            if r["status"] == 429
            and (route is None or route in (r["route"], f"{r['method']} {r['route']}"))
            and (injected is None or r["injected"] == injected)
        )

    def unknown_routes(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["route"] is None]

    async def _poll(self, check: Callable[[], Any], seconds: float, what: str) -> Any:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            result = check()
            if result:
                return result
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError(f"timed out after {seconds}s waiting for {what}")
            await asyncio.sleep(POLL_INTERVAL)

    async def wait_for(
        self,
        pred: Callable[[dict[str, Any]], bool],
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Wait until `count` finished REST records match; returns them."""

        def check() -> list[dict[str, Any]] | None:
            hits = [r for r in self.records if r["status"] is not None and pred(r)]
            return hits[:count] if len(hits) >= count else None

        return await self._poll(check, timeout, f"{count} matching REST call(s)")

    async def wait_for_gateway(
        self,
        pred: Callable[[dict[str, Any]], bool],
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        def check() -> list[dict[str, Any]] | None:
            hits = [f for f in self.gateway_log if pred(f)]
            return hits[:count] if len(hits) >= count else None

        return await self._poll(check, timeout, f"{count} matching gateway frame(s)")

    def messages(
        self, channel_id: int, *, include_deleted: bool = False, include_threads: bool = False
    ) -> list[Message]:
        """Messages in a channel or thread, oldest first, ephemeral ones included."""
        return self.store.channel_messages(
            channel_id, include_deleted=include_deleted, include_threads=include_threads
        )

    def message(self, message_id: int) -> Message:
        return self.store.message(message_id)

    async def wait_for_message(
        self,
        pred: Callable[[Message], bool],
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> Message:
        def check() -> Message | None:
            return next((m for m in self.store.messages.values() if pred(m)), None)

        return await self._poll(check, timeout, "a matching message")

    def interaction_messages(self, handle: InteractionHandle) -> list[Message]:
        """The interaction's original response (if it made one) and its followups."""
        ids = [handle.original_message_id, *handle.followup_ids]
        return [self.store.messages[i] for i in dict.fromkeys(ids) if i in self.store.messages]

    @staticmethod
    def mentions_pinged(message: Message) -> bool:
        return mentions_pinged(message)

    def synced_commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        return self.commands.list(guild_id)
