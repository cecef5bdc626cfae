"""The error shapes of upstream-api.md §6 that the shape-by-shape rows do not cover, end to end:
the sensitive-word filter at HTTP 500, a passed-through ``prompt_blocked``, an error body under
HTTP 200, and tasks the gateway says do not exist while they are polled. The member sees the
reason without the ``(request id: …)`` tail; the operator's log keeps the id."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.sandbox.upstream.wire import mj_error, openai_error, tail
from tests.helpers import final_answer, run_slash
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import finished_card, settled, world

CHAT = r"^/v1/chat/completions$"
LIST = r"/mj/task/list-by-condition$"


def logged_request_ids(caplog: pytest.LogCaptureFixture) -> set[str]:
    return {
        word.removeprefix("request_id=").rstrip(":")
        for record in caplog.records
        for word in record.getMessage().split()
        if word.startswith("request_id=") and word != "request_id=None"
    }


CHAT_ERRORS = [
    (
        "sensitive words at HTTP 500 (newer builds)",
        500,
        lambda rid: openai_error(
            tail("敏感词检测失败: 包含敏感词", rid), code="sensitive_words_detected"
        ),
        "application/json",
        "⚠️ The request was blocked by the content filter: 敏感词检测失败: 包含敏感词",
    ),
    (
        "prompt_blocked passed through from the upstream (HTTP 400)",
        400,
        lambda rid: openai_error(
            tail("Your prompt was blocked by the safety system.", rid),
            code="prompt_blocked",
            type="invalid_request_error",
        ),
        "application/json",
        "⚠️ The request was blocked by the content filter: Your prompt was blocked",
    ),
    (
        "an error body under HTTP 200 where a stream was expected",
        200,
        lambda rid: openai_error(
            tail("do request failed: upstream reset", rid),
            code="do_request_failed",
            type="upstream_error",
        ),
        "application/json",
        "⚠️ The AI service failed to answer: do request failed: upstream reset",
    ),
]


@pytest.mark.parametrize(
    ("what", "status", "body", "content_type", "expected"),
    CHAT_ERRORS,
    ids=["sensitive-500", "prompt-blocked", "error-under-200"],
)
@scenario(
    "upstream",
    "§6 errors on /gpt: sensitive words at 500, prompt_blocked, an error body under HTTP 200",
    sees="one ⚠️ line with the reason, request id stripped (and kept in the log)",
)
async def test_gpt_more_error_shapes(
    note: Note,
    caplog: pytest.LogCaptureFixture,
    what: str,
    status: int,
    body: Any,
    content_type: str,
    expected: str,
) -> None:
    caplog.set_level(logging.INFO)
    async with world() as w:
        injected = w.upstream.inject(CHAT, status, body, content_type=content_type)
        member = w.add_member("alice")
        [message] = await final_answer(w, await run_slash(w, member, "gpt", {"prompt": "hi"}))
        assert injected.hits == 1
        assert message.content.startswith(expected), message.content
        assert "request id" not in message.content
        [request] = w.upstream.requests_to("/v1/chat/completions")
        assert request.request_id in logged_request_ids(caplog)  # the operator can trace it
        note(fault=f"/gpt: {what}", sees=message.content)
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "/imagine: the gateway answers mj_task_not_found (HTTP 400) to two polls of a running task",
    sees="the finished card, a little later; charged once",
)
async def test_imagine_task_not_found_while_polling(note: Note) -> None:
    async with world() as w:
        injected = w.upstream.inject_error("mj_task_not_found", path_regex=LIST, times=2)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a lake"})
        card = await finished_card(w)
        assert injected.hits == 2 and card.attachments
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "upstream",
    "/imagine: every poll answers task_not_exist (the gateway lost the task)",
    sees="card: ❌ Timed out: the service did not finish in time. -# 20 credits refunded.",
    lost="nothing: refunded at the job's deadline (until then the card waits)",
)
async def test_imagine_task_lost_upstream(note: Note, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with world(jobs={"image_deadline": 1.0 / 60}) as w:
        lost = mj_error(4, "task_not_exist (request id: 20250101lost)")
        w.upstream.inject(LIST, 400, lost, times=None)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a lake"})
        card = await finished_card(w)
        assert "Timed out" in card.content and "20 credits refunded" in card.content
        assert "20250101lost" in logged_request_ids(caplog)
        assert "request id" not in card.content
        await settled(w, note, NOTHING)
