"""Split a growing answer into Discord messages without losing, repeating or breaking anything.

A message holds at most ``limit`` characters. Splits fall at a paragraph break if one is near the
end of the window, else a line or sentence end, else a space, else anywhere. A code fence open at
a split is closed at the end of that message and reopened, with its language, at the start of the
next, so every message renders on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DISCORD_LIMIT = 2000
FENCE = "```"
CLOSE = "\n```"
# A split point is only taken when it keeps at least this share of the window, so that a
# paragraph break early in the window does not leave a message half empty.
MIN_FILL = 0.5

_FENCE_LINE = re.compile(r"^[ \t]*```([^\s`]*)", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?:[.!?;:](?=\s)|[。！？；…])\s*")


@dataclass(frozen=True, slots=True)
class Piece:
    """One message: the original text it carries and the fence lines added around it."""

    text: str
    reopen: str = ""
    close: str = ""

    @property
    def content(self) -> str:
        return f"{self.reopen}{self.text}{self.close}"


def open_fence_language(text: str) -> str | None:
    """The language of the code fence left open at the end of ``text``, or None if closed."""
    language: str | None = None
    for match in _FENCE_LINE.finditer(text):
        language = match.group(1) if language is None else None
    return language


def _split_index(window: str) -> int:
    """Where to cut ``window``: the length of the first piece."""
    floor = int(len(window) * MIN_FILL)
    for pattern in ("\n\n", "\n"):
        index = window.rfind(pattern)
        if index >= floor:
            return index + len(pattern)
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() >= floor]
    if ends:
        return ends[-1]
    index = max(window.rfind(" "), window.rfind("\t"))
    if index >= floor:
        return index + 1
    return len(window)


def split_text(text: str, limit: int = DISCORD_LIMIT, last_limit: int | None = None) -> list[Piece]:
    """Split ``text`` into pieces whose ``content`` fits in ``limit`` characters.

    Every piece but the last is settled: appending text later never changes it, so a stream can
    finish a message as soon as text runs past it. A fence still open in the last piece is closed
    there too, so a message renders properly while the stream is still running.

    ``last_limit`` (at most ``limit``) leaves room after the last piece for what follows it in the
    same message, a footer: when the tail does not fit, its last lines become one more piece. The
    pieces before are the same as without it.
    """
    last_limit = limit if last_limit is None else min(limit, last_limit)
    pieces: list[Piece] = []
    reopen = ""
    rest = text
    while True:
        room = limit - len(reopen) - len(CLOSE)
        if len(rest) <= room:
            language = open_fence_language(reopen + rest)
            last = Piece(rest, reopen, CLOSE if language is not None else "")
            if len(last.content) <= last_limit or not rest:
                pieces.append(last)
                return pieces
            # The tail leaves no room for the footer: cut it again at its best boundary, which
            # keeps at least half of it here; at least one character, so this ends.
            room = max(1, len(rest) - 1)
        window = rest[:room]
        chunk = window[: _split_index(window)]
        language = open_fence_language(reopen + chunk)
        pieces.append(Piece(chunk, reopen, CLOSE if language is not None else ""))
        rest = rest[len(chunk) :]
        reopen = f"{FENCE}{language}\n" if language is not None else ""
