"""Frames given as links: the sandbox's video services download them, as the real ones do.

Kling (``image``, ``image_tail``), Luma (``image_url``, ``image_end_url``), Runway
(``promptImage``) and the unified route (``image``) take a frame as bytes or as an http(s) link;
given a link, the service itself downloads the image. A link it cannot open (an expired or
unsigned Discord attachment link answers 404) fails: the sandbox opens every link it is given,
so a bot that passed on a link that would not open fails here as it would in production.
Atelier itself sends bytes (it downloads each frame first), so its requests carry no links.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import aiohttp

FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)


async def unopenable_frame(body: dict[str, Any], fields: Iterable[str]) -> str:
    """Why a frame given as a link in ``body`` cannot be used ("" when all open as images)."""
    links = [
        (field, value)
        for field in fields
        if isinstance(value := body.get(field), str) and value.startswith(("http://", "https://"))
    ]
    if not links:
        return ""
    async with aiohttp.ClientSession(timeout=FETCH_TIMEOUT) as http:
        for field, link in links:
            try:
                async with http.get(link) as response:
                    kind = response.headers.get("Content-Type", "")
                    status = response.status
                    if status != 200 or not kind.startswith("image/"):
                        return f"{field}: the image could not be downloaded (HTTP {status})"
            except (aiohttp.ClientError, TimeoutError):
                return f"{field}: the image could not be downloaded"
    return ""
