"""Chat fallbacks: when a model fails before its first token, the next one configured answers.

Only failures that another model may not share move the answer on: a 5xx, ``model_not_found``
(no channel serves the model), and a 429 (an overloaded channel, or one out of quota: OpenAI's
``insufficient_quota`` comes through new-api as a 429). Our own key out of balance, a refused
key, a blocked prompt or a bad request fail the same way on every model: they end the answer.
"""

from __future__ import annotations

from bot.config import ChatConfig
from bot.errors import ModelUnavailable, UpstreamError, UpstreamRateLimited


def may_fall_back(error: UpstreamError) -> bool:
    if isinstance(error, ModelUnavailable | UpstreamRateLimited):
        return True
    return error.status is not None and error.status >= 500


def chain(config: ChatConfig, model: str) -> list[str]:
    """``model`` then its configured fallbacks (no repeats), at most ``fallback_attempts``."""
    names = dict.fromkeys([model, *config.model(model).fallbacks])
    return list(names)[: config.fallback_attempts]


