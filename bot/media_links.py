"""Find the media a chat-format model produced: the links at the end of its markdown answer."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Markdown images and links first, then bare URLs; trailing punctuation is not part of a URL.
_MARKDOWN = re.compile(r"!?\[[^\]]*\]\((https?://[^\s)]+)\)")
_BARE = re.compile(r"https?://[^\s<>()\[\]\"']+")
MEDIA_SUFFIXES = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".gif"),
    "video": (".mp4", ".webm", ".mov"),
    "audio": (".mp3", ".wav", ".m4a", ".ogg"),
}


def media_kind(url: str) -> str | None:
    path = urlsplit(url).path.lower()
    for kind, suffixes in MEDIA_SUFFIXES.items():
        if path.endswith(suffixes):
            return kind
    return None


def media_links(text: str, kinds: tuple[str, ...] = ("image", "video", "audio")) -> list[str]:
    """Media URLs in order of appearance, without repeats; markdown-wrapped or bare."""
    found: list[str] = []
    for url in [*_MARKDOWN.findall(text), *_BARE.findall(text)]:
        url = url.rstrip(".,;:!?'\"")
        if url not in found and media_kind(url) in kinds:
            found.append(url)
    return found
