"""Error bodies → typed errors: pure parsing and classification, no network."""

from __future__ import annotations

import pytest

from bot.errors import (
    ContentBlocked,
    ModelUnavailable,
    UpstreamAuthError,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
)
from bot.upstream.client import Redactor
from bot.upstream.errors import build_error, raise_for_error_body, split_request_id


def openai(message: str, code: str | None = None, type: str = "new_api_error") -> dict:
    return {"error": {"message": message, "type": type, "param": "", "code": code}}


def mj(code: int, description: str) -> dict:
    return {"code": code, "description": description, "type": "upstream_error"}


def task(code: str, message: str = "m") -> dict:
    return {"code": code, "message": message, "data": None}


@pytest.mark.parametrize(
    ("message", "detail", "request_id"),
    [
        ("用户额度不足 (request id: 2025ABC)", "用户额度不足", "2025ABC"),
        ("blocked（request id: 2025-x）", "blocked", "2025-x"),
        ("blocked （request id：2025y ）", "blocked", "2025y"),
        ("no id here", "no id here", None),
        ("(request id: only)", "", "only"),
        ("keeps (other) brackets (Request ID: R1)", "keeps (other) brackets", "R1"),
    ],
)
def test_split_request_id(message: str, detail: str, request_id: str | None) -> None:
    assert split_request_id(message) == (detail, request_id)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (401, openai("无效的令牌"), UpstreamAuthError),
        (401, openai("该令牌额度已用尽", "insufficient_user_quota"), UpstreamInsufficientBalance),
        (403, openai("余额不足", "insufficient_user_quota"), UpstreamInsufficientBalance),
        (403, openai("cap", "pre_consume_token_quota_failed"), UpstreamInsufficientBalance),
        (403, openai("denied", "access_denied"), UpstreamAuthError),
        (403, openai("group not allowed"), UpstreamAuthError),
        (429, openai("您已达到请求数限制"), UpstreamRateLimited),
        (503, openai("无可用渠道", "model_not_found"), ModelUnavailable),
        (404, openai("model gone", "model_not_found"), ModelUnavailable),
        (503, None, ModelUnavailable),
        (400, openai("敏感词", "sensitive_words_detected"), ContentBlocked),
        (500, openai("敏感词", "sensitive_words_detected"), ContentBlocked),
        (
            400,
            openai("safety", "content_policy_violation", "invalid_request_error"),
            ContentBlocked,
        ),
        (400, openai("blocked", None, "prompt_blocked"), ContentBlocked),
        (500, openai("x", "do_request_failed", "upstream_error"), UpstreamFailure),
        (502, openai("x", "bad_response_status_code"), UpstreamFailure),
        (504, openai("x", "get_channel_failed"), UpstreamFailure),
        (400, openai("bad param", "invalid_request"), UpstreamFailure),
        # Midjourney shape
        (400, mj(4, "quota_not_enough "), UpstreamInsufficientBalance),
        (429, mj(30, "负载已饱和"), UpstreamRateLimited),
        (400, mj(30, "负载已饱和"), UpstreamRateLimited),
        (400, mj(4, "task_not_found"), UpstreamFailure),
        # Task shape
        (403, task("insufficient_user_quota"), UpstreamInsufficientBalance),
        (403, task("quota_not_enough"), UpstreamInsufficientBalance),
        (429, task("x", "负载已饱和"), UpstreamRateLimited),
        (400, task("task_not_exist"), UpstreamFailure),
        # Not JSON, or JSON of no known shape
        (502, None, UpstreamFailure),
        (500, {"unexpected": True}, UpstreamFailure),
    ],
)
def test_classification(status: int, body: dict | None, expected: type[UpstreamError]) -> None:
    error = build_error(status, body, raw_text="<html>oops</html>")
    assert type(error) is expected
    assert error.status == status


def test_openai_shape_fields() -> None:
    body = openai(
        "用户额度不足, 剩余额度: $0.01 (request id: 20250101X)", "insufficient_user_quota"
    )
    error = build_error(403, body)
    assert error.detail == "用户额度不足, 剩余额度: $0.01"
    assert error.request_id == "20250101X"
    assert error.code == "insufficient_user_quota"
    assert "request id" not in error.detail


def test_mj_shape_fields() -> None:
    error = build_error(400, {"code": 4, "description": "quota_not_enough ", "type": "x"})
    assert (error.detail, error.code) == ("quota_not_enough", "4")


def test_header_request_id_is_the_fallback() -> None:
    error = build_error(500, openai("boom"), header_request_id="H1")
    assert (error.detail, error.request_id) == ("boom", "H1")
    error = build_error(500, openai("boom (request id: M1)"), header_request_id="H1")
    assert error.request_id == "M1"


def test_non_json_bodies_give_short_safe_detail() -> None:
    assert build_error(502, None, raw_text="<html><h1>502</h1></html>").detail == "HTTP 502"
    assert build_error(500, None, raw_text="  upstream\n  exploded ").detail == "upstream exploded"
    assert build_error(500, None, raw_text="").detail == "HTTP 500"
    assert len(build_error(500, None, raw_text="x" * 5000).detail) <= 500


def test_redaction_applies_to_detail_and_code() -> None:
    key = "sk-LEAKYkey0123456789abcdef"
    redact = Redactor(key)
    body = openai(f"Incorrect API key provided: {key} or LEAKYkey0123456789abcdef", key)
    error = build_error(401, body, redact=redact)
    for text in (str(error), repr(error), error.detail, error.code or ""):
        assert "LEAKYkey0123456789abcdef" not in text
    assert "sk-***" in error.detail


def test_redactor_catches_other_key_like_tokens() -> None:
    redact = Redactor("sk-mine")
    assert redact("use sk-abcdefghijklmnopqrstuvwx please") == "use sk-*** please"
    assert redact("sk-mine") == "sk-***"
    assert "mine" in redact("mine")  # too short to redact as a bare word: would mangle text
    assert repr(redact) == "Redactor(***)"


@pytest.mark.parametrize(
    "body",
    [
        {"object": "billing_subscription", "hard_limit_usd": 1.0},
        {"code": 1, "description": "提交成功", "result": "1712"},
        {"code": 24, "description": "banned", "properties": {"bannedWord": "x"}},
        {"code": "success", "message": "", "data": "task_1"},
        {"code": "success", "message": "", "data": None},
        {"code": 0, "msg": "ok", "data": {}},
        {"error": None, "data": []},
        [1, 2],
        None,
    ],
)
def test_success_bodies_do_not_raise(body: object) -> None:
    raise_for_error_body(body, 200)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"error": {"message": "db down", "type": "upstream_error"}}, UpstreamFailure),
        (
            {"error": {"message": "q", "code": "insufficient_user_quota"}},
            UpstreamInsufficientBalance,
        ),
        ({"error": "plain string error"}, UpstreamFailure),
        ({"code": "task_not_exist", "message": "task_not_exist", "data": None}, UpstreamFailure),
    ],
)
def test_error_bodies_under_http_200_raise(body: dict, expected: type[UpstreamError]) -> None:
    with pytest.raises(expected) as info:
        raise_for_error_body(body, 200)
    assert info.value.status == 200


def test_any_status_400_or_more_raises_even_with_unknown_body() -> None:
    with pytest.raises(UpstreamFailure):
        raise_for_error_body({"weird": 1}, 500)
