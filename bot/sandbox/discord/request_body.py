"""Reading a REST request body the way Discord does: JSON, or multipart with payload_json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .responses import DiscordError


@dataclass
class Upload:
    field: str
    filename: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class Body:
    json: Any = None
    uploads: list[Upload] = field(default_factory=list)

    def object(self) -> dict[str, Any]:
        """The JSON body as an object; Discord answers 400 for anything else."""
        if self.json is None:
            return {}
        if not isinstance(self.json, dict):
            raise DiscordError(400, 50035, "Invalid Form Body")
        return self.json

    def files_summary(self) -> list[dict[str, Any]]:
        return [
            {
                "field": u.field,
                "filename": u.filename,
                "size": len(u.data),
                "content_type": u.content_type,
            }
            for u in self.uploads
        ]


BODY_KEY = web.RequestKey("atelier_sandbox_body", Body)


async def read_body(request: web.Request) -> Body:
    if not request.body_exists:
        return Body()
    ctype = request.content_type
    if ctype == "application/json":
        raw = await request.read()
        try:
            return Body(json=json.loads(raw) if raw else None)
        except ValueError:
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
    if ctype.startswith("multipart/"):
        return await _read_multipart(request)
    await request.read()
    return Body()


async def _read_multipart(request: web.Request) -> Body:
    form = await request.post()
    body = Body()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            body.uploads.append(Upload(name, value.filename, value.content_type, value.file.read()))
        elif name == "payload_json":
            try:
                body.json = json.loads(value)
            except ValueError:
                raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
    return body
