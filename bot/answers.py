"""Paid chat answers: hold an estimate, stream the upstream into a reply, settle what was used."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.config import ChatConfig
from bot.errors import (
    AnswerFiltered,
    AnswerNotShown,
    ReasoningOnly,
    UpstreamError,
    UpstreamFailure,
)
from bot.fallbacks import chain, may_fall_back
from bot.ledger import Hold, Ledger
from bot.pricing import PricingConfig
from bot.reasoning import ReasoningStream, quoted_reasoning
from bot.spending import Spending, SpendRequest
from bot.streaming import StreamingReply
from bot.upstream import ChatClient, ChatUsage

log = logging.getLogger(__name__)

# Characters of the first message a shown reasoning block may take: the answer starts there too.
SHOWN_REASONING_ROOM = 1200

# Characters that tokenizers count about one token each; everything else runs ~4 chars a token.
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")

Message = dict[str, Any]


def estimate_tokens(text: str) -> int:
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def _last_user_text(messages: list[Message]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return prompt_text(users[-1:])


def prompt_text(messages: list[Message]) -> str:
    parts: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, dict))
    return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class ChatChoice:
    """What answers: the upstream model name, what members call it, and how to call it."""

    model: str
    label: str
    stream: bool = True
    gizmo_id: str | None = None


@dataclass(slots=True)
class Outcome:
    text: str
    cost: int
    usage: ChatUsage | None
    error: UpstreamError | None
    shown: bool = True  # False when Discord kept refusing the reply
    reasoning: str = ""  # never part of text, never sent back upstream
    model: str = ""  # the model that answered: a fallback's name when the first one failed

    @property
    def delivered(self) -> bool:
        return bool(self.text) and self.shown


class AnswerService:
    def __init__(
        self, chat: ChatClient, spending: Spending, pricing: PricingConfig, config: ChatConfig
    ) -> None:
        self.chat = chat
        self.spending = spending
        self.ledger: Ledger = spending.ledger
        self.pricing = pricing
        self.config = config

    def estimate(self, choice: ChatChoice, messages: list[Message]) -> int:
        """The most this answer may cost: the whole prompt plus the longest allowed reply."""
        prompt = estimate_tokens(prompt_text(messages))
        # Any model of the fallback chain may answer: hold for the dearest.
        return max(
            self.pricing.chat_price(model).cost(prompt, self.config.max_output_tokens)
            for model in chain(self.config, choice.model)
        )

    def cost(
        self, choice: ChatChoice, messages: list[Message], text: str, usage: ChatUsage | None
    ) -> int:
        rule = self.pricing.chat_price(choice.model)
        if usage is not None:
            return rule.cost(usage.prompt_tokens, usage.completion_tokens, usage.reasoning_tokens)
        # No usage chunk (or a cut stream): charge by our own estimate of what was used.
        return rule.cost(estimate_tokens(prompt_text(messages)), estimate_tokens(text))

    async def hold(
        self,
        choice: ChatChoice,
        messages: list[Message],
        *,
        guild_id: int,
        user_id: int,
        channel_id: int,
        key: str,
        role_ids: tuple[int, ...] = (),
    ) -> Hold:
        """Pass the spending gate with the estimate; raises before anything reaches the upstream.

        Only the member's newest message is moderated: the history was checked when it was new.
        """
        await self.spending.admit(guild_id, user_id, channel_id, _last_user_text(messages))
        request = SpendRequest(
            guild_id=guild_id, user_id=user_id, amount=self.estimate(choice, messages), key=key,
            command=f"gpt:{choice.model}", cooldown="gpt", role_ids=role_ids,
        )  # fmt: skip
        return await self.spending.hold(request)

    async def run(
        self,
        hold: Hold,
        choice: ChatChoice,
        messages: list[Message],
        reply: StreamingReply,
        footer: Callable[[Outcome], str],
        *,
        thinking: Callable[[float], str] | None = None,
        show_reasoning: bool = False,
        preamble: str = "",
    ) -> Outcome:
        """Stream the answer into ``reply``, finish it with ``footer(outcome)``, then settle.

        Upstream failures end up in ``outcome.error``, never raised. The hold is settled once
        the reply is final, for what the member can read: if Discord keeps refusing the reply,
        only the part that was shown is charged (nothing if none was), and the error is raised.

        Reasoning (any of the three forms) is kept apart in ``outcome.reasoning``; while the
        model only thinks, ``thinking(seconds)`` is the reply's live status. With
        ``show_reasoning`` the reasoning is quoted above the answer. ``preamble`` (a voice
        message's quoted transcript) opens the reply once the answer starts; it is never part
        of ``outcome.text``.
        """
        parts = ReasoningStream()
        usage: ChatUsage | None = None
        error: UpstreamError | None = None
        finish: str | None = None
        started = time.monotonic()
        prefix = 0  # characters of the reply before the answer (the quoted reasoning)

        def show(answer: str) -> None:
            nonlocal prefix
            if answer and not reply.text:
                head = preamble
                if show_reasoning and parts.reasoning.strip():
                    head += quoted_reasoning(parts.reasoning, SHOWN_REASONING_ROOM) + "\n\n"
                prefix = len(head)
                reply.feed(head)
            reply.feed(answer)
            if not parts.answer and parts.reasoning and thinking is not None:
                reply.live_status(thinking)  # ticks on between chunks; counts from reply.start()

        models = chain(self.config, choice.model)
        for index, model in enumerate(models):
            answered = replace(choice, model=model)
            if index:
                answered = replace(answered, stream=self.config.model(model).stream)
            try:
                if answered.stream:
                    async for delta in self.chat.stream_chat(
                        model, messages, max_tokens=self.config.max_output_tokens
                    ):
                        show(parts.feed(delta.text, delta.reasoning))
                        if delta.usage is not None:
                            usage = delta.usage
                        finish = delta.finish_reason or finish
                else:
                    result = await self.chat.complete_chat(
                        model, messages, max_tokens=self.config.max_output_tokens
                    )
                    usage, finish = result.usage, result.finish_reason
                    show(parts.feed(result.text, result.reasoning))
                error = None
                break
            except UpstreamError as exc:
                error = exc
                log.warning("chat answer failed model=%s hold=%s: %s", model, hold.id, exc)
                # Only before the first token (a shown status counts): text shown is never redone.
                if parts.answer or parts.reasoning or reply.text or not may_fall_back(exc):
                    break
                if time.monotonic() - started >= self.config.fallback_seconds:
                    break
                if index + 1 < len(models):
                    log.info("falling back from %s to %s", model, models[index + 1])
            except Exception:
                reply.stop()  # the caller refunds the hold and tells the member
                raise
        choice = answered  # priced and named as the model that answered (or failed last)
        show(parts.close())
        text = parts.answer
        filtered = error is None and finish == "content_filter"
        if filtered:
            # A clean end, short of the answer: the member is told why it stops there.
            error = AnswerFiltered("finish_reason content_filter", status=200)
        if not text and error is None and parts.reasoning.strip():
            error = ReasoningOnly("the model reasoned but gave no answer", status=200)
        if not text and error is None:
            # A clean end with no text (a bare [DONE]): say so rather than show an empty answer.
            error = UpstreamFailure("the upstream returned an empty answer", status=200)
        # A cut stream's usage (if any came) is not trusted: charge by our estimate instead.
        trusted = usage if error is None or filtered else None
        cost = self.cost(choice, messages, text, trusted) if text else 0
        outcome = Outcome(text, min(cost, hold.amount), usage, error,
                          reasoning=parts.reasoning, model=choice.model)  # fmt: skip
        try:
            await reply.finish(footer(outcome))
        except Exception as exc:
            # Discord's doing (a deleted channel, lost access), not a bug: a warning, and the
            # member is told in their language where Discord still allows it.
            shown = text[: max(0, reply.visible_chars - prefix)]
            log.warning("answer for hold %s could not be shown in full (%d of %d chars)",
                        hold.id, len(shown), len(text), exc_info=True)  # fmt: skip
            outcome.shown = False
            outcome.cost = await self._close(hold, self.cost(choice, messages, shown, None), shown)
            raise AnswerNotShown(f"hold {hold.id}: {type(exc).__name__}") from exc
        outcome.cost = await self._close(hold, outcome.cost, text)
        return outcome

    async def _close(self, hold: Hold, cost: int, text: str) -> int:
        """Settle for ``cost`` when some text reached the member, else refund; the charge."""
        if not text:
            await self.ledger.refund(hold)
            return 0
        settled = await self.ledger.settle(hold, cost)
        return settled.actual or 0
