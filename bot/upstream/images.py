"""The OpenAI-style images route (``POST /v1/images/generations``): dall-e-3, gpt-image-…"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    url: str | None = None
    b64: str | None = None  # gpt-image models answer with base64 only
    revised_prompt: str = ""


class ImagesClient:
    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def generate(
        self, model: str, prompt: str, *, size: str | None = None
    ) -> list[GeneratedImage]:
        body: dict[str, Any] = {"model": model, "prompt": prompt, "n": 1}
        if size:
            body["size"] = size
        answer = await self.client.request_json("POST", "/v1/images/generations", json=body)
        self.client.raise_for_error_body(answer)
        data = answer.get("data") if isinstance(answer, dict) else None
        images = [
            GeneratedImage(
                url=item.get("url") or None,
                b64=item.get("b64_json") or None,
                revised_prompt=str(item.get("revised_prompt") or ""),
            )
            for item in data or []
            if isinstance(item, dict) and (item.get("url") or item.get("b64_json"))
        ]
        if not images:
            raise UpstreamFailure("the images route returned no image")
        return images
