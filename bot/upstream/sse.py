"""Incremental Server-Sent Events reader (the WHATWG event-stream format).

The gateway streams chat completions as SSE. Network chunks split lines, CRLF pairs and UTF-8
characters anywhere, so the parser keeps raw bytes until a line is complete and only then decodes
it. Line terminators are ASCII and never occur inside a multi-byte UTF-8 sequence, which is why
splitting on bytes first is safe.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import aiohttp

DONE_SENTINEL = "[DONE]"

# A single event may not grow past this; a gateway that never sends a line end would otherwise
# make us buffer without bound.
DEFAULT_MAX_BUFFER = 8 * 1024 * 1024

_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


class SSEProtocolError(ValueError):
    """The stream broke the format badly enough that reading on is pointless."""


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``done`` marks the OpenAI-style ``data: [DONE]`` terminator."""

    data: str
    event: str = "message"
    id: str | None = None
    done: bool = False


class SSEParser:
    """Feed it bytes as they arrive; it returns the events completed by each chunk."""

    def __init__(self, *, max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        self._max_buffer = max_buffer
        self._buf = bytearray()
        self._started = False
        # A chunk that ends in CR has already ended its line; if the next chunk starts with LF,
        # that LF is the second half of the same CRLF and must not end an (empty) line again.
        self._skip_lf = False
        self._data: list[str] = []
        self._has_data = False
        self._event = ""
        self._last_id: str | None = None
        self._buffered_bytes = 0

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Consume ``data`` and return the events it completed, in order."""
        if not data:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        self._buf += data
        if not self._started:
            if len(self._buf) < len(_BOM) and _BOM.startswith(bytes(self._buf)):
                return []  # could still be the start of a byte-order mark
            self._started = True
            if self._buf.startswith(_BOM):
                del self._buf[: len(_BOM)]

        events: list[SSEEvent] = []
        start = 0
        buf = self._buf
        while True:
            match = _LINE_END.search(buf, start)
            if match is None:
                break
            end = match.end()
            if end == len(buf) and match.group() == b"\r":
                self._skip_lf = True
            self._process_line(bytes(buf[start : match.start()]), events)
            start = end
        del buf[:start]
        if len(buf) + self._buffered_bytes > self._max_buffer:
            raise SSEProtocolError(f"event larger than {self._max_buffer} bytes")
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: treat a trailing partial line and a pending event as complete.

        The spec says to drop an event that has no closing blank line, but gateways that die
        mid-stream leave exactly that, and the text is worth keeping.
        """
        events: list[SSEEvent] = []
        if self._buf:
            self._process_line(bytes(self._buf), events)
            self._buf.clear()
        self._dispatch(events)
        self._skip_lf = False
        return events

    def _process_line(self, raw: bytes, events: list[SSEEvent]) -> None:
        if not raw:
            self._dispatch(events)
            return
        if raw[:1] == b":":
            return  # comment / keep-alive such as ": PING"
        line = raw.decode("utf-8", errors="replace")
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_data = True
            self._buffered_bytes += len(raw)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        # "retry" and unknown fields are ignored, as the spec requires.

    def _dispatch(self, events: list[SSEEvent]) -> None:
        if self._has_data:
            data = "\n".join(self._data)
            events.append(
                SSEEvent(
                    data=data,
                    event=self._event or "message",
                    id=self._last_id,
                    done=data.strip(" \t") == DONE_SENTINEL,
                )
            )
        self._data = []
        self._has_data = False
        self._event = ""
        self._buffered_bytes = 0


async def iter_sse(
    content: aiohttp.StreamReader | AsyncIterable[bytes],
) -> AsyncIterator[SSEEvent]:
    """Yield events from an aiohttp body or any async byte iterable, flushing at the end."""
    parser = SSEParser()
    chunks = content.iter_any() if isinstance(content, aiohttp.StreamReader) else content
    async for chunk in chunks:
        for event in parser.feed(chunk):
            yield event
    for event in parser.close():
        yield event
