"""SSE parser: the format rules one by one, then split-anywhere properties with hypothesis."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from unittest import mock

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.upstream.sse import SSEEvent, SSEParser, SSEProtocolError, iter_sse


def parse(*chunks: bytes) -> list[SSEEvent]:
    parser = SSEParser()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events + parser.close()


def datas(events: list[SSEEvent]) -> list[str]:
    return [e.data for e in events]


def test_single_event_lf() -> None:
    assert parse(b'data: {"a":1}\n\n') == [SSEEvent(data='{"a":1}')]


def test_optional_single_space_after_colon() -> None:
    events = parse(b"data:x\n\ndata: y\n\ndata:  z\n\n")
    assert datas(events) == ["x", "y", " z"]


def test_comments_are_ignored() -> None:
    events = parse(b": PING\n\n:\ndata: a\n: mid-event comment\n\n")
    assert datas(events) == ["a"]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert datas(parse(stream)) == ["a\nb", "c"]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    # The CR ends the line at once; the LF that follows in the next chunk belongs to it.
    parser = SSEParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\n") == []  # not a blank line: no dispatch yet
    assert parser.feed(b"data: b\r\n\r") == [SSEEvent(data="a\nb")]
    assert parser.feed(b"\ndata: c\r\n\r\n") == [SSEEvent(data="c")]
    assert parser.close() == []


def test_lone_cr_dispatches_without_waiting() -> None:
    parser = SSEParser()
    assert parser.feed(b"data: a\r\r") == [SSEEvent(data="a")]
    assert parser.feed(b"data: b\r\r") == [SSEEvent(data="b")]


def test_multiline_data_is_joined_with_newline() -> None:
    assert datas(parse(b"data: line one\ndata:\ndata: line three\n\n")) == [
        "line one\n\nline three"
    ]


def test_event_and_id_fields() -> None:
    events = parse(b"event: update\nid: 7\ndata: x\n\ndata: y\n\nid\ndata: z\n\n")
    assert events == [
        SSEEvent(data="x", event="update", id="7"),
        SSEEvent(data="y", event="message", id="7"),  # the last id persists
        SSEEvent(data="z", event="message", id=""),  # a bare "id" resets it
    ]


def test_field_without_colon_and_unknown_fields() -> None:
    events = parse(b"data\n\nretry: 100\nfoo: bar\ndata: v\n\n")
    assert datas(events) == ["", "v"]


def test_blank_lines_without_data_dispatch_nothing() -> None:
    assert parse(b"\n\n\r\n: x\n\nevent: lonely\n\n") == []


def test_done_marker() -> None:
    events = parse(b"data: hi\n\ndata: [DONE]\n\n")
    assert [e.done for e in events] == [False, True]
    assert events[1].data == "[DONE]"


def test_utf8_split_across_chunks() -> None:
    raw = "data: 你好, 世界 😀 café\n\n".encode()
    one_by_one = parse(*(raw[i : i + 1] for i in range(len(raw))))
    assert one_by_one == [SSEEvent(data="你好, 世界 😀 café")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert parse(b"data: a\xffb\n\n") == [SSEEvent(data="a\ufffdb")]


def test_close_dispatches_pending_event_without_blank_line() -> None:
    assert datas(parse(b"data: a\n\ndata: b\n")) == ["a", "b"]


def test_close_dispatches_partial_last_line() -> None:
    assert datas(parse(b"data: a\n\ndata: tail")) == ["a", "tail"]


def test_close_after_lone_cr() -> None:
    assert datas(parse(b"data: a\r")) == ["a"]


def test_byte_order_mark_is_skipped_even_when_split() -> None:
    assert datas(parse(b"\xef", b"\xbb", b"\xbfdata: a\n\n")) == ["a"]


def test_oversized_event_is_rejected() -> None:
    parser = SSEParser(max_buffer=64)
    with pytest.raises(SSEProtocolError):
        parser.feed(b"data: " + b"x" * 100)


async def test_iter_sse_from_async_iterator() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"data: a\n", b"\ndata: [DO", b"NE]\n\n", b"data: after"):
            yield chunk

    events = [e async for e in iter_sse(chunks())]
    assert datas(events) == ["a", "[DONE]", "after"]


async def test_iter_sse_from_stream_reader() -> None:
    reader = aiohttp.StreamReader(mock.Mock(), 2**16, loop=mock.Mock())
    reader.feed_data(b"data: x\r\n\r\ndata: y")
    reader.feed_eof()
    assert datas([e async for e in iter_sse(reader)]) == ["x", "y"]


# --- property tests -------------------------------------------------------------------------

_text = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=12),
    st.sampled_from(
        ["你好世界", "😀👍🏽🇯🇵", "日本語のテキスト", " leading space", "a:b: c", "[DONE]"]
    ),
)
_eols = st.sampled_from(["\n", "\r\n", "\r"])


@dataclass(frozen=True)
class Spec:
    comments: list[str]
    event: str | None
    data: list[str]
    id: str | None


_specs = st.builds(
    Spec,
    comments=st.lists(_text, max_size=2),
    event=st.none() | _text,
    data=st.lists(_text, min_size=1, max_size=4),
    id=st.none() | _text.filter(lambda s: "\0" not in s),
)


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A valid stream from random events, and the events a correct parser must report."""
    specs = draw(st.lists(_specs, max_size=6))
    lines: list[str] = []
    expected: list[SSEEvent] = []
    last_id: str | None = None
    for spec in specs:
        lines += [f":{c}" for c in spec.comments]
        if spec.event is not None:
            lines.append(f"event: {spec.event}")
        for value in spec.data:
            # Without the space, a value that itself starts with a space would lose it.
            spaced = value.startswith(" ") or draw(st.booleans())
            lines.append(f"data: {value}" if spaced else f"data:{value}")
        if spec.id is not None:
            lines.append(f"id: {spec.id}")
            last_id = spec.id
        lines.append("")
        data = "\n".join(spec.data)
        expected.append(
            SSEEvent(
                data=data,
                event=spec.event or "message",
                id=last_id,
                done=data.strip(" \t") == "[DONE]",
            )
        )
    if lines and draw(st.booleans()):
        lines.pop()  # the stream may end without its final blank line
    out: list[str] = []
    previous = ""
    for line in lines:
        eol = draw(_eols)
        # A CR then an empty line ending in LF would read as one CRLF: pick another end.
        if previous == "\r" and line == "" and eol.startswith("\n"):
            eol = "\r"
        out.append(line + eol)
        previous = eol
    if out and draw(st.booleans()):
        out[-1] = out[-1].rstrip("\r\n")  # … or even without its last line end
        if not out[-1]:
            out.pop()
    return "".join(out).encode(), expected


@settings(max_examples=150, deadline=None)
@given(streams())
def test_whole_stream_gives_expected_events(case: tuple[bytes, list[SSEEvent]]) -> None:
    raw, expected = case
    assert parse(raw) == expected


@settings(max_examples=150, deadline=None)
@given(streams(), st.data())
def test_any_split_gives_same_events(
    case: tuple[bytes, list[SSEEvent]], data: st.DataObject
) -> None:
    raw, expected = case
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
    bounds = [0, *cuts, len(raw)]
    chunks = [raw[a:b] for a, b in itertools.pairwise(bounds)]
    assert parse(*chunks) == expected


@settings(max_examples=50, deadline=None)
@given(streams())
def test_byte_at_a_time_gives_same_events(case: tuple[bytes, list[SSEEvent]]) -> None:
    raw, expected = case
    assert parse(*(raw[i : i + 1] for i in range(len(raw)))) == expected
