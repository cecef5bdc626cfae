"""Upstream faults through the whole bot: what a member sees, and that no credit goes astray.

Each test drives /gpt or /imagine through the sandbox Discord against a sandbox gateway that
misbehaves in one documented way (upstream-api.md §6), then checks the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.sandbox.upstream.wire import openai_error
from tests.helpers import (
    ManualClock,
    ever_showed,
    final_answer,
    hold_until_shown,
    mj_actions,
    run_slash,
    wait_until,
)
from tests.reliability.amounts import (
    NOTHING,
    action_charge,
    chat_by_shown,
    chat_by_usage,
    shown_answer,
)
from tests.reliability.conftest import Note, scenario
from tests.reliability.support import (
    channel_cards,
    ephemeral_reply,
    finished_card,
    settled,
    world,
)

CHAT = r"^/v1/chat/completions$"
MJ_SUBMIT = r"^/mj/submit/imagine$"


async def ask(w: Any, prompt: str = "hello", *, locale: str = "en-US", **options: Any) -> Any:
    member = w.add_member(f"m{len(w.discord.store.users)}", locale=locale)
    handle = await run_slash(w, member, "gpt", {"prompt": prompt, **options}, locale=locale)
    return await final_answer(w, handle)


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accepts connections and reads requests, but never sends a byte back."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while await reader.read(65536):
                pass
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


# --- /gpt: transport faults -----------------------------------------------------------------


@scenario(
    "upstream",
    "connection refused (upstream down) during /gpt",
    sees="⚠️ The AI service failed to answer: could not connect to the upstream",
)
async def test_gpt_connection_refused(note: Note) -> None:
    async with world() as w:
        await w.upstream.close()
        [message] = await ask(w)
        assert message.content == (
            "⚠️ The AI service failed to answer: could not connect to the upstream"
        )
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "connection refused: gateway URL points at a closed port (/imagine)",
    sees="private: The AI service failed to answer: could not connect…; no card left",
)
async def test_imagine_connection_refused(note: Note) -> None:
    async with world(upstream={"base_url": closed_port()}) as w:
        member = w.add_member("alice")
        handle = await run_slash(w, member, "imagine", {"prompt": "a fox"})
        reply = await ephemeral_reply(w, handle)
        assert "could not connect to the upstream" in reply.content
        assert channel_cards(w) == []
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "timeout before the first byte (gateway accepts, never answers)",
    sees="⚠️ The AI service took too long to answer. Nothing was charged…",
)
async def test_gpt_timeout_before_first_byte(note: Note) -> None:
    async with silent_server() as url:
        async with world(upstream={"base_url": url, "read_timeout": 0.5}) as w:
            [message] = await ask(w)
            assert message.content.startswith("⚠️ The AI service took too long to answer.")
            await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "stream stalls longer than upstream.read_timeout",
    sees="the text so far, then “⚠️ The answer was cut off: …took too long…” and the cost",
    lost="nothing: charged only for the text shown",
)
async def test_gpt_stream_stall(note: Note) -> None:
    async with world(upstream={"read_timeout": 0.5}) as w:
        w.upstream.chat.reply = "The beginning of a long answer. " * 4
        w.upstream.chat.stall_after_chars = 40
        w.upstream.chat.stall_seconds = 5
        [message] = await ask(w)
        assert message.content.startswith(w.upstream.chat.reply[:40])
        assert "cut off" in message.content and "took too long" in message.content
        shown = shown_answer([message])
        assert shown == w.upstream.chat.reply[:40]
        await settled(w, note, chat_by_shown(w, shown))


@scenario(
    "upstream",
    "connection dropped mid-stream (no [DONE])",
    sees="the text so far, then “⚠️ The answer was cut off: the upstream closed…”",
    lost="nothing: charged only for the text shown",
)
async def test_gpt_drop_mid_stream(note: Note) -> None:
    async with world() as w:
        w.upstream.chat.reply = "abcdefgh" * 30
        w.upstream.chat.drop_after_chars = 64
        [message] = await ask(w)
        assert message.content.startswith("abcdefgh" * 8)
        assert "cut off" in message.content
        assert shown_answer([message]) == "abcdefgh" * 8
        await settled(w, note, chat_by_shown(w, "abcdefgh" * 8))


@scenario(
    "upstream",
    "malformed SSE: a data line that is not JSON after some text",
    sees="the text so far, then “⚠️ The answer was cut off: the upstream sent a malformed chunk”",
    lost="nothing: charged only for the text shown",
)
async def test_gpt_malformed_chunk(note: Note) -> None:
    async with world() as w:
        body = (
            'data: {"choices":[{"index":0,"delta":{"content":"Partial answer"}}]}\n\n'
            "data: {oops, not json\n\n"
            "data: [DONE]\n\n"
        )
        w.upstream.inject(CHAT, 200, body, content_type="text/event-stream")
        [message] = await ask(w)
        assert message.content.startswith("Partial answer")
        assert "malformed chunk" in message.content
        assert shown_answer([message]) == "Partial answer"
        await settled(w, note, chat_by_shown(w, "Partial answer"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html><body>Gateway busy</body></html>", "the upstream sent an empty stream"),
        (": keep-alive only\n\n: and nothing else\n\n", "the upstream sent an empty stream"),
        ('data: {"choices": "not a list"}\n\n', "the upstream sent an unexpected answer"),
        ("data: [DONE]\n\n", "the upstream returned an empty answer"),
    ],
    ids=["html-as-sse", "comments-only", "wrong-shape", "done-without-text"],
)
@scenario(
    "upstream",
    "malformed SSE: no events, wrong shapes, [DONE] with no text",
    sees="⚠️ The AI service failed to answer: <what was wrong>",
)
async def test_gpt_malformed_streams(note: Note, body: str, expected: str) -> None:
    async with world() as w:
        w.upstream.inject(CHAT, 200, body, content_type="text/event-stream")
        [message] = await ask(w)
        assert message.content.startswith("⚠️") and expected in message.content
        note(fault=f"malformed SSE: {body.strip()[:60]!r}", sees=message.content)
        await settled(w, note, NOTHING)


@pytest.mark.parametrize(
    ("body", "content_type", "stream", "expected"),
    [
        ('{"choices": [', "application/json", False, "the upstream sent an unreadable answer"),
        ('{"object": "chat.completion"}', "application/json", True, "did not stream"),
        ('{"choices": []}', "application/json", False, "the upstream returned no answer"),
    ],
    ids=["truncated-json", "json-instead-of-stream", "no-choices"],
)
@scenario(
    "upstream",
    "malformed JSON answers (whole-answer model, or JSON where a stream was asked for)",
    sees="⚠️ The AI service failed to answer: <what was wrong>",
)
async def test_gpt_malformed_json(
    note: Note, body: str, content_type: str, stream: bool, expected: str
) -> None:
    models = [{"name": "gpt-4o-mini", "stream": stream}]
    async with world(chat={"models": models}) as w:
        w.upstream.inject(CHAT, 200, body, content_type=content_type)
        [message] = await ask(w)
        assert message.content.startswith("⚠️") and expected in message.content
        route = "streamed" if stream else "whole-answer"
        note(fault=f"malformed JSON on the {route} route: {body!r}", sees=message.content)
        await settled(w, note, NOTHING)


# --- /gpt: every documented error shape -----------------------------------------------------

GPT_ERRORS: list[tuple[str, str, str]] = [
    ("auth", "en-US", "⚠️ The AI service refused the bot's API key. Please tell the bot operator."),
    ("insufficient_balance", "zh-CN", "⚠️ AI 服务账户余额已用完，请告知机器人运营者。"),
    ("pre_consume_failed", "en-US", "⚠️ The AI service account has run out of funds."),
    ("access_denied", "en-US", "⚠️ The AI service refused the bot's API key."),
    ("rate_limited", "en-US", "⚠️ The AI service is busy right now."),
    ("model_not_found", "en-US", "⚠️ That model is not available right now. Try another one."),
    ("content_blocked", "en-US", "⚠️ The request was blocked by the content filter: 敏感词检测失败"),
    ("content_policy", "en-US", "⚠️ The request was blocked by the content filter: Your request"),
    ("upstream_failure", "en-US", "⚠️ The AI service failed to answer: do request failed"),
    ("bad_gateway", "en-US", "⚠️ The AI service failed to answer: bad response status code 502"),
    ("html_502", "en-US", "⚠️ The AI service failed to answer: HTTP 502"),
]


@pytest.mark.parametrize(
    ("preset", "locale", "expected"), GPT_ERRORS, ids=[e[0] for e in GPT_ERRORS]
)
@scenario(
    "upstream",
    "documented error shapes on /gpt (401, 403 ×3, 429, 503, sensitive words, policy, 5xx)",
    sees="one ⚠️ line in the member's language, request id stripped",
)
async def test_gpt_documented_errors(note: Note, preset: str, locale: str, expected: str) -> None:
    async with world() as w:
        injected = w.upstream.inject_error(preset, path_regex=CHAT)
        [message] = await ask(w, locale=locale)
        assert injected.hits == 1
        assert message.content.startswith(expected), message.content
        assert "request id" not in message.content
        note(fault=f"{preset} (HTTP {w.upstream.records[-1].status}) on /gpt", sees=message.content)
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "HTTP 504 from the gateway (get_channel_failed)",
    sees="⚠️ The AI service failed to answer: get channel failed",
)
async def test_gpt_504(note: Note) -> None:
    async with world() as w:
        body = openai_error("get channel failed (request id: 2025X)", code="get_channel_failed")
        w.upstream.inject(CHAT, 504, body)
        [message] = await ask(w)
        assert message.content == "⚠️ The AI service failed to answer: get channel failed"
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "an error object inside the stream after some text",
    sees="the text so far, then “⚠️ The answer was cut off: …”",
    lost="nothing: charged only for the text shown",
)
async def test_gpt_error_event_mid_stream(note: Note) -> None:
    async with world() as w:
        body = (
            'data: {"choices":[{"index":0,"delta":{"content":"Half of it"}}]}\n\n'
            'data: {"error":{"message":"upstream overloaded (request id: 1)",'
            '"type":"upstream_error","code":"do_request_failed"}}\n\n'
        )
        w.upstream.inject(CHAT, 200, body, content_type="text/event-stream")
        [message] = await ask(w)
        assert message.content.startswith("Half of it")
        assert "cut off" in message.content and "upstream overloaded" in message.content
        assert "request id" not in message.content
        assert shown_answer([message]) == "Half of it"
        await settled(w, note, chat_by_shown(w, "Half of it"))


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
@scenario(
    "upstream",
    "content_filter finish_reason in a 200 stream",
    sees="the text that came, then “-# ⚠️ The answer was cut off: The AI service's content "
    "filter stopped the answer here.” and the cost",
    lost="nothing: charged for the text shown (by the upstream's usage)",
)
async def test_gpt_content_filter_finish(note: Note, locale: str) -> None:
    async with world() as w:
        w.upstream.chat.reply = "Here is a partial"
        w.upstream.chat.finish_reason = "content_filter"
        [message] = await ask(w, locale=locale)
        text, notice, footer = message.content.split("\n")
        assert text == "Here is a partial"
        assert (
            notice
            == {
                "en-US": "-# ⚠️ The answer was cut off: The AI service's content filter stopped the "
                "answer here.",
                "zh-CN": "-# ⚠️ 回答中断：AI 服务的内容过滤在此处中止了回答。",
            }[locale]
        )
        # A content filter ends the stream normally, usage included: charged by that usage.
        charge = chat_by_usage(w)
        await settled(w, note, charge)
        assert footer.startswith("-# ") and f" {charge.amount} " in footer
        note(fault=f"content_filter finish_reason in a 200 stream ({locale})", sees=message.content)


# --- /imagine: submit refusals in the MJ and task shapes --------------------------------------

MJ_ERRORS: list[tuple[str, str]] = [
    ("mj_insufficient_balance", "The AI service account has run out of funds."),
    ("mj_saturated", "The AI service is busy right now."),
    ("task_insufficient_balance", "The AI service account has run out of funds."),
    ("task_saturated", "The AI service is busy right now."),
    ("auth", "The AI service refused the bot's API key."),
    ("model_not_found", "That model is not available right now."),
    ("bad_gateway", "The AI service failed to answer: bad response status code 502"),
]


@pytest.mark.parametrize(("preset", "expected"), MJ_ERRORS, ids=[e[0] for e in MJ_ERRORS])
@scenario(
    "upstream",
    "/imagine submit refused (MJ shape, task shape, OpenAI shape)",
    sees="private message with the reason; the job card is removed",
)
async def test_imagine_submit_errors(note: Note, preset: str, expected: str) -> None:
    async with world() as w:
        # A refused key is asked once more with mj-api-secret (upstream.mj_auth "auto").
        w.upstream.inject_error(preset, path_regex=MJ_SUBMIT, times=2 if preset == "auth" else 1)
        member = w.add_member("alice")
        handle = await run_slash(w, member, "imagine", {"prompt": "a lighthouse"})
        reply = await ephemeral_reply(w, handle)
        assert expected in reply.content, reply.content
        assert channel_cards(w) == []
        note(fault=f"{preset} on /mj/submit/imagine", sees=f"private: {reply.content}")
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "MJ banned prompt (HTTP 200, code 24)",
    sees="private: Your prompt contains a banned word: **gore**. Nothing was charged.",
)
async def test_imagine_banned_word(note: Note) -> None:
    async with world() as w:
        member = w.add_member("alice")
        handle = await run_slash(w, member, "imagine", {"prompt": "gore everywhere"})
        reply = await ephemeral_reply(w, handle)
        assert "**gore**" in reply.content and "Nothing was charged" in reply.content
        await settled(w, note, NOTHING)


# --- /imagine: tasks that go wrong after they started -------------------------------------------


@scenario(
    "upstream",
    "task never finishes (stays IN_PROGRESS past the deadline)",
    sees="card: ❌ Timed out: the service did not finish in time. -# 20 credits refunded.",
)
async def test_imagine_never_finishes(note: Note) -> None:
    async with world(jobs={"image_deadline": 0.8 / 60}) as w:
        w.upstream.midjourney.never_finish = True
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "forever"})
        card = await finished_card(w)
        assert "Timed out" in card.content and "20 credits refunded" in card.content
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "task flips to FAILURE after showing progress",
    sees="card: progress bar, then ❌ Failed: <reason> -# 20 credits refunded.",
)
async def test_imagine_failure_after_progress(note: Note) -> None:
    async with world(jobs={"progress_interval": 0.05}) as w:
        mj = w.upstream.midjourney
        mj.clock = ManualClock()
        mj.durations = (0.02, 0.02, 0.8)
        mj.fail_next = "Job failed: internal error"
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a tree"})
        await hold_until_shown(mj, 0.4, lambda: ever_showed(w, "▓", "%"))
        card = await finished_card(w)
        shown = [content for _, content, _ in card.history]
        assert any("▓" in c and "%" in c for c in shown), shown
        assert "❌" in card.content and "internal error" in card.content
        assert "20 credits refunded" in card.content
        await settled(w, note, NOTHING)


@scenario(
    "upstream",
    "polling fails (HTTP 500 on list-by-condition) while a task runs",
    sees="the finished card, a little later",
)
async def test_imagine_poll_errors_are_retried(note: Note) -> None:
    async with world() as w:
        w.upstream.inject_error(
            "upstream_failure", path_regex=r"/mj/task/list-by-condition$", times=3
        )
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a lake"})
        card = await finished_card(w)
        assert card.attachments and "20 credits" in card.content
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "upstream",
    "the result URL answers 404",
    sees="card with all buttons and a link instead of the image",
    lost="the image is not attached (the task ran and is charged; buttons still work)",
)
async def test_imagine_result_404(note: Note) -> None:
    async with world() as w:
        w.upstream.inject(r"^/mj/image/", 404, "image not found", times=None)
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a castle"})
        card = await finished_card(w)
        assert card.attachments == []
        assert "could not be attached here" in card.content and "/mj/image/" in card.content
        assert len(mj_actions(card)) == 9  # and the bot's Seed after them
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "upstream",
    "the result is larger than the upload cap",
    sees="card with all buttons and “The file is too large to upload here: <link>”",
    lost="the image is not attached (link instead)",
)
async def test_imagine_result_too_large(note: Note) -> None:
    async with world(jobs={"max_upload_bytes": 2048}) as w:
        w.upstream.midjourney.image_bytes = 4096
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "huge"})
        card = await finished_card(w)
        assert card.attachments == [] and "too large to upload" in card.content
        await settled(w, note, action_charge(w, "mj_imagine"))


@scenario(
    "upstream",
    "images route (dall-e-3) answers 500",
    sees="card: ❌ Failed: do request failed… -# 20 credits refunded.",
)
async def test_images_route_failure(note: Note) -> None:
    async with world() as w:
        w.upstream.inject_error("upstream_failure", path_regex=r"^/v1/images/generations$")
        member = w.add_member("alice")
        await run_slash(w, member, "imagine", {"prompt": "a cat", "model": "dall-e-3"})
        card = await finished_card(w)
        assert "❌" in card.content and "refunded" in card.content
        await settled(w, note, NOTHING)


async def _wait_requests(w: Any, path: str, count: int = 1) -> None:
    await wait_until(lambda: len(w.upstream.requests_to(path)) >= count)
