"""Error bodies the sandbox can answer with, in the gateway's three shapes (upstream-api.md §6).

Each preset is ``(status, body factory)``; the factory gets the request id of the request being
answered so the ``(request id: …)`` tail matches the ``X-Oneapi-Request-Id`` header, as on
new-api.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bot.sandbox.upstream.wire import BodyFactory, mj_error, openai_error, tail, task_error


@dataclass(frozen=True, slots=True)
class Preset:
    status: int
    body: BodyFactory


def _openai(message: str, code: str | None, type: str = "new_api_error", **kw: bool) -> BodyFactory:
    return lambda rid: openai_error(tail(message, rid, **kw), code=code, type=type)


_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"
)

PRESETS: Mapping[str, Preset] = MappingProxyType(
    {
        # 401: missing/invalid/expired/used-up key.
        "auth": Preset(401, _openai("无效的令牌", "")),
        # 403 with a balance code: the account or key cannot pay.
        "insufficient_balance": Preset(
            403, _openai("用户额度不足, 剩余额度: $0.01", "insufficient_user_quota")
        ),
        "pre_consume_failed": Preset(
            403,
            _openai("token quota is not enough for pre-consume", "pre_consume_token_quota_failed"),
        ),
        # 403 without a balance code: this key may not use this model/group/IP.
        "access_denied": Preset(403, _openai("您的 IP 不在令牌允许访问的列表中", "access_denied")),
        "rate_limited": Preset(429, _openai("您已达到请求数限制：1分钟内最多请求10次", "")),
        "model_not_found": Preset(
            503,
            _openai("当前分组 default 下对于模型 gpt-x 无可用渠道", "model_not_found"),
        ),
        "content_blocked": Preset(
            400, _openai("敏感词检测失败: 包含敏感词", "sensitive_words_detected")
        ),
        # An upstream OpenAI moderation error passed through, with a full-width tail.
        "content_policy": Preset(
            400,
            _openai(
                "Your request was rejected as a result of our safety system.",
                "content_policy_violation",
                "invalid_request_error",
                fullwidth=True,
            ),
        ),
        "upstream_failure": Preset(
            500,
            _openai("do request failed: connection reset", "do_request_failed", "upstream_error"),
        ),
        "bad_gateway": Preset(
            502,
            _openai("bad response status code 502", "bad_response_status_code", "upstream_error"),
        ),
        # A reverse proxy in front of the gateway gave up: not JSON at all.
        "html_502": Preset(502, lambda rid: _HTML_502),
        # Billing routes on a DB error: HTTP 200 with an error body.
        "billing_db_error": Preset(
            200, _openai("database error: connection refused", None, "upstream_error")
        ),
        # Midjourney shape: the description token carries the meaning.
        "mj_insufficient_balance": Preset(400, lambda rid: mj_error(4, "quota_not_enough ")),
        "mj_saturated": Preset(429, lambda rid: mj_error(30, "当前分组上游负载已饱和，请稍后再试")),
        "mj_task_not_found": Preset(400, lambda rid: mj_error(4, "task_not_found")),
        # Task shape (Suno/video). The overload code is not documented; only the 429 matters.
        "task_insufficient_balance": Preset(
            403, lambda rid: task_error("insufficient_user_quota", tail("用户额度不足", rid))
        ),
        "task_saturated": Preset(
            429, lambda rid: task_error("upstream_saturated", "当前分组上游负载已饱和，请稍后再试")
        ),
        "task_not_exist": Preset(400, lambda rid: task_error("task_not_exist", "task_not_exist")),
    }
)


def preset(name: str) -> Preset:
    """Look up a preset by name, listing the valid names when it is unknown."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown error preset {name!r}; choose from {sorted(PRESETS)}") from None
