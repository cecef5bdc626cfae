"""Clients for the AI gateway; the only part of the bot that speaks the upstream's HTTP."""

from bot.upstream.billing import BillingClient, TokenUsage, UpstreamBalance
from bot.upstream.chat import ChatClient, ChatDelta, ChatResult, ChatUsage
from bot.upstream.client import SSEStream, UpstreamClient
from bot.upstream.errors import raise_for_error_body, split_request_id
from bot.upstream.sse import SSEEvent, SSEParser, iter_sse

__all__ = [
    "BillingClient",
    "ChatClient",
    "ChatDelta",
    "ChatResult",
    "ChatUsage",
    "SSEEvent",
    "SSEParser",
    "SSEStream",
    "TokenUsage",
    "UpstreamBalance",
    "UpstreamClient",
    "iter_sse",
    "raise_for_error_body",
    "split_request_id",
]
