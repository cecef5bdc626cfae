"""Discord's rules for components, modals and autocomplete answers (400 50035 with an
``errors`` tree naming the field, as Discord answers; discord-sandbox.md §8).

Each ``*_errors`` function returns the tree (empty when the payload is valid), so property
tests can check a builder's output against the very rules the sandbox enforces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import emoji as emoji_data

from .responses import form_error, merge_errors

Path = list[str | int]

ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT, LABEL = 1, 2, 3, 4, 18
SELECT_TYPES = frozenset({3, 5, 6, 7, 8})
LINK, PREMIUM = 5, 6
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_SELECT_OPTIONS = 25
MAX_MODAL_TITLE = 45
MAX_MODAL_COMPONENTS = 5
MAX_INPUT_LABEL = 45
MAX_INPUT_LENGTH = 4000
MAX_CHOICES = 25
MAX_CHOICE_TEXT = 100


def add(errors: dict[str, Any], path: Path, code: str, message: str) -> None:
    merge_errors(errors, form_error(path, code, message))


def too_long(errors: dict[str, Any], path: Path, limit: int) -> None:
    add(errors, path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def bad_length(errors: dict[str, Any], path: Path, low: int, high: int) -> None:
    add(errors, path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def is_valid_emoji(value: Any) -> bool:
    """A partial emoji as Discord takes it: a custom one by snowflake id, or a single Unicode
    emoji by name. A bare word (``upscale_1``) is neither."""
    if not isinstance(value, dict):
        return False
    if value.get("id") is not None:
        return str(value["id"]).isdigit()
    return emoji_data.is_emoji(_text(value.get("name")))


def walk_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, depth first, through rows, containers, sections and labels."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from walk_components([component[key]])


# -- message components -----------------------------------------------------------------------
def component_errors(components: list[dict[str, Any]], v2: bool) -> dict[str, Any]:
    """Rows, buttons, selects and custom ids of a message's ``components``."""
    errors: dict[str, Any] = {}
    if not v2:
        if len(components) > MAX_ROWS:
            too_long(errors, ["components"], MAX_ROWS)
        for i, row in enumerate(components):
            _check_row(row, ["components", i], errors)
    _check_custom_ids(components, ["components"], errors)
    for i, component in enumerate(components):
        for j, inner in enumerate(_leaves(component)):
            _check_leaf(inner, ["components", i, "components", j], errors)
    return errors


def _leaves(component: dict[str, Any]) -> list[dict[str, Any]]:
    if component.get("type") == ACTION_ROW:
        return list(component.get("components") or [])
    return [c for c in walk_components([component]) if c.get("type") in {BUTTON, *SELECT_TYPES}]


