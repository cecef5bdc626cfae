"""Discord's limits on message bodies, checked the way Discord checks them (400 50035/50006).

discord.py checks none of these, so a bot that sends a 2,001-character message only finds
out from Discord; the sandbox makes it find out in tests.
"""

from __future__ import annotations

import base64
from typing import Any

from .component_rules import component_errors, walk_components
from .responses import DiscordError, form_error, invalid_form, merge_errors

__all__ = [
    "check_message",
    "check_not_empty",
    "check_voice_message",
    "message_errors",
    "thread_errors",
    "walk_components",
]

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_ATTACHMENTS = 10
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_VOICE_MESSAGE = 1 << 13
FLAG_COMPONENTS_V2 = 1 << 15
# Flags a bot may set when it sends a message (others are set by Discord).
SETTABLE_FLAGS = (
    FLAG_SUPPRESS_EMBEDS
    | FLAG_EPHEMERAL
    | FLAG_SUPPRESS_NOTIFICATIONS
    | FLAG_VOICE_MESSAGE
    | FLAG_COMPONENTS_V2
)
MAX_COLOUR = 0xFFFFFF
MAX_WAVEFORM = 256  # amplitude bytes in a voice message's waveform
MENTION_KINDS = frozenset({"roles", "users", "everyone"})

_EMBED_LIMITS = (("title", 256), ("description", 4096))


def _too_long(path: list[str | int], limit: int) -> dict[str, Any]:
    return form_error(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def check_message(data: dict[str, Any]) -> None:
    """Raise 400 50035 for every field that breaks a documented limit."""
    errors = message_errors(data)
    if errors:
        raise invalid_form(errors)


def message_errors(data: dict[str, Any]) -> dict[str, Any]:
    """The ``errors`` tree Discord would answer for this message body (empty when valid)."""
    errors: dict[str, Any] = {}
    content = data.get("content")
    if content is not None and not isinstance(content, str):
        merge_errors(errors, form_error(["content"], "BASE_TYPE_STRING", "Must be a string."))
    elif content and len(content) > MAX_CONTENT:
        merge_errors(errors, _too_long(["content"], MAX_CONTENT))
    if len(data.get("attachments") or []) > MAX_ATTACHMENTS:
        merge_errors(errors, _too_long(["attachments"], MAX_ATTACHMENTS))
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
    if flags & ~SETTABLE_FLAGS & ~FLAG_LOADING:
        merge_errors(
            errors, form_error(["flags"], "MESSAGE_FLAGS_INVALID", "Invalid message flags")
        )
    merge_errors(
        errors, component_errors(data.get("components") or [], bool(flags & FLAG_COMPONENTS_V2))
    )
    _check_allowed_mentions(data.get("allowed_mentions"), errors)
    return errors


def check_voice_message(data: dict[str, Any], upload_types: list[str]) -> None:
    """Discord's voice message rules (resources/message "Voice Messages", and its codes):
    one audio file, sent as ``audio/*`` (only then are its ``duration_secs`` and ``waveform``
    read) with both fields, and nothing else: no content, embeds, components or stickers."""
    if any(data.get(k) for k in ("content", "embeds", "components", "sticker_ids", "poll")):
        raise DiscordError(400, 50159)
    attachments = data.get("attachments") or []
    if len(attachments) != 1 or len(upload_types) != 1 or not isinstance(attachments[0], dict):
        raise DiscordError(400, 50160)
    meta = attachments[0]
    duration = meta.get("duration_secs")
    if (
        not upload_types[0].startswith("audio/")
        or isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or duration <= 0
        or not 1 <= len(_decoded_waveform(meta.get("waveform"))) <= MAX_WAVEFORM
    ):
        raise DiscordError(400, 50161)


def _decoded_waveform(value: Any) -> bytes:
    if not isinstance(value, str):
        return b""
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        return b""


def _check_allowed_mentions(allowed: Any, errors: dict[str, Any]) -> None:
    if allowed is None:
        return
    parse = allowed.get("parse") or []
    for k, kind in enumerate(parse):
        if kind not in MENTION_KINDS:
            merge_errors(
                errors,
                form_error(
                    ["allowed_mentions", "parse", k],
                    "ENUM_TYPE_COERCE",
                    f'Value "{kind}" is not a valid enum value.',
                ),
            )
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            merge_errors(
                errors,
                form_error(
                    ["allowed_mentions"],
                    "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
                    f'parse:["{kind}"] and {kind}: [ids] are mutually exclusive.',
                ),
            )
        if len(allowed.get(kind) or []) > 100:
            merge_errors(errors, _too_long(["allowed_mentions", kind], 100))


def _check_embed(embed: dict[str, Any], path: list[str | int], errors: dict[str, Any]) -> int:
    size = 0
    colour = embed.get("color")
    if colour is not None and (not isinstance(colour, int) or not 0 <= colour <= MAX_COLOUR):
        merge_errors(
            errors,
            form_error(
                [*path, "color"], "NUMBER_TYPE_MAX", f"int value should be <= {MAX_COLOUR}."
            ),
        )
    for key in ("image", "thumbnail"):
        url = (embed.get(key) or {}).get("url")
        if url is not None and not str(url).startswith(("http://", "https://", "attachment://")):
            merge_errors(
                errors,
                form_error(
                    [*path, key, "url"],
                    "URL_TYPE_INVALID_SCHEME",
                    "Scheme must be one of ('http', 'https', 'attachment').",
                ),
            )
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


def check_not_empty(
    content: str, embeds: list[Any], attachments: int, components: list[Any], extra: bool
) -> None:
    if not (content or embeds or attachments or components or extra):
        raise DiscordError(400, 50006)


THREAD_ARCHIVE_MINUTES = frozenset({60, 1440, 4320, 10080})


def thread_errors(data: dict[str, Any]) -> dict[str, Any]:
    """A new thread: a name of 1–100 characters (a longer one is refused, not cut) and an
    ``auto_archive_duration`` Discord offers."""
    errors: dict[str, Any] = {}
    name = data.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        merge_errors(
            errors,
            form_error(["name"], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length."),
        )
    duration = data.get("auto_archive_duration")
    if duration is not None and duration not in THREAD_ARCHIVE_MINUTES:
        merge_errors(
            errors,
            form_error(
                ["auto_archive_duration"],
                "BASE_TYPE_CHOICES",
                "Value must be one of {60, 1440, 4320, 10080}.",
            ),
        )
    return errors
