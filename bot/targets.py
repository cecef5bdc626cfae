"""Where a streamed answer is shown: an interaction's reply and follow-ups, or channel messages."""

from __future__ import annotations

from typing import Any

import discord

from bot.discord_traffic import DiscordTraffic

NO_MENTIONS = discord.AllowedMentions.none()


class InteractionTarget:
    """Message 0 is the deferred reply; further messages are follow-ups of the interaction.

    Interaction webhooks do not count against the bot's global rate limit, which is why /gpt
    answers go this way rather than through channel messages.
    """

    def __init__(
        self, interaction: discord.Interaction[Any], traffic: DiscordTraffic, *, ephemeral: bool
    ) -> None:
        self.interaction = interaction
        self.traffic = traffic
        self.ephemeral = ephemeral
        self.followups: list[discord.WebhookMessage] = []
        self.first: discord.InteractionMessage | None = None

    async def add(self, content: str) -> None:
        if self.first is None:
            self.first = await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS
            )
            return
        message = await self.interaction.followup.send(
            content, wait=True, ephemeral=self.ephemeral, allowed_mentions=NO_MENTIONS
        )
        self.followups.append(message)

    async def edit(self, index: int, content: str) -> None:
        if index == 0:
            await self.interaction.edit_original_response(
                content=content, allowed_mentions=NO_MENTIONS
            )
        else:
            await self.followups[index - 1].edit(content=content, allowed_mentions=NO_MENTIONS)

    async def attach(self, view: discord.ui.View) -> None:
        """Put ``view`` (buttons) under the answer's last message."""
        if self.followups:
            await self.followups[-1].edit(view=view)
        else:
            await self.interaction.edit_original_response(view=view)

    def rate_limited(self, index: int) -> int:
        token = self.interaction.token
        if index == 0:
            return self.traffic.count_429(f"/{token}/messages/@original")
        return self.traffic.count_429(f"/{token}/messages/{self.followups[index - 1].id}")

    def bucket(self, index: int, *, adding: bool) -> str:
        # The reply is created and edited on one route; follow-ups are sent on another and all
        # share a third for their edits.
        if index == 0:
            return "original"
        return "followup-send" if adding else "followup-edit"


class ChannelTarget:
    """Plain channel messages; the first one replies to ``reference`` when given."""

    def __init__(
        self,
        channel: discord.abc.Messageable,
        traffic: DiscordTraffic,
        *,
        reference: discord.Message | None = None,
    ) -> None:
        self.channel = channel
        self.traffic = traffic
        self.reference = reference
        self.messages: list[discord.Message] = []

    async def add(self, content: str) -> None:
        reference = self.reference if not self.messages else None
        message = await self.channel.send(
            content,
            reference=reference,  # type: ignore[arg-type]
            allowed_mentions=NO_MENTIONS,
            mention_author=False,
        )
        self.messages.append(message)

    async def edit(self, index: int, content: str) -> None:
        self.messages[index] = await self.messages[index].edit(
            content=content, allowed_mentions=NO_MENTIONS
        )

    async def attach(self, view: discord.ui.View) -> None:
        """Put ``view`` (buttons) under the answer's last message."""
        self.messages[-1] = await self.messages[-1].edit(view=view)

    def rate_limited(self, index: int) -> int:
        message = self.messages[index]
        return self.traffic.count_429(f"/channels/{message.channel.id}/messages/{message.id}")

    def bucket(self, index: int, *, adding: bool) -> str:
        # Every edit in a channel shares one bucket, whichever message it changes.
        return "send" if adding else "edit"
