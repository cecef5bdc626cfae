"""What a row measured: what the member saw, and what the configured prices say it should cost.

A row's charge is worked out from observations, never from the bot's own bookkeeping: the text
the sandbox Discord shows, the usage the sandbox upstream reported, the prompt it received, and
the prices in the world's configuration. ``settled`` then asserts that the ledger moved exactly
that amount, and the report prints both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.answers import estimate_tokens, prompt_text
from bot.sandbox.discord import Message
from bot.sandbox.world import SandboxWorld

MARKER = " ▌"
# A footer line, the cut-off note, or any small-text line the bot adds under an answer.
_FOOTER_LINE = re.compile(r"\n-# [^\n]*$")
_REOPEN = re.compile(r"^```[^\s`]*\n")
VIEW_CHARS = 90  # of each message, in the report
VIEW_MESSAGES = 4


@dataclass(frozen=True)
class Charge:
    """An amount of credits and how the configured prices give it (negative: a grant)."""

    amount: int
    basis: str

    def __add__(self, other: Charge) -> Charge:
        return Charge(self.amount + other.amount, f"{self.basis} + {other.basis}")


NOTHING = Charge(0, "nothing used")


def action_charge(world: SandboxWorld, *actions: str) -> Charge:
    """The configured price of media actions that were delivered (once each as listed)."""
    prices = world.config.pricing
    amount = sum(prices.action_price(a) for a in actions)
    return Charge(amount, " + ".join(f"{a} {prices.action_price(a)}" for a in actions))


def image_model_charge(world: SandboxWorld, name: str) -> Charge:
    """A delivered image from a configured image model: its own price, else the image action's."""
    [model] = [m for m in world.config.image.models if m.name == name]
    if model.price is not None:
        return Charge(model.price, f"{name} at its configured price {model.price}")
    return action_charge(world, "image")


def granted(amount: int) -> Charge:
    return Charge(-amount, f"granted {amount}")


def _model(world: SandboxWorld, request: int) -> tuple[str, list[dict[str, object]]]:
    bodies = [r.json for r in world.upstream.requests_to("/v1/chat/completions")]
    body = bodies[request]
    return str(body["model"]), list(body["messages"])


def chat_by_usage(world: SandboxWorld, report: int | None = None) -> Charge:
    """Complete answers: each model's price for the usage the gateway reported, for one usage
    report (by index, in the order sent) or for every one."""
    sent = world.upstream.chat.usage_sent
    charges = []
    for usage in sent if report is None else [sent[report]]:
        model = str(usage["model"])
        rule = world.config.pricing.chat_price(model)
        prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
        charges.append(
            Charge(
                rule.cost(prompt, completion),
                f"{model} at {rule.per_call} + {prompt} in + {completion} out tokens reported",
            )
        )
    return sum(charges[1:], charges[0]) if charges else NOTHING


def chat_by_shown(world: SandboxWorld, shown: str, request: int = -1) -> Charge:
    """A cut-off or unshown answer: its model's price for the prompt the upstream received and
    only the text the member saw (tokens estimated as the bot does when no usage is trusted);
    nothing when no text was shown."""
    if not shown:
        return Charge(0, "nothing: no text was shown")
    model, messages = _model(world, request)
    rule = world.config.pricing.chat_price(model)
    prompt = estimate_tokens(prompt_text(messages))  # type: ignore[arg-type]
    out = estimate_tokens(shown)
    return Charge(
        rule.cost(prompt, out),
        f"{model} at {rule.per_call} + {prompt} in + {out} out tokens for the "
        f"{len(shown)} characters shown",
    )


def shown_answer(messages: list[Message]) -> str:
    """The answer text a member can read: no marker, no footer or cut-off note lines, and the
    code fences the bot adds at message splits joined up again."""
    parts = [m.content.removesuffix(MARKER) for m in messages]
    if parts:
        last = parts[-1]
        while _FOOTER_LINE.search(last):
            last = _FOOTER_LINE.sub("", last)
        parts[-1] = "" if last.startswith("-# ") else last
    text = ""
    for index, part in enumerate(parts):
        if index > 0 and text.endswith("\n```") and _REOPEN.match(part):
            text = text.removesuffix("\n```")
            part = _REOPEN.sub("", part, count=1)
        text += part
    return text


def member_view(world: SandboxWorld) -> str:
    """Every message the bot left, oldest first, as the report shows them: where it is (a
    private reply, the channel, a thread, a DM), its text cut short, and its files."""
    bot = world.discord.bot_user_id
    store = world.discord.store
    main = world.channel_id
    shown = [
        m
        for m in sorted(store.messages.values(), key=lambda m: m.id)
        if m.author_id == bot and not m.deleted and (m.content or m.attachments or m.embeds)
    ]
    parts = []
    for message in shown[:VIEW_MESSAGES]:
        channel = store.channels.get(message.channel_id)
        where = (
            "private"
            if message.ephemeral
            else "channel"
            if message.channel_id == main
            else "thread"
            if channel is not None and channel.parent_id is not None
            else "DM or other channel"
        )
        text = " ".join(message.content.split())
        if len(text) > VIEW_CHARS:
            text = text[: VIEW_CHARS - 1] + "…"
        if message.embeds:
            text += f" [{len(message.embeds)} embed(s)]"
        if message.attachments:
            text += " [files: " + ", ".join(a.filename for a in message.attachments) + "]"
        parts.append(f"{where}: {text}")
    if len(shown) > VIEW_MESSAGES:
        parts.append(f"(+{len(shown) - VIEW_MESSAGES} more)")
    return " · ".join(parts) or "no message"
