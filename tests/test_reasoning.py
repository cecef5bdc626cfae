"""The reasoning splitter: <think> tags cut anywhere, the three forms, the quoted block."""

from __future__ import annotations

import pytest

from bot.pricing import ChatPrice
from bot.reasoning import ReasoningStream, quoted_reasoning

THOUGHT = "weigh <b> and </b> first"
ANSWER = "Use a < b here, and <thin> is no tag."
STREAM = f"<think>{THOUGHT}</think>\n\n{ANSWER}"


def run(chunks: list[str]) -> ReasoningStream:
    stream = ReasoningStream()
    shown = "".join(stream.feed(chunk) for chunk in chunks) + stream.close()
    assert shown == stream.answer
    return stream


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 9, 64])
def test_tags_split_at_every_size_are_stripped(size: int) -> None:
    stream = run([STREAM[i : i + size] for i in range(0, len(STREAM), size)])
    assert (stream.answer, stream.reasoning) == (ANSWER, THOUGHT)


@pytest.mark.parametrize("cut", range(1, len(STREAM)))
def test_a_tag_cut_at_any_point_between_two_chunks(cut: int) -> None:
    stream = run([STREAM[:cut], STREAM[cut:]])
    assert (stream.answer, stream.reasoning) == (ANSWER, THOUGHT)


def test_reasoning_fields_and_plain_text_without_tags() -> None:
    stream = ReasoningStream()
    assert stream.feed("", "step one, ") == ""
    assert stream.feed("", "step two") == ""
    assert stream.feed("Answer <thi") == "Answer "
    assert stream.close() == "<thi"  # held back, then plain text after all
    assert (stream.answer, stream.reasoning) == ("Answer <thi", "step one, step two")


def test_an_unclosed_think_is_all_reasoning() -> None:
    stream = run(["<think>still thinking", " when the stream ends"])
    assert (stream.answer, stream.reasoning) == ("", "still thinking when the stream ends")


def test_quoted_reasoning_fits_its_room_and_keeps_the_end() -> None:
    reasoning = "\n".join(f"line {n} of the thought" for n in range(200))
    block = quoted_reasoning(reasoning, 300)
    assert len(block) <= 300
    assert block.startswith("> -# …\n") and block.endswith("> -# line 199 of the thought")
    assert all(line.startswith("> -# ") for line in block.splitlines())
    huge = quoted_reasoning("x" * 5000, 300)
    assert len(huge) <= 300 and huge.endswith("x")
    assert quoted_reasoning("short\n\nthought", 300) == "> -# short\n> -# thought"


def test_reasoning_price_defaults_to_output_and_never_exceeds_the_output() -> None:
    rule = ChatPrice(pattern="*", per_1k_input=1000, per_1k_output=2000)
    assert rule.cost(10, 30, 20) == rule.cost(10, 30) == 10 + 60
    cheap = ChatPrice(pattern="*", per_1k_input=1000, per_1k_output=2000, per_1k_reasoning=500)
    assert cheap.cost(10, 30, 20) == 10 + 2 * 10 + 10
    assert cheap.cost(10, 30, 999) == 10 + 15  # reported reasoning capped at the output