def _check_row(row: dict[str, Any], path: Path, errors: dict[str, Any]) -> None:
    if row.get("type") != ACTION_ROW:
        add(
            errors,
            [*path, "type"],
            "UNION_TYPE_CHOICES",
            'Value of field "type" must be one of (1,). Components outside action rows '
            "need the IS_COMPONENTS_V2 flag.",
        )
        return
    inner = row.get("components") or []
    if not inner:
        add(errors, [*path, "components"], "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
    selects = [c for c in inner if c.get("type") in SELECT_TYPES]
    if selects and len(inner) > 1:
        add(
            errors,
            [*path, "components"],
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    elif len(inner) > MAX_ROW_BUTTONS:
        too_long(errors, [*path, "components"], MAX_ROW_BUTTONS)
    for j, component in enumerate(inner):
        if component.get("type") == TEXT_INPUT:
            add(
                errors,
                [*path, "components", j, "type"],
                "COMPONENT_TYPE_INVALID",
                "Text inputs are only allowed in modals",
            )


def _check_custom_ids(components: list[dict[str, Any]], path: Path, errors: dict[str, Any]) -> None:
    seen: set[str] = set()
    for component in walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            bad_length(errors, [*path, "custom_id"], 1, MAX_CUSTOM_ID)
        elif custom_id in seen:
            add(
                errors,
                path,
                "COMPONENT_CUSTOM_ID_DUPLICATED",
                "Component custom id cannot be duplicated",
            )
        seen.add(str(custom_id))


def _check_leaf(component: dict[str, Any], path: Path, errors: dict[str, Any]) -> None:
    ctype = component.get("type")
    if ctype == BUTTON:
        _check_button(component, path, errors)
    elif ctype == STRING_SELECT or ctype in SELECT_TYPES:
        _check_select(component, path, errors)


def _check_button(button: dict[str, Any], path: Path, errors: dict[str, Any]) -> None:
    style = button.get("style")
    if style not in range(1, 7):
        add(
            errors,
            [*path, "style"],
            "ENUM_TYPE_COERCE",
            f'Value "{style}" is not a valid enum value.',
        )
        return
    label = button.get("label")
    if label is not None and len(_text(label)) > MAX_BUTTON_LABEL:
        too_long(errors, [*path, "label"], MAX_BUTTON_LABEL)
    if button.get("emoji") is not None and not is_valid_emoji(button["emoji"]):
        add(errors, [*path, "emoji", "name"], "BUTTON_COMPONENT_INVALID_EMOJI", "Invalid emoji")
    if style == PREMIUM:
        if not button.get("sku_id"):
            add(errors, [*path, "sku_id"], "BASE_TYPE_REQUIRED", "This field is required")
        return
    if not label and button.get("emoji") is None:
        add(
            errors,
            path,
            "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED",
            "A button needs a label or an emoji",
        )
    if style == LINK:
        if not _text(button.get("url")).startswith(("http://", "https://", "discord://")):
            add(
                errors, [*path, "url"], "BUTTON_COMPONENT_URL_REQUIRED", "A link button needs a url"
            )
        if button.get("custom_id") is not None:
            add(
                errors,
                [*path, "custom_id"],
                "BUTTON_COMPONENT_CUSTOM_ID_INVALID",
                "A link button cannot have a custom_id",
            )
        return
    if button.get("custom_id") is None:
        add(
            errors,
            [*path, "custom_id"],
            "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED",
            "A non-link button must have a custom_id set",
        )
    if button.get("url") is not None:
        add(
            errors,
            [*path, "url"],
            "BUTTON_COMPONENT_URL_INVALID",
            "A non-link button cannot have a url",
        )


def _check_select(select: dict[str, Any], path: Path, errors: dict[str, Any]) -> None:
    low, high = select.get("min_values", 1), select.get("max_values", 1)
    if not isinstance(low, int) or not 0 <= low <= MAX_SELECT_OPTIONS:
        add(errors, [*path, "min_values"], "NUMBER_TYPE_MAX", "Must be between 0 and 25.")
    if not isinstance(high, int) or not 1 <= high <= MAX_SELECT_OPTIONS:
        add(errors, [*path, "max_values"], "NUMBER_TYPE_MAX", "Must be between 1 and 25.")
    elif isinstance(low, int) and low > high:
        add(
            errors,
            [*path, "min_values"],
            "SELECT_COMPONENT_MIN_VALUES_TOO_LARGE",
            "min_values cannot be larger than max_values",
        )
    if len(_text(select.get("placeholder"))) > 150:
        too_long(errors, [*path, "placeholder"], 150)
    if select.get("type") != STRING_SELECT:
        return
    options = select.get("options") or []
    if not 1 <= len(options) <= MAX_SELECT_OPTIONS:
        bad_length(errors, [*path, "options"], 1, MAX_SELECT_OPTIONS)
    if isinstance(high, int) and high > len(options):
        add(
            errors,
            [*path, "max_values"],
            "SELECT_COMPONENT_MAX_VALUES_TOO_LARGE",
            "max_values cannot exceed the number of options",
        )
    for k, option in enumerate(options):
        for key in ("label", "value"):
            if not 1 <= len(_text(option.get(key))) <= 100:
                bad_length(errors, [*path, "options", k, key], 1, 100)
        if len(_text(option.get("description"))) > 100:
            too_long(errors, [*path, "options", k, "description"], 100)
        if option.get("emoji") is not None and not is_valid_emoji(option["emoji"]):
            add(errors, [*path, "options", k, "emoji", "name"], "INVALID_EMOJI", "Invalid emoji")


# -- modals -----------------------------------------------------------------------------------
def modal_errors(modal: dict[str, Any]) -> dict[str, Any]:
    """A modal's title, custom id and text inputs (callback type 9, under ``data``)."""
    errors: dict[str, Any] = {}
    if not 1 <= len(_text(modal.get("custom_id"))) <= MAX_CUSTOM_ID:
        bad_length(errors, ["data", "custom_id"], 1, MAX_CUSTOM_ID)
    if not 1 <= len(_text(modal.get("title"))) <= MAX_MODAL_TITLE:
        bad_length(errors, ["data", "title"], 1, MAX_MODAL_TITLE)
    components = modal.get("components") or []
    if not 1 <= len(components) <= MAX_MODAL_COMPONENTS:
        bad_length(errors, ["data", "components"], 1, MAX_MODAL_COMPONENTS)
    _check_custom_ids(components, ["data", "components"], errors)
    for i, top in enumerate(components):
        path: Path = ["data", "components", i]
        if top.get("type") == ACTION_ROW:
            inner = top.get("components") or []
            if len(inner) != 1:
                bad_length(errors, [*path, "components"], 1, 1)
            for j, field in enumerate(inner):
                _check_input(field, [*path, "components", j], errors, labelled=False)
        elif top.get("type") == LABEL:
            if not 1 <= len(_text(top.get("label"))) <= MAX_INPUT_LABEL:
                bad_length(errors, [*path, "label"], 1, MAX_INPUT_LABEL)
            if isinstance(top.get("component"), dict):
                _check_input(top["component"], [*path, "component"], errors, labelled=True)
    return errors


def _check_input(field: dict[str, Any], path: Path, errors: dict[str, Any], labelled: bool) -> None:
    if field.get("type") != TEXT_INPUT:
        if field.get("type") in SELECT_TYPES:
            _check_select(field, path, errors)
        return
    if not labelled and not 1 <= len(_text(field.get("label"))) <= MAX_INPUT_LABEL:
        bad_length(errors, [*path, "label"], 1, MAX_INPUT_LABEL)
    if field.get("style") not in (1, 2):
        add(errors, [*path, "style"], "ENUM_TYPE_COERCE", "Value is not a valid enum value.")
    if len(_text(field.get("placeholder"))) > 100:
        too_long(errors, [*path, "placeholder"], 100)
    low, high = field.get("min_length"), field.get("max_length")
    if low is not None and not 0 <= low <= MAX_INPUT_LENGTH:
        add(errors, [*path, "min_length"], "NUMBER_TYPE_MAX", "Must be between 0 and 4000.")
    if high is not None and not 1 <= high <= MAX_INPUT_LENGTH:
        add(errors, [*path, "max_length"], "NUMBER_TYPE_MAX", "Must be between 1 and 4000.")
    if low is not None and high is not None and low > high:
        add(errors, [*path, "min_length"], "TEXT_INPUT_MIN_GREATER_THAN_MAX", "min > max")
    value = field.get("value")
    if value is not None:
        limit = min(MAX_INPUT_LENGTH, high if high is not None else MAX_INPUT_LENGTH)
        if len(_text(value)) > limit:
            too_long(errors, [*path, "value"], limit)


# -- autocomplete -----------------------------------------------------------------------------
def autocomplete_errors(choices: Any) -> dict[str, Any]:
    """An autocomplete answer (callback type 8): at most 25 choices, names 1–100 characters,
    values at most 100."""
    errors: dict[str, Any] = {}
    if not isinstance(choices, list):
        add(errors, ["data", "choices"], "BASE_TYPE_ARRAY", "Must be an array.")
        return errors
    if len(choices) > MAX_CHOICES:
        too_long(errors, ["data", "choices"], MAX_CHOICES)
    for k, choice in enumerate(choices):
        path: Path = ["data", "choices", k]
        if not 1 <= len(_text(choice.get("name"))) <= MAX_CHOICE_TEXT:
            bad_length(errors, [*path, "name"], 1, MAX_CHOICE_TEXT)
        value = choice.get("value")
        if isinstance(value, str) and len(value) > MAX_CHOICE_TEXT:
            too_long(errors, [*path, "value"], MAX_CHOICE_TEXT)
        elif value is None or isinstance(value, bool | list | dict):
            add(errors, [*path, "value"], "BASE_TYPE_REQUIRED", "This field is required")
    return errors
