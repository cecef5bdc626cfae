"""Synced application commands: store what the bot PUTs, validate it as Discord would, and
find the definition an injected interaction refers to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .command_rules import CHAT_INPUT, SUB_COMMAND, SUB_COMMAND_GROUP, sync_errors
from .responses import form_error, invalid_form
from .state import Snowflakes


@dataclass(frozen=True)
class Found:
    """An invocable command: its top-level definition, the leaf that takes the options,
    the subcommand path, and the guild it was synced to (None if global)."""

    command: dict[str, Any]
    leaf: dict[str, Any]
    path: tuple[str, ...]
    guild_id: int | None


class CommandRegistry:
    def __init__(self, ids: Snowflakes, application_id: int) -> None:
        self._ids = ids
        self.application_id = application_id
        self._scopes: dict[int | None, list[dict[str, Any]]] = {}
        # Discord keeps a command's id when a bulk overwrite re-sends the same name and type.
        self._known_ids: dict[tuple[int | None, int, str], int] = {}

    def list(self, guild_id: int | None) -> list[dict[str, Any]]:
        return list(self._scopes.get(guild_id, []))

    def put(self, guild_id: int | None, payload: Any) -> list[dict[str, Any]]:
        """Bulk overwrite one scope; raises 400 50035 like Discord on invalid definitions."""
        if not isinstance(payload, list):
            raise invalid_form(form_error([], "BASE_TYPE_ARRAY", "Must be an array."))
        if errors := sync_errors(payload):
            raise invalid_form(errors)
        stored = []
        for raw in payload:
            ctype = int(raw.get("type") or CHAT_INPUT)
            key = (guild_id, ctype, raw["name"])
            cid = self._known_ids.get(key) or self._ids.next()
            self._known_ids[key] = cid
            cmd = {
                "description": "",
                "options": [],
                "default_member_permissions": None,
                "nsfw": False,
                "name_localizations": None,
                "description_localizations": None,
                **raw,
                "id": str(cid),
                "application_id": str(self.application_id),
                "version": str(self._ids.next()),
                "type": ctype,
            }
            if cmd["default_member_permissions"] is not None:
                cmd["default_member_permissions"] = str(cmd["default_member_permissions"])
            if guild_id is not None:
                cmd["guild_id"] = str(guild_id)
            stored.append(cmd)
        self._scopes[guild_id] = stored
        return list(stored)

    def find(self, guild_id: int | None, words: list[str]) -> Found:
        """Resolve "group sub cmd" words; guild commands shadow global ones of the same name."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self._scopes.get(scope, []):
                if cmd["type"] == CHAT_INPUT and cmd["name"] == words[0]:
                    return Found(cmd, _leaf(cmd, words), tuple(words[1:]), scope)
        where = f"guild {guild_id} or globally" if guild_id is not None else "globally"
        raise LookupError(f"/{words[0]} has not been synced {where}")


def _leaf(cmd: dict[str, Any], words: list[str]) -> dict[str, Any]:
    node = cmd
    for word in words[1:]:
        subs = [
            o
            for o in node.get("options") or []
            if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)
        ]
        node = next((o for o in subs if o["name"] == word), None)  # type: ignore[assignment]
        if node is None:
            raise LookupError(f"/{' '.join(words)}: no subcommand {word!r}")
    if any(o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in node.get("options") or []):
        raise LookupError(f"/{' '.join(words)} is a group; name one of its subcommands")
    return node
