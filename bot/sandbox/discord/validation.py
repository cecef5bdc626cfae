"""Discord's limits on message bodies, checked the way Discord checks them (400 50035/50006).

discord.py checks none of these, so a bot that sends a 2,001-character message only finds
out from Discord; the sandbox makes it find out in tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .responses import DiscordError, form_error, invalid_form, merge_errors

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ATTACHMENTS = 10
MAX_CUSTOM_ID = 100
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15
# Flags a bot may set when it sends a message (others are set by Discord).
SETTABLE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS | (FLAG_COMPONENTS_V2)
)

_EMBED_LIMITS = (("title", 256), ("description", 4096))


def _too_long(path: list[str | int], limit: int) -> dict[str, Any]:
    return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def check_message(data: dict[str, Any]) -> None:
    """Raise 400 50035 for every field that breaks a documented limit."""
    errors: dict[str, Any] = {}
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        merge_errors(errors, form_error(["content"], "BASE_TYPE_STRING", "Must be a string."))
    elif content and len(content) > MAX_CONTENT:
        merge_errors(errors, _too_long(["content"], MAX_CONTENT))
    embeds = data.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        merge_errors(errors, _too_long(["embeds"], MAX_EMBEDS))
    total = 0
    for i, embed in enumerate(embeds):
        total += _check_embed(embed, ["embeds", i], errors)
    if total > MAX_EMBED_TOTAL:
        merge_errors(
            errors,
            form_error(
                ["embeds"], "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000"
            ),
        )
    flags = int(data.get("flags") or 0)
    if flags & FLAG_COMPONENTS_V2 and (content or embeds):
        merge_errors(
            errors,
            form_error(
                ["content"],
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                "The 'content' and 'embeds' fields cannot be used when using "
                "MessageFlags.IS_COMPONENTS_V2",
            ),
        )
    _check_components(data.get("components") or [], flags, errors)
    if errors:
        raise invalid_form(errors)


def _check_embed(embed: dict[str, Any], path: list[str | int], errors: dict[str, Any]) -> int:
    size = 0
    for key, limit in _EMBED_LIMITS:
        value = embed.get(key) or ""
        size += len(value)
        if len(value) > limit:
            merge_errors(errors, _too_long([*path, key], limit))
    fields = embed.get("fields") or []
    if len(fields) > 25:
        merge_errors(errors, _too_long([*path, "fields"], 25))
    for j, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = fld.get(key) or ""
            size += len(value)
            if not value:
                merge_errors(
                    errors,
                    form_error(
                        [*path, "fields", j, key], "BASE_TYPE_REQUIRED", "This field is required"
                    ),
                )
            elif len(value) > limit:
                merge_errors(errors, _too_long([*path, "fields", j, key], limit))
    for key, inner, limit in (("footer", "text", 2048), ("author", "name", 256)):
        value = (embed.get(key) or {}).get(inner) or ""
        size += len(value)
        if len(value) > limit:
            merge_errors(errors, _too_long([*path, key, inner], limit))
    return size


def walk_components(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, depth first, through rows, containers, sections and labels."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                yield from walk_components([component[key]])


def _check_components(components: list[dict[str, Any]], flags: int, errors: dict[str, Any]) -> None:
    if not flags & FLAG_COMPONENTS_V2 and len(components) > 5:
        merge_errors(errors, _too_long(["components"], 5))
    seen: set[str] = set()
    for i, row in enumerate(components):
        if row.get("type") == 1 and len(row.get("components") or []) > 5:
            merge_errors(errors, _too_long(["components", i, "components"], 5))
    for component in walk_components(components):
        custom_id = component.get("custom_id")
        if custom_id is None:
            continue
        if len(custom_id) > MAX_CUSTOM_ID:
            merge_errors(errors, _too_long(["components", "custom_id"], MAX_CUSTOM_ID))
        if custom_id in seen:
            merge_errors(
                errors,
                form_error(
                    ["components"],
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                ),
            )
        seen.add(custom_id)
        label = component.get("label")
        if component.get("type") == 2 and label and len(label) > 80:
            merge_errors(errors, _too_long(["components", "label"], 80))


def check_not_empty(
    content: str, embeds: list[Any], attachments: int, components: list[Any], extra: bool
) -> None:
    if not (content or embeds or attachments or components or extra):
        raise DiscordError(400, 50006)
