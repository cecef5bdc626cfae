"""The one "field as text" rule every upstream parser shares."""

from __future__ import annotations

import pytest

from bot.upstream.midjourney import MJTask
from bot.upstream.parsing import as_text, percent
from bot.upstream.suno import SunoTask


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


@pytest.mark.parametrize(
    ("value", "shown"),
    [("45%", 45), (45, 45), ("45.5", 45), (150, 100), ("-5%", 0), (float("nan"), 0),
     (True, 0), (None, 0), ("soon", 0)],
)  # fmt: skip
def test_percent(value: object, shown: int) -> None:
    assert percent(value) == shown


def test_midjourney_and_suno_tasks_read_their_status_the_same_way() -> None:
    for parse in (MJTask.from_json, SunoTask.from_json):
        done = parse({"id": "1", "task_id": "1", "status": "success", "progress": "10%"})
        assert (done.status, done.progress, done.terminal, done.succeeded) == (
            "SUCCESS", 100, True, True,
        )  # fmt: skip
        failed = parse({"id": "1", "task_id": "1", "status": "FAILURE"})
        assert failed.terminal and failed.failed and not failed.succeeded
        odd = parse({"id": "1", "task_id": "1", "status": "WEIRD", "progress": "30%"})
        assert (odd.status, odd.progress, odd.terminal) == ("", 30, False)
    assert MJTask.from_json({"id": "1", "status": "CANCEL"}).terminal  # Midjourney only
    assert not SunoTask.from_json({"task_id": "1", "status": "CANCEL"}).terminal
