"""Prices in integer credits: per chat model (glob patterns) and per media action."""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.amounts import MAX_BALANCE, Price


class ChatPrice(BaseModel):
    """Price of one chat call: a fixed part plus tokens, in credits per 1,000 tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str
    per_call: Price = 0
    per_1k_input: Price = 0
    per_1k_output: Price = 0
    # Reasoning tokens (a part of the output the gateway reports as reasoning_tokens);
    # unset: priced as output.
    per_1k_reasoning: Price | None = None

    def cost(self, input_tokens: int, output_tokens: int, reasoning_tokens: int = 0) -> int:
        # Token counts come from the upstream: a negative one must not lower the price, and
        # integer arithmetic keeps large counts exact (a float division rounds them).
        output = max(0, output_tokens)
        reasoning = min(output, max(0, reasoning_tokens))
        per_reasoning = self.per_1k_reasoning
        if per_reasoning is None:
            per_reasoning = self.per_1k_output
        tokens = (
            self.per_1k_input * max(0, input_tokens)
            + self.per_1k_output * (output - reasoning)
            + per_reasoning * reasoning
        )
        # Capped: no balance can pay more, and the number must still fit a 64-bit column.
        return min(self.per_call + -(-tokens // 1000), MAX_BALANCE)


# The catch-all keeps any model the gateway adds paid for even when the operator lists none.
FALLBACK_CHAT_PRICE = ChatPrice(pattern="*", per_call=1, per_1k_input=2, per_1k_output=6)

DEFAULT_CHAT_PRICES: tuple[ChatPrice, ...] = (
    ChatPrice(pattern="gpt-4-gizmo-*", per_call=10),
    ChatPrice(pattern="gpt-4o-gizmo-*", per_call=10),
    FALLBACK_CHAT_PRICE,
)

DEFAULT_ACTION_PRICES: dict[str, int] = {
    "mj_imagine": 20,
    "mj_upscale": 10,
    "mj_variation": 20,
    "mj_reroll": 20,
    "mj_describe": 10,
    "mj_shorten": 10,
    # /swapface: new-api's default for swap_face is that of an upscale or a describe. An
    # image's seed costs nothing at the gateway, so it is free here too.
    "mj_swap_face": 10,
    "mj_blend": 20,
    "mj_modal": 20,
    "mj_action": 20,
    "suno_music": 20,
    "suno_lyrics": 2,
    "image": 20,
    "video": 100,
    # Midjourney video (mj_video models without a price of their own): new-api bills it as
    # the model mj_video, one call for a whole video task.
    "mj_video": 80,
}


class PricingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chat: tuple[ChatPrice, ...] = DEFAULT_CHAT_PRICES
    actions: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_ACTION_PRICES))

    @field_validator("actions")
    @classmethod
    def _merge_defaults(cls, value: dict[str, int]) -> dict[str, int]:
        return {**DEFAULT_ACTION_PRICES, **value}

    def chat_price(self, model: str) -> ChatPrice:
        """The first rule whose pattern matches the model, in the order configured."""
        for rule in self.chat:
            if fnmatchcase(model, rule.pattern):
                return rule
        return FALLBACK_CHAT_PRICE

    def action_price(self, action: str) -> int:
        """Price of a media action; every action the bot offers has a built-in default."""
        return self.actions[action]
