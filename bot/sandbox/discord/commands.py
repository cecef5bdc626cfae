"""Synced application commands: store what the bot PUTs, validate it as Discord would, and
find the definition an injected interaction refers to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .responses import form_error, invalid_form, merge_errors
from .state import Snowflakes

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
CHAT_INPUT = 1
# Locales Discord accepts in name_localizations / description_localizations.
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el "
    "bg ru uk hi th zh-CN ja zh-TW ko".split()
)
MAX_CHAT_INPUT = 100
MAX_CONTEXT_MENUS = 15


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
        _validate(payload)
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


def _validate(commands: list[dict[str, Any]]) -> None:
    errors: dict[str, Any] = {}
    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for i, cmd in enumerate(commands):
        ctype = int(cmd.get("type") or CHAT_INPUT)
        counts[ctype] = counts.get(ctype, 0) + 1
        name = cmd.get("name") or ""
        if (ctype, name) in seen:
            merge_errors(
                errors,
                form_error(
                    [i, "name"],
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ),
            )
        seen.add((ctype, name))
        _check_named(cmd, [i], ctype == CHAT_INPUT, errors)
        _check_options(cmd.get("options") or [], [i, "options"], errors)
    if counts.get(CHAT_INPUT, 0) > MAX_CHAT_INPUT or any(
        n > MAX_CONTEXT_MENUS for t, n in counts.items() if t != CHAT_INPUT
    ):
        merge_errors(
            errors, form_error([], "APPLICATION_COMMANDS_TOO_MANY", "Too many application commands")
        )
    if errors:
        raise invalid_form(errors)


def _check_named(
    obj: dict[str, Any], path: list[str | int], chat_input: bool, errors: dict[str, Any]
) -> None:
    """Name and description rules, for the defaults and for every localization."""
    names = [("name", obj.get("name") or "")]
    names += [
        (f"name_localizations.{k}", v) for k, v in (obj.get("name_localizations") or {}).items()
    ]
    for field_path, name in names:
        bad = not 1 <= len(name) <= 32 or (chat_input and (name != name.lower() or " " in name))
        if bad:
            merge_errors(
                errors,
                form_error(
                    [*path, *field_path.split(".")],
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                ),
            )
    if not chat_input:
        return
    descriptions = [("description", obj.get("description") or "")]
    descriptions += [
        (f"description_localizations.{k}", v)
        for k, v in (obj.get("description_localizations") or {}).items()
    ]
    for field_path, text in descriptions:
        if not 1 <= len(text) <= 100:
            merge_errors(
                errors,
                form_error(
                    [*path, *field_path.split(".")],
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ),
            )
    for key in ("name_localizations", "description_localizations"):
        for locale in obj.get(key) or {}:
            if locale not in LOCALES:
                merge_errors(
                    errors,
                    form_error(
                        [*path, key, locale],
                        "ENUM_TYPE_COERCE",
                        f'Value "{locale}" is not a valid enum value.',
                    ),
                )


def _check_options(
    options: list[dict[str, Any]], path: list[str | int], errors: dict[str, Any]
) -> None:
    if len(options) > 25:
        merge_errors(
            errors, form_error(path, "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        )
    optional_seen = False
    for j, opt in enumerate(options):
        _check_named(opt, [*path, j], True, errors)
        if opt.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _check_options(opt.get("options") or [], [*path, j, "options"], errors)
            continue
        if opt.get("required") and optional_seen:
            merge_errors(
                errors,
                form_error(
                    [*path, j, "required"],
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                ),
            )
        optional_seen = optional_seen or not opt.get("required")
        if len(opt.get("choices") or []) > 25:
            merge_errors(
                errors,
                form_error(
                    [*path, j, "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length."
                ),
            )
        if opt.get("choices") and opt.get("autocomplete"):
            merge_errors(
                errors,
                form_error(
                    [*path, j, "autocomplete"],
                    "APPLICATION_COMMAND_OPTION_CHOICES_AND_AUTOCOMPLETE",
                    "Autocomplete cannot be set with choices",
                ),
            )
