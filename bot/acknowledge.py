"""The one way every command, button and modal acknowledges, and answers privately after it.

Discord drops an interaction that is not acknowledged within 3 seconds. So a handler
acknowledges (defers, "thinking…") before anything that can wait: a network call, a channel
post, the database writer. A refusal that comes after (not enough credit, a flagged prompt, a
limit) must still be private and free: ``answer_privately`` edits a private "thinking" reply,
or replaces a public one with a private message (it deletes the public one first, so nobody
else sees a refusal that was meant for one member).
"""

from __future__ import annotations

import contextlib
from typing import Any

import discord

# Where ``acknowledge`` notes, on the interaction, whether its "thinking" reply is private.
PRIVATE_ACK = "atelier.private_ack"


async def acknowledge(
    interaction: discord.Interaction[Any], *, private: bool = True, update: bool = False
) -> None:
    """Defer with a "thinking…" reply (private unless told otherwise), or, for a button that
    changes its own message (``update``), with no new message; ``answer`` then shows the
    result. A no-op when the interaction was answered already."""
    if interaction.response.is_done():
        return
    if update:
        await interaction.response.defer()
        return
    interaction.extras[PRIVATE_ACK] = private
    await interaction.response.defer(ephemeral=private, thinking=True)


async def answer(interaction: discord.Interaction[Any], **message: Any) -> discord.Message:
    """Show ``message`` (content, embed, view, attachments…) as the acknowledged reply: the
    supported way after a defer is editing ``@original``, not a follow-up."""
    return await interaction.edit_original_response(**message)


async def answer_privately(
    interaction: discord.Interaction[Any],
    text: str,
    view: discord.ui.View | None = None,
) -> None:
    """Tell the member alone, whatever the interaction got so far."""
    response = interaction.response
    shown: dict[str, Any] = {"view": view} if view is not None else {}
    if not response.is_done():
        await response.send_message(text, ephemeral=True, **shown)
        return
    private = interaction.extras.get(PRIVATE_ACK)
    if private is True:
        await interaction.edit_original_response(
            content=text, embed=None, view=view, attachments=[]
        )
        return
    if private is False:
        # The "thinking…" reply is public: a follow-up would replace it and ignore the
        # ephemeral flag. Without it, the follow-up is a message of its own, private.
        with contextlib.suppress(discord.HTTPException):
            await interaction.delete_original_response()
    # Answered otherwise (a page button's edit, a modal): a private message of its own.
    await interaction.followup.send(text, ephemeral=True, **shown)
