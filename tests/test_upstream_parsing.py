"""The one "field as text" rule every upstream parser shares."""

from __future__ import annotations

import pytest

from bot.upstream.parsing import as_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a name", "a name"),
        ("", ""),
        (1712345678901234, "1712345678901234"),  # ids often come as numbers
        (2.5, "2.5"),
        (None, ""),
        (True, ""),  # a boolean where text belongs is garbled, not the word "True"
        (False, ""),
        ({"message": "x"}, ""),
        (["x"], ""),
        pytest.param(10**5000, "", id="past-the-digit-limit"),  # str() raises on it
    ],
)
def test_as_text(value: object, text: str) -> None:
    assert as_text(value) == text
