"""The upstream moderation route (``POST /v1/moderations``, OpenAI format)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient


@dataclass(frozen=True, slots=True)
class ModerationResult:
    flagged: bool
    categories: list[str] = field(default_factory=list)


class ModerationClient:
    def __init__(self, client: UpstreamClient, *, model: str = "omni-moderation-latest") -> None:
        self.client = client
        self.model = model

    async def check(self, text: str) -> ModerationResult:
        body = await self.client.request_json(
            "POST", "/v1/moderations", json={"model": self.model, "input": text}
        )
        self.client.raise_for_error_body(body)
        results: Any = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or not results or not isinstance(results[0], dict):
            raise UpstreamFailure("the moderation answer had no results")
        first = results[0]
        categories = first.get("categories") or {}
        names = (
            sorted(k for k, v in categories.items() if v) if isinstance(categories, dict) else []
        )
        return ModerationResult(bool(first.get("flagged")), names)
