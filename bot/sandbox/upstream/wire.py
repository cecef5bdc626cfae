"""Shared wire helpers of the sandbox gateway: JSON writing and the three error body shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")
Body = dict[str, Any] | str
BodyFactory = Callable[[str], Body]


def tail(message: str, request_id: str, *, fullwidth: bool = False) -> str:
    """Append new-api's request-id tail (full-width brackets as some localized builds do)."""
    if fullwidth:
        return f"{message}（request id: {request_id}）"
    return f"{message} (request id: {request_id})"


def json_response(body: Any, *, status: int = 200) -> web.Response:
    """JSON as Go's encoder writes it: UTF-8 text, not ``\\u`` escapes."""
    return web.json_response(body, status=status, dumps=partial(json.dumps, ensure_ascii=False))


def openai_error(
    message: str, *, code: str | None = "", type: str = "new_api_error"
) -> dict[str, Any]:
    """The OpenAI-style error body used by ``/v1/*`` and by every auth or routing failure."""
    return {"error": {"message": message, "type": type, "param": "", "code": code}}


def mj_error(code: int, description: str) -> dict[str, Any]:
    return {"code": code, "description": description, "type": "upstream_error"}


def task_error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": None}


def listed(tasks: Mapping[str, T], body: Mapping[str, Any]) -> list[T]:
    """The tasks a fetch-by-ids body names (``ids``): the known ones, in the body's order."""
    ids = body.get("ids")
    return [
        tasks[i]
        for i in (ids if isinstance(ids, list) else [])
        if isinstance(i, str) and i in tasks
    ]
