"""Reasoning models: keep what the model thinks apart from what it answers.

Reasoning reaches us in three forms (upstream-api.md §7): ``delta.reasoning_content``,
``delta.reasoning`` (both arrive as ``ChatDelta.reasoning``), and ``<think>…</think>`` inside
``delta.content``. ``ThinkSplitter`` turns the content stream into answer text and reasoning,
even when a tag is cut across chunks; the answer never holds a tag or the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.db import AnswerReasoning, Database, table
from bot.text_store import TextStore

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"

# What a server shows of the reasoning: a button (collapsed), a quoted block (shown), nothing.
REASONING_MODES = ("collapsed", "shown", "off")
DEFAULT_REASONING_MODE = "collapsed"


@dataclass(frozen=True, slots=True)
class Split:
    answer: str = ""
    reasoning: str = ""


def _partial_tag_suffix(text: str, tag: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


class ThinkSplitter:
    """Feed content chunks; get back the answer and reasoning parts that are certain so far.

    A chunk ending in what may be the start of a tag (``"<thi"``) keeps those characters back
    until the next chunk (or ``close()``) tells what they are.
    """

    def __init__(self) -> None:
        self._thinking = False
        self._held = ""

    def feed(self, content: str) -> Split:
        text = self._held + content
        self._held = ""
        answer: list[str] = []
        reasoning: list[str] = []
        while text:
            tag = CLOSE_TAG if self._thinking else OPEN_TAG
            at = text.find(tag)
            if at >= 0:
                (reasoning if self._thinking else answer).append(text[:at])
                text = text[at + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_tag_suffix(text, tag)
            if keep:
                self._held = text[-keep:]
                text = text[:-keep]
            (reasoning if self._thinking else answer).append(text)
            break
        return Split("".join(answer), "".join(reasoning))

    def close(self) -> Split:
        """The end of the stream: characters held back were plain text after all."""
        held, self._held = self._held, ""
        return Split(reasoning=held) if self._thinking else Split(answer=held)


class ReasoningStream:
    """One answer's reasoning and text, from deltas of any of the three forms."""

    def __init__(self) -> None:
        self.answer = ""
        self.reasoning = ""
        self._splitter = ThinkSplitter()

    def feed(self, content: str, reasoning: str = "") -> str:
        """Take one delta; returns the new answer text (possibly empty)."""
        split = self._splitter.feed(content) if content else Split()
        self.reasoning += reasoning + split.reasoning
        answer = split.answer
        if not self.answer:
            # Models put a blank line between </think> and the answer: not worth a message.
            answer = answer.lstrip()
        self.answer += answer
        return answer

    def close(self) -> str:
        split = self._splitter.close()
        self.reasoning += split.reasoning
        answer = split.answer if self.answer else split.answer.lstrip()
        self.answer += answer
        return answer


def quoted_reasoning(reasoning: str, room: int) -> str:
    """The reasoning as a quoted small-text block of at most ``room`` characters. When it is
    longer, its last lines are kept (they lead into the answer) after a "…" line."""
    lines = [f"> -# {line.strip()}" for line in reasoning.splitlines() if line.strip()]
    block = "\n".join(lines)
    if len(block) <= room:
        return block
    kept: list[str] = []
    used = len(ELLIPSIS_LINE)
    for line in reversed(lines):
        if used + 1 + len(line) > room:
            break
        kept.insert(0, line)
        used += 1 + len(line)
    if not kept:
        # One huge line: keep its end.
        return f"{ELLIPSIS_LINE}\n> -# …{lines[-1][-(room - len(ELLIPSIS_LINE) - 8):]}"
    return "\n".join([ELLIPSIS_LINE, *kept])


ELLIPSIS_LINE = "> -# …"


REASONING = table(AnswerReasoning)


class ReasoningStore(TextStore):
    """Reasoning kept in the database, so a "Show reasoning" button works after a restart."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, REASONING)
