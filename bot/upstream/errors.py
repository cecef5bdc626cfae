"""Turn the gateway's three error body shapes into the typed errors of ``bot.errors``.

Shapes (upstream-api.md §6):
- OpenAI:      ``{"error": {"message", "type", "code"}}``, also sent with HTTP 200 by billing routes
- Midjourney:  ``{"code": 4, "description": "…", "type": "upstream_error"}`` (HTTP 400, or 429)
- Task:        ``{"code": "<str>", "message": "…", "data": null}`` (Suno and video)
Anything else (an HTML page from a proxy, plain text) is kept as a short detail.

The classification looks at the HTTP status *and* the code, because the same status means
different things: a 403 is either an empty wallet or a key that may not use this model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import (
    ContentBlocked,
    ModelUnavailable,
    UpstreamAuthError,
    UpstreamError,
    UpstreamFailure,
    UpstreamInsufficientBalance,
    UpstreamRateLimited,
)
from bot.upstream.parsing import as_text

BALANCE_CODES = frozenset(
    {"insufficient_user_quota", "pre_consume_token_quota_failed", "quota_not_enough"}
)
CONTENT_CODES = frozenset(
    {"sensitive_words_detected", "content_policy_violation", "prompt_blocked", "content_filter"}
)
MODEL_CODES = frozenset({"model_not_found"})
MJ_SATURATED = 30

# Keep logged and shown text bounded; error pages can be large.
MAX_DETAIL_CHARS = 500

# " (request id: 2025…)" in ASCII or full-width brackets, at the end of the message.
_REQUEST_ID_TAIL = re.compile(
    r"\s*[(（]\s*request[ _-]?id\s*[:：]\s*([^)）]*?)\s*[)）]\s*$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class ParsedError:
    """What a gateway error body says, before classification."""

    message: str
    code: str | None
    type: str | None
    # Extra identifiers that classification also matches against (an MJ description token).
    tokens: frozenset[str] = frozenset()
    midjourney: bool = False


def split_request_id(message: str) -> tuple[str, str | None]:
    """Return ``(message without the request-id tail, request id or None)``."""
    match = _REQUEST_ID_TAIL.search(message)
    if match is None:
        return message.strip(), None
    return message[: match.start()].strip(), match.group(1) or None


def parse_error_body(body: Any) -> ParsedError | None:
    """Recognise one of the three error shapes in decoded JSON; ``None`` if it is none of them."""
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        return ParsedError(
            message=as_text(err.get("message")),
            code=_code(err.get("code")),
            type=_code(err.get("type")),
        )
    if isinstance(err, str) and err:
        return ParsedError(message=err, code=None, type=None)
    code = body.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and "description" in body:
        description = as_text(body.get("description"))
        token = description.strip().lower()
        return ParsedError(
            message=description.strip(),
            code=str(code),
            type=_code(body.get("type")),
            tokens=frozenset({token}) if re.fullmatch(r"[a-z0-9_:]+", token) else frozenset(),
            midjourney=True,
        )
    if isinstance(code, str) and code != "success" and "message" in body:
        if body.get("data") is None:
            return ParsedError(message=as_text(body.get("message")) or code, code=code, type=None)
    return None


def is_error_body(body: Any, status: int) -> bool:
    """True when a 2xx body still reports a failure (billing routes do this on DB errors).

    Midjourney's numeric codes are left to the Midjourney client: on HTTP 200 a code 21 or 24 is
    an answer that needs handling, not a transport error.
    """
    if status >= 400:
        return True
    parsed = parse_error_body(body)
    return parsed is not None and not parsed.midjourney


def build_error(
    status: int,
    body: Any,
    *,
    raw_text: str = "",
    redact: Callable[[str], str] = lambda s: s,
    header_request_id: str | None = None,
) -> UpstreamError:
    """Build the typed error for an error response.

    ``body`` is decoded JSON, or ``None`` when the body was not JSON (then ``raw_text`` is used).
    ``redact`` removes secrets from every string that ends up in the error.
    """
    parsed = parse_error_body(body)
    if parsed is None:
        parsed = ParsedError(message=_plain_text_detail(status, raw_text), code=None, type=None)
    message = redact(parsed.message)
    detail, request_id = split_request_id(message)
    request_id = request_id or header_request_id
    code = redact(parsed.code) if parsed.code else None
    detail = detail or code or f"HTTP {status}"  # a member should never see an empty reason
    cls = classify(status, parsed)
    return cls(detail[:MAX_DETAIL_CHARS], status=status, code=code, request_id=request_id)


def classify(status: int, parsed: ParsedError) -> type[UpstreamError]:
    """Pick the error class from the status and the codes; order matters (see comments)."""
    keys = {k.lower() for k in (parsed.code, parsed.type) if k} | parsed.tokens
    # Content and balance codes are decisive whatever the status: the sensitive-word filter has
    # answered both 400 and 500 across builds, and MJ reports an empty wallet as HTTP 400.
    if keys & CONTENT_CODES:
        return ContentBlocked
    if keys & BALANCE_CODES:
        return UpstreamInsufficientBalance
    if status == 401:
        return UpstreamAuthError
    if status == 503 or keys & MODEL_CODES:
        return ModelUnavailable
    if status == 403:
        return UpstreamAuthError  # model, group or IP not allowed for this key
    if status == 429 or (parsed.midjourney and parsed.code == str(MJ_SATURATED)):
        return UpstreamRateLimited
    return UpstreamFailure


def raise_for_error_body(
    obj: Any, status: int = 200, *, redact: Callable[[str], str] = lambda s: s
) -> None:
    """Raise the typed error if ``obj`` reports a failure, even inside an HTTP 200 answer."""
    if is_error_body(obj, status):
        raise build_error(status, obj, redact=redact)


def decode_json(raw: bytes) -> Any | None:
    """Decode a body as JSON, or ``None`` if it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _plain_text_detail(status: int, raw_text: str) -> str:
    text = raw_text.strip()
    # An HTML error page from a reverse proxy says nothing useful to a member.
    if not text or text.startswith("<"):
        return f"HTTP {status}"
    return " ".join(text.split())[:MAX_DETAIL_CHARS]


def _code(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)
