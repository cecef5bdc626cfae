"""The one persistent button: every action's button is a ``ButtonAction`` over it.

Not an extension. A button's custom_id says what it acts on (``atelier:mj:<job>:<index>``), so
it works after a restart; discord.py finds its handler by the id's template, which needs one
``DynamicItem`` class per template. ``ButtonAction`` makes that class from its name and fields
(each a regex), and gives every one the same behaviour: admitted first (``Admitted``: no new
work while draining), then the action's handler with the id's fields, and any error turned
into the member's private message by the bot's one error handler.
"""

from __future__ import annotations

import re
import types
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar

import discord

from bot.app import CUSTOM_ID_PREFIX, Admitted, AtelierBot

Handler = Callable[[discord.Interaction[AtelierBot], Mapping[str, str]], Awaitable[None]]


class PersistentButton(
    Admitted,
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"(?!)",  # the base matches nothing; each ButtonAction's class has its own
):
    action: ClassVar[ButtonAction]

    def __init__(self, button: discord.ui.Button[Any], values: Mapping[str, str]) -> None:
        super().__init__(button)
        self.values = dict(values)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> PersistentButton:
        assert isinstance(item, discord.ui.Button)
        return cls(item, match.groupdict())

    async def callback(self, interaction: discord.Interaction[AtelierBot]) -> None:
        try:
            await self.action.handler(interaction, self.values)
        except Exception as error:  # discord.py only logs a dynamic item's errors
            await interaction.client.report_error(interaction, error)


class ButtonAction:
    """A kind of button: ``name`` and ``fields`` (name → regex) make its custom_id."""

    def __init__(self, name: str, handler: Handler, **fields: str) -> None:
        self.name = name
        self.handler = handler
        self.fields = fields
        parts = "".join(f":(?P<{field}>{pattern})" for field, pattern in fields.items())
        template = f"{re.escape(CUSTOM_ID_PREFIX + name)}{parts}"
        title = "".join(word.title() for word in re.split(r"\W+", name)) + "Button"
        self.item: type[PersistentButton] = types.new_class(
            title,
            (PersistentButton,),
            {"template": template},
            lambda namespace: namespace.update(action=self, __module__=__name__),
        )

    def button(
        self,
        *,
        label: str | None = None,
        emoji: str | None = None,
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        disabled: bool = False,
        row: int | None = None,
        **values: Any,
    ) -> PersistentButton:
        """A button of this kind for ``values`` (one per field, in any order)."""
        custom_id = CUSTOM_ID_PREFIX + self.name + "".join(f":{values[f]}" for f in self.fields)
        button: discord.ui.Button[Any] = discord.ui.Button(
            label=label[:80] if label else None,
            emoji=emoji or None,
            custom_id=custom_id,
            style=style,
            disabled=disabled,
            row=row,
        )
        return self.item(button, {f: str(values[f]) for f in self.fields})
