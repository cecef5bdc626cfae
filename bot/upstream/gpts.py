"""GPTs lookup and search (upstream-api.md §1, "GPTs info endpoints").

The shapes are known only from sister gateways, so parsing is tolerant and every failure is an
UpstreamError the caller can fall back from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient


@dataclass(frozen=True, slots=True)
class GizmoInfo:
    id: str
    name: str
    description: str
    author: str
    avatar_url: str | None
    starters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GizmoSearchResult:
    id: str
    title: str
    description: str
    link: str


def _data(body: Any) -> Any:
    if not isinstance(body, dict) or body.get("code") not in (0, "0", "success", None):
        message = body.get("msg") if isinstance(body, dict) else None
        raise UpstreamFailure(str(message or "unexpected GPTs answer"))
    return body.get("data")


class GPTsClient:
    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def info(self, gizmo_id: str) -> GizmoInfo:
        body = await self.client.request_json("GET", "/v1/gpts/", params={"id": gizmo_id})
        gizmo = (_data(body) or {}).get("gizmo") or {}
        display = gizmo.get("display") or {}
        name = str(display.get("name") or "").strip()
        if not name:
            raise UpstreamFailure("the GPT lookup returned no name")
        return GizmoInfo(
            id=str(gizmo.get("id") or gizmo_id),
            name=name,
            description=str(display.get("description") or ""),
            author=str((gizmo.get("author") or {}).get("display_name") or ""),
            avatar_url=display.get("profile_picture_url") or None,
            starters=tuple(str(s) for s in display.get("prompt_starters") or [] if s),
        )

    async def search(self, query: str) -> list[GizmoSearchResult]:
        body = await self.client.request_json("GET", "/v2/gpts/search", params={"query": query})
        results = _data(body) or []
        return [
            GizmoSearchResult(
                id=str(item.get("id") or ""),
                title=str(item.get("title") or item.get("id") or ""),
                description=str(item.get("description") or ""),
                link=str(item.get("link") or ""),
            )
            for item in results
            if isinstance(item, dict) and item.get("id")
        ]
