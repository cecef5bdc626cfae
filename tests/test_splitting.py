"""The splitter: limits, boundaries, balanced fences, nothing lost or repeated, stable prefixes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.splitting import CLOSE, open_fence_language, split_text


def test_short_text_is_one_piece() -> None:
    assert [p.content for p in split_text("hello")] == ["hello"]
    assert [p.content for p in split_text("")] == [""]


def test_prefers_paragraphs_then_sentences_then_words() -> None:
    para = "a" * 60 + "\n\n" + "b" * 60
    assert [p.text for p in split_text(para, limit=100)] == ["a" * 60 + "\n\n", "b" * 60]
    sentence = "x" * 60 + ". " + "y" * 60
    assert split_text(sentence, limit=100)[0].text == "x" * 60 + ". "
    words = " ".join(["word"] * 40)
    first = split_text(words, limit=100)[0].text
    assert first.endswith(" ") and len(first) <= 96
    cjk = "这是一个句子。" * 30
    assert split_text(cjk, limit=100)[0].text.endswith("。")


def test_open_fence_is_closed_and_reopened_with_its_language() -> None:
    code = "intro\n```python\n" + "".join(f"print({i})\n" for i in range(40)) + "```\nbye"
    pieces = split_text(code, limit=120)
    assert len(pieces) > 2
    assert pieces[0].close == CLOSE
    assert all(p.reopen == "```python\n" for p in pieces[1:-1])
    for piece in pieces:
        assert open_fence_language(piece.content) is None
        assert len(piece.content) <= 120


def _texts() -> st.SearchStrategy[str]:
    atoms = st.sampled_from(
        ["word ", "longerword", "。", "中文字符", ". ", "\n", "\n\n", "```js\n", "```\n", "`", " "]
    )
    return st.lists(st.one_of(atoms, st.text(max_size=30)), max_size=120).map("".join)


@settings(max_examples=300, deadline=None)
@given(_texts(), st.integers(min_value=40, max_value=300))
def test_property_nothing_lost_and_every_piece_fits(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert "".join(p.text for p in pieces) == text
    assert all(len(p.content) <= limit for p in pieces)
    assert all(p.text for p in pieces[:-1])
    assert all(open_fence_language(p.content) is None for p in pieces)


@settings(max_examples=200, deadline=None)
@given(_texts(), st.integers(min_value=40, max_value=300), st.data())
def test_property_settled_pieces_never_change_as_text_grows(
    text: str, limit: int, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    early, late = split_text(text[:cut], limit), split_text(text, limit)
    assert early[:-1] == late[: len(early) - 1]


def test_room_for_a_footer_moves_the_last_lines_into_one_more_piece() -> None:
    text = "First paragraph. " * 5 + "\n\n" + "Second one. " * 4
    assert [p.text for p in split_text(text, limit=200)] == [text]
    pieces = split_text(text, limit=200, last_limit=60)
    assert [p.text for p in pieces] == ["First paragraph. " * 5 + "\n\n", "Second one. " * 4]

    code = "```python\n" + "x = 1\n" * 25 + "```"
    pieces = split_text(code, limit=200, last_limit=100)
    assert len(pieces) == 2 and len(pieces[-1].content) <= 100
    assert pieces[0].close == CLOSE and pieces[1].reopen == "```python\n"
    assert "".join(p.text for p in pieces) == code


@settings(max_examples=200, deadline=None)
@given(_texts(), st.integers(min_value=40, max_value=300), st.data())
def test_property_last_limit_keeps_earlier_pieces_and_fits_the_tail(
    text: str, limit: int, data: st.DataObject
) -> None:
    last_limit = data.draw(st.integers(min_value=limit // 2, max_value=limit))
    plain, roomy = split_text(text, limit), split_text(text, limit, last_limit)
    assert "".join(p.text for p in roomy) == text
    assert roomy[: len(plain) - 1] == plain[:-1]
    assert all(len(p.content) <= limit for p in roomy)
    last = roomy[-1]
    # Only a fence line longer than the room itself can leave the tail over it.
    assert len(last.content) <= last_limit or len(last.reopen + CLOSE) >= last_limit
