"""Video prices that follow the chosen options: length, mode (Kling's std/pro), aspect, audio.

A model's ``prices`` is a list of rules; the first rule that matches the chosen options gives
the price, ``price + per_second × seconds``. Every combination the model accepts must be
priced by some rule, checked once at start, so a member can never pick an unpriced video.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from pydantic import BaseModel, ConfigDict, Field


@dataclass(frozen=True, slots=True)
class VideoOptions:
    """What a member chose for one video; ``mode``/``audio`` are None where the model has none."""

    duration: int
    aspect: str
    mode: str | None = None
    audio: bool | None = None


class VideoPriceRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Which options the rule prices; an empty one matches any value.
    mode: str | None = None
    aspect: str | None = None
    audio: bool | None = None
    # Credits: a fixed part plus per second of video.
    price: int = Field(0, ge=0)
    per_second: int = Field(0, ge=0)

    def matches(self, options: VideoOptions) -> bool:
        return (
            (self.mode is None or self.mode == options.mode)
            and (self.aspect is None or self.aspect == options.aspect)
            and (self.audio is None or self.audio == bool(options.audio))
        )

    def cost(self, duration: int) -> int:
        return self.price + self.per_second * duration


def rule_text(rule: VideoPriceRule) -> str:
    """``pro · audio on: 20 + 20/s`` for the price list (/credit prices)."""
    when = [
        part
        for part in (
            rule.mode,
            rule.aspect,
            None if rule.audio is None else f"audio {'on' if rule.audio else 'off'}",
        )
        if part
    ]
    cost = (
        " + ".join(
            part
            for part in (
                f"{rule.price:,}" if rule.price else "",
                f"{rule.per_second:,}/s" if rule.per_second else "",
            )
            if part
        )
        or "0"
    )
    return f"{' · '.join(when) or 'any'}: {cost}"


def rule_for(rules: list[VideoPriceRule], options: VideoOptions) -> VideoPriceRule | None:
    return next((rule for rule in rules if rule.matches(options)), None)


def pricing_problem(
    rules: list[VideoPriceRule], modes: list[str], aspects: list[str], audio: bool
) -> str | None:
    """Why these rules cannot price this model (a rule naming an option it does not take, or
    a combination no rule prices), or None when every choice has a price."""
    for index, rule in enumerate(rules):
        if rule.mode is not None and rule.mode not in modes:
            return f"prices.{index}.mode {rule.mode!r} is not one of the model's modes"
        if rule.aspect is not None and rule.aspect not in aspects:
            return f"prices.{index}.aspect {rule.aspect!r} is not one of the model's aspects"
        if rule.audio is not None and not audio:
            return f"prices.{index}.audio: the model has no audio option (set audio = true)"
    if not rules:
        return None
    choices = product(modes or [None], aspects, [False, True] if audio else [None])
    for mode, aspect, sound in choices:
        if rule_for(rules, VideoOptions(0, aspect, mode, sound)) is None:
            shown = ", ".join(
                f"{name} {value!r}"
                for name, value in (("mode", mode), ("aspect", aspect), ("audio", sound))
                if value is not None
            )
            return f"prices: no rule prices {shown}; add one (or a rule without conditions)"
    return None
