"""GPTs lookup and search (upstream-api.md §1, "GPTs info endpoints").

The shapes are known only from sister gateways, so parsing is tolerant and every failure is an
UpstreamError the caller can fall back from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient
from bot.upstream.parsing import as_text


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


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


class GPTsClient:
    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def info(self, gizmo_id: str) -> GizmoInfo:
        body = await self.client.request_json("GET", "/v1/gpts/", params={"id": gizmo_id})
        gizmo = _dict(_dict(_data(body)).get("gizmo"))
        display = _dict(gizmo.get("display"))
        name = as_text(display.get("name")).strip()
        if not name:
            raise UpstreamFailure("the GPT lookup returned no name")
        # Sister gateways differ: an author object or a bare name, a list of starters or one.
        author = gizmo.get("author")
        if isinstance(author, dict):
            author = author.get("display_name")
        starters = display.get("prompt_starters")
        if isinstance(starters, str):
            starters = [starters]
        return GizmoInfo(
            id=as_text(gizmo.get("id")) or gizmo_id,
            name=name,
            description=as_text(display.get("description")),
            author=as_text(author),
            avatar_url=as_text(display.get("profile_picture_url")) or None,
            starters=tuple(
                s for s in (starters if isinstance(starters, list) else []) if as_text(s)
            ),
        )

    async def search(self, query: str) -> list[GizmoSearchResult]:
        body = await self.client.request_json("GET", "/v2/gpts/search", params={"query": query})
        results = _data(body)
        return [
            GizmoSearchResult(
                id=str(item.get("id") or ""),
                title=str(item.get("title") or item.get("id") or ""),
                description=str(item.get("description") or ""),
                link=str(item.get("link") or ""),
            )
            for item in (results if isinstance(results, list) else [])
            if isinstance(item, dict) and item.get("id")
        ]
