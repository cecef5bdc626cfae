"""Sandbox moderation route: flags input that contains any of the configured words."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from bot.sandbox.upstream.wire import json_response


@dataclass(slots=True)
class ModerationState:
    # word -> category it is flagged under
    flagged_words: dict[str, str] = field(
        default_factory=lambda: {"kill": "violence", "血腥": "violence/graphic"}
    )
    # Seconds before each answer: a slow moderation service must not delay acknowledgements.
    delay: float = 0.0


MODERATION = web.AppKey("upstream_sandbox_moderation", ModerationState)


async def moderations(request: web.Request) -> web.Response:
    body = await request.json()
    if request.app[MODERATION].delay:
        await asyncio.sleep(request.app[MODERATION].delay)
    text = str(body.get("input", "")).casefold()
    hits = {cat for word, cat in request.app[MODERATION].flagged_words.items() if word in text}
    return json_response(
        {
            "id": "modr-sandbox",
            "model": body.get("model", "omni-moderation-latest"),
            "results": [
                {
                    "flagged": bool(hits),
                    "categories": {c: True for c in sorted(hits)},
                    "category_scores": {c: 0.99 for c in sorted(hits)},
                }
            ],
        }
    )


def setup(app: web.Application, state: ModerationState) -> None:
    app[MODERATION] = state
    app.router.add_post("/v1/moderations", moderations)
