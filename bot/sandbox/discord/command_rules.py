"""Discord's rules for a bulk command overwrite (``PUT …/commands``): one invalid definition
fails the whole sync with 400 50035, and the bot is left with no commands at all.

``sync_errors`` returns the ``errors`` tree (empty when the list is valid).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .component_rules import Path, add, bad_length, too_long

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, NUMBER = 3, 4, 10
CHAT_INPUT = 1
# Locales Discord accepts in name_localizations / description_localizations.
LOCALES = frozenset(
    "id da de en-GB en-US es-ES es-419 fr hr it lt hu nl no pl pt-BR ro fi sv-SE vi tr cs el "
    "bg ru uk hi th zh-CN ja zh-TW ko".split()
)
MAX_CHAT_INPUT = 100
MAX_CONTEXT_MENUS = 15
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_COMMAND_TEXT = 8000
MAX_OPTION_LENGTH = 6000
_SCRIPT_BLOCKS = ((0x0900, 0x097F), (0x0E00, 0x0E7F))  # Devanagari, Thai (marks included)
_CHOICE_TYPES = {STRING: (str,), INTEGER: (int,), NUMBER: (int, float)}


def valid_name(name: Any, chat_input: bool) -> bool:
    """``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$``, lowercase where the script has
    case; user and message commands may use any characters and spaces."""
    if not isinstance(name, str) or not 1 <= len(name) <= 32:
        return False
    if not chat_input:
        return True
    for ch in name:
        if ch in "-_'":
            continue
        if unicodedata.category(ch)[0] not in "LN" and not any(
            low <= ord(ch) <= high for low, high in _SCRIPT_BLOCKS
        ):
            return False
        if ch.lower() != ch:
            return False
    return True


def sync_errors(commands: list[dict[str, Any]]) -> dict[str, Any]:
    errors: dict[str, Any] = {}
    seen: set[tuple[int, str]] = set()
    counts: dict[int, int] = {}
    for i, cmd in enumerate(commands):
        if not isinstance(cmd, dict):
            add(errors, [i], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        ctype = int(cmd.get("type") or CHAT_INPUT)
        counts[ctype] = counts.get(ctype, 0) + 1
        name = cmd.get("name") or ""
        if (ctype, name) in seen:
            add(
                errors,
                [i, "name"],
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                "Application command names must be unique",
            )
        seen.add((ctype, name))
        _check_named(cmd, [i], ctype == CHAT_INPUT, errors)
        if ctype != CHAT_INPUT:
            if cmd.get("options"):
                add(
                    errors,
                    [i, "options"],
                    "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                    "User and message commands cannot have options",
                )
            if cmd.get("description"):
                add(
                    errors,
                    [i, "description"],
                    "APPLICATION_COMMAND_DESCRIPTION_INVALID",
                    "User and message commands cannot have a description",
                )
            continue
        _check_options(cmd.get("options") or [], [i, "options"], None, errors)
        if command_text_length(cmd) > MAX_COMMAND_TEXT:
            add(
                errors,
                [i],
                "APPLICATION_COMMAND_TOO_LARGE",
                f"Command exceeds maximum size ({MAX_COMMAND_TEXT})",
            )
    if counts.get(CHAT_INPUT, 0) > MAX_CHAT_INPUT or any(
        n > MAX_CONTEXT_MENUS for t, n in counts.items() if t != CHAT_INPUT
    ):
        add(errors, [], "APPLICATION_COMMANDS_TOO_MANY", "Too many application commands")
    return errors


def command_text_length(cmd: dict[str, Any]) -> int:
    """Names, descriptions and choice names and values, all counted, in the longest locale."""
    locales = {None, *_locales_used(cmd)}
    return max(_text_in(cmd, locale) for locale in locales)


def _locales_used(node: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for key in ("name_localizations", "description_localizations"):
        found.update(node.get(key) or {})
    for child in [*(node.get("options") or []), *(node.get("choices") or [])]:
        if isinstance(child, dict):
            found |= _locales_used(child)
    return found


def _text_in(node: dict[str, Any], locale: str | None) -> int:
    def local(key: str) -> str:
        localized = (node.get(f"{key}_localizations") or {}).get(locale) if locale else None
        return str(localized or node.get(key) or "")

    size = len(local("name")) + len(local("description"))
    for choice in node.get("choices") or []:
        size += len(local_choice(choice, locale)) + len(str(choice.get("value", "")))
    return size + sum(_text_in(o, locale) for o in node.get("options") or [])


def local_choice(choice: dict[str, Any], locale: str | None) -> str:
    localized = (choice.get("name_localizations") or {}).get(locale) if locale else None
    return str(localized or choice.get("name") or "")


def _check_named(obj: dict[str, Any], path: Path, chat_input: bool, errors: dict[str, Any]) -> None:
    """Name and description rules, for the defaults and for every localization."""
    names = [(["name"], obj.get("name"))]
    names += [
        (["name_localizations", k], v) for k, v in (obj.get("name_localizations") or {}).items()
    ]
    for field_path, name in names:
        if not valid_name(name, chat_input):
            add(
                errors,
                [*path, *field_path],
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
    if not chat_input:
        _check_locales(obj, path, errors)
        return
    descriptions = [(["description"], obj.get("description") or "")]
    descriptions += [
        (["description_localizations", k], v)
        for k, v in (obj.get("description_localizations") or {}).items()
    ]
    for field_path, text in descriptions:
        if not isinstance(text, str) or not 1 <= len(text) <= 100:
            bad_length(errors, [*path, *field_path], 1, 100)
    _check_locales(obj, path, errors)


def _check_locales(obj: dict[str, Any], path: Path, errors: dict[str, Any]) -> None:
    for key in ("name_localizations", "description_localizations"):
        for locale in obj.get(key) or {}:
            if locale not in LOCALES:
                add(
                    errors,
                    [*path, key, locale],
                    "ENUM_TYPE_COERCE",
                    f'Value "{locale}" is not a valid enum value.',
                )


def _check_options(
    options: list[dict[str, Any]], path: Path, parent: int | None, errors: dict[str, Any]
) -> None:
    """``parent`` is the option type these options sit in (None: the command itself)."""
    if len(options) > MAX_OPTIONS:
        too_long(errors, path, MAX_OPTIONS)
    kinds = {o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP) for o in options}
    if len(kinds) > 1:
        add(
            errors,
            path,
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive to all other "
            "types",
        )
    names: set[str] = set()
    optional_seen = False
    for j, opt in enumerate(options):
        here: Path = [*path, j]
        _check_named(opt, here, True, errors)
        if opt.get("name") in names:
            add(
                errors,
                [*here, "name"],
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        names.add(str(opt.get("name")))
        otype = opt.get("type")
        if otype in (SUB_COMMAND, SUB_COMMAND_GROUP):
            # A group holds only subcommands; a subcommand holds only plain options.
            nested_ok = parent is None or (parent == SUB_COMMAND_GROUP and otype == SUB_COMMAND)
            if not nested_ok:
                add(
                    errors,
                    [*here, "type"],
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "Sub-commands nest at most: group, then sub-command",
                )
            inner = opt.get("options") or []
            if otype == SUB_COMMAND_GROUP and any(o.get("type") != SUB_COMMAND for o in inner):
                add(
                    errors,
                    [*here, "options"],
                    "APPLICATION_COMMAND_OPTION_TYPE_INVALID",
                    "A sub-command group holds only sub-commands",
                )
            _check_options(inner, [*here, "options"], otype, errors)
            continue
        if opt.get("required") and optional_seen:
            add(
                errors,
                [*here, "required"],
                "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                "Required options must be placed before non-required options",
            )
        optional_seen = optional_seen or not opt.get("required")
        _check_option_values(opt, here, errors)


def _check_option_values(opt: dict[str, Any], here: Path, errors: dict[str, Any]) -> None:
    otype = opt.get("type")
    choices = opt.get("choices") or []
    if len(choices) > MAX_CHOICES:
        too_long(errors, [*here, "choices"], MAX_CHOICES)
    if choices and otype not in _CHOICE_TYPES:
        add(
            errors,
            [*here, "choices"],
            "APPLICATION_COMMAND_OPTION_CHOICES_INVALID",
            "Choices are only allowed on string, integer and number options",
        )
    for k, choice in enumerate(choices):
        cpath: Path = [*here, "choices", k]
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            bad_length(errors, [*cpath, "name"], 1, 100)
        for locale, name in (choice.get("name_localizations") or {}).items():
            if not 1 <= len(str(name or "")) <= 100:
                bad_length(errors, [*cpath, "name_localizations", locale], 1, 100)
        value = choice.get("value")
        wanted = _CHOICE_TYPES.get(otype, (str, int, float))
        if not isinstance(value, wanted) or isinstance(value, bool):
            add(errors, [*cpath, "value"], "BASE_TYPE_CHOICES", "Value type must match the option")
        elif isinstance(value, str) and len(value) > 100:
            too_long(errors, [*cpath, "value"], 100)
    if opt.get("autocomplete"):
        if choices:
            add(
                errors,
                [*here, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_CHOICES_AND_AUTOCOMPLETE",
                "Autocomplete cannot be set with choices",
            )
        if otype not in _CHOICE_TYPES:
            add(
                errors,
                [*here, "autocomplete"],
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID",
                "Autocomplete is only allowed on string, integer and number options",
            )
    low, high = opt.get("min_length"), opt.get("max_length")
    if low is not None and not 0 <= low <= MAX_OPTION_LENGTH:
        add(errors, [*here, "min_length"], "NUMBER_TYPE_MAX", "Must be between 0 and 6000.")
    if high is not None and not 1 <= high <= MAX_OPTION_LENGTH:
        add(errors, [*here, "max_length"], "NUMBER_TYPE_MAX", "Must be between 1 and 6000.")
    if low is not None and high is not None and low > high:
        add(errors, [*here, "min_length"], "NUMBER_TYPE_MAX", "min_length must not exceed max")
    lowv, highv = opt.get("min_value"), opt.get("max_value")
    if lowv is not None and highv is not None and lowv > highv:
        add(errors, [*here, "min_value"], "NUMBER_TYPE_MAX", "min_value must not exceed max")
