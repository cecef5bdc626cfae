"""The buttons under a finished /gpt answer: Show reasoning and Read aloud.

One View holds both, attached once the answer is final; each button's custom_id names a row
(the reasoning, the answer's text), so both work after a restart.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.answers import Outcome
from cogs.reasoning_button import ReasoningButton
from cogs.speech import read_aloud_button

log = logging.getLogger(__name__)


async def offer_buttons(
    services: Any, target: Any, guild_id: int, locale: Any, mode: str, outcome: Outcome
) -> None:
    """Show reasoning in collapsed mode when the model reasoned; Read aloud when the gateway
    serves speech."""
    if not outcome.delivered:
        return
    catalog = services.catalog
    items: list[discord.ui.Item[Any]] = []
    if mode == "collapsed" and outcome.reasoning.strip():
        reasoning_id = await services.reasoning.save(guild_id, outcome.reasoning)
        items.append(ReasoningButton(reasoning_id, catalog.t(locale, "reasoning.button")))
    if services.speech.offered():
        text_id = await services.speech.texts.save(guild_id, outcome.text)
        items.append(read_aloud_button(catalog.t(locale, "speech.button"), text_id))
    if not items:
        return
    view = discord.ui.View(timeout=None)
    for item in items:
        view.add_item(item)
    try:
        await target.attach(view)
    except discord.HTTPException as exc:
        # The answer stands and is paid; only the buttons are missing (the message is gone).
        log.warning("could not add the buttons under an answer: %s", exc)
