"""JSON responses and Discord-shaped errors shared by every sandbox route."""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from aiohttp import web

# Messages Discord puts next to its JSON error codes; the sandbox uses the same wording so a
# bot's error handling can be tested against realistic bodies.
ERROR_MESSAGES: Mapping[int, str] = MappingProxyType(
    {
        0: "General error",
        10002: "Unknown Application",
        10003: "Unknown Channel",
        10004: "Unknown Guild",
        10007: "Unknown Member",
        10008: "Unknown Message",
        10011: "Unknown Role",
        10013: "Unknown User",
        10015: "Unknown Webhook",
        10062: "Unknown interaction",
        10063: "Unknown application command",
        40005: "Request entity too large",
        40060: "Interaction has already been acknowledged.",
        50001: "Missing Access",
        50005: "Cannot edit a message authored by another user",
        50006: "Cannot send an empty message",
        50013: "Missing Permissions",
        50027: "Invalid Webhook Token",
        50035: "Invalid Form Body",
        50159: "Voice messages do not support additional content.",
        50160: "Voice messages must have a single audio attachment.",
        50161: "Voice messages must have supporting metadata.",
        50162: "Voice messages cannot be edited.",
        50173: "You cannot send voice messages in this channel.",
        160004: "A thread has already been created for this message",
    }
)


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response whose Content-Type is exactly `application/json`.

    `web.json_response` appends `; charset=utf-8`, and discord.py then treats the body as text.
    """
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


class DiscordError(Exception):
    """Raised by a handler; the middleware turns it into Discord's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        errors: dict[str, Any] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, f"{status}: error")
        self.errors = errors
        super().__init__(f"{status} {code} {self.message}")

    def body(self) -> dict[str, Any]:
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def form_error(path: list[str | int], code: str, message: str) -> dict[str, Any]:
    """Discord's nested `errors` object for one failing field of a 50035 Invalid Form Body."""
    node: dict[str, Any] = {"_errors": [{"code": code, "message": message}]}
    for key in reversed(path):
        node = {str(key): node}
    return node


def merge_errors(target: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Merge two nested error objects so several failing fields are reported together."""
    for key, value in extra.items():
        if key in target and isinstance(target[key], dict) and isinstance(value, dict):
            if key == "_errors":
                continue
            merge_errors(target[key], value)
        elif key == "_errors" and key in target:
            target[key].extend(value)
        else:
            target[key] = value
    return target


def invalid_form(errors: dict[str, Any]) -> DiscordError:
    return DiscordError(400, 50035, errors=errors)
