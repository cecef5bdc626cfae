"""Turn a member's prompt and optional file into a chat message the upstream accepts."""

from __future__ import annotations

import base64
import unicodedata
from pathlib import PurePosixPath
from typing import Any

from bot.errors import AttachmentTooLarge, EmptyPrompt, UnreadableText, UnsupportedAttachment

IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
TEXT_SUFFIXES = frozenset(
    ".txt .md .markdown .csv .tsv .json .yaml .yml .toml .xml .html .css .js .ts .py .java .c .h"
    " .cpp .go .rs .rb .php .sh .sql .log .ini .cfg".split()
)


def has_visible_text(text: str) -> bool:
    """Whether ``text`` shows anything: not only spaces, control, zero-width or direction marks."""
    return any(not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf") for ch in text)


def require_prompt(prompt: str) -> str:
    """The prompt, unchanged; raises EmptyPrompt when it shows nothing (Discord allows that)."""
    if not has_visible_text(prompt):
        raise EmptyPrompt("empty prompt")
    return prompt


def human_size(size: int) -> str:
    """``1500000`` → ``1.5 MB``, ``2000`` → ``2 KB``, ``512`` → ``512 B`` (decimal units, like
    the limits' defaults); never rounded down to nothing."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1000)):
        if round(size / scale, 1) >= 1:  # 999,999 bytes is "1 MB", not "1000 KB"
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} B"


def is_image(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() in IMAGE_TYPES


def is_text(filename: str, content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind.startswith("text/") or PurePosixPath(filename).suffix.lower() in TEXT_SUFFIXES


def check_attachment(
    filename: str,
    content_type: str | None,
    size: int,
    *,
    max_image: int,
    max_text: int,
    vision: bool,
) -> str:
    """``"image"`` or ``"text"``; raises before anything is downloaded or charged."""
    if is_image(content_type) and vision:
        if size > max_image:
            raise AttachmentTooLarge(filename, name=filename, limit=human_size(max_image))
        return "image"
    if is_text(filename, content_type):
        if size > max_text:
            raise AttachmentTooLarge(filename, name=filename, limit=human_size(max_text))
        return "text"
    raise UnsupportedAttachment(filename, name=filename)


def user_content(
    prompt: str,
    *,
    filename: str | None = None,
    kind: str | None = None,
    data: bytes = b"",
    content_type: str | None = None,
) -> str | list[dict[str, Any]]:
    """The ``content`` of the user message: plain text, or text plus an image part."""
    if kind == "text":
        try:
            body = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnreadableText(filename or "", name=filename or "") from None
        return f"{prompt}\n\n--- {filename} ---\n{body}"
    if kind == "image":
        # A data URI, not the Discord CDN link: gateways (often in mainland China) may not reach it.
        encoded = base64.b64encode(data).decode("ascii")
        mime = (content_type or "image/png").split(";")[0]
        return [
            {"type": "text", "text": prompt},
            {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{encoded}"}},
        ]
    return prompt
