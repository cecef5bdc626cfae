"""Voice out: /speak, and the Read aloud button under finished /gpt answers (issue 15).

Both acknowledge first, hold the exact price (``audio.speech_price_per_1k_chars``), call the
speech route, post the audio, then settle; any failure on the way refunds the hold. The audio
goes out as a Discord voice message, replying to what it reads; where that cannot be (the
gateway sent no Ogg Opus, or Discord refused the voice message here) as an ordinary audio file
with a short line. A private answer is read privately: a voice message in the channel would
show it to everyone.

The button's custom_id names the stored answer text, so it works after a restart; the GPT cog
registers it, with the other buttons under answers (``cogs/answer_buttons.py``).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.acknowledge import acknowledge, answer
from bot.app import AtelierBot, require_guild, role_ids
from bot.errors import ReadAloudGone
from bot.i18n import cmd
from bot.speech import SpokenAudio
from bot.targets import NO_MENTIONS
from bot.voice_messages import send_voice_message
from cogs.autocomplete import fitting_choices
from cogs.buttons import ButtonAction, PersistentButton

log = logging.getLogger(__name__)


def _file(audio: SpokenAudio) -> discord.File:
    return discord.File(io.BytesIO(audio.data), filename=audio.filename)


async def deliver(
    bot: AtelierBot, channel: Any, audio: SpokenAudio, *, reply_to: int, note: str
) -> None:
    """Post ``audio`` in ``channel`` replying to ``reply_to``: a voice message where Discord
    takes one, else an ordinary file under ``note``."""
    if audio.clip is not None:
        try:
            await send_voice_message(
                bot.http, channel.id, audio.data, audio.clip,
                filename=audio.filename, reply_to=reply_to,
            )  # fmt: skip
            return
        except discord.HTTPException as exc:
            # Refused here (no Send Voice Messages permission, a channel without them): the
            # same audio still plays as a file. Anything else is a failure, and refunded.
            if exc.status not in (400, 403):
                raise
            log.warning("voice message refused in %s (%s): sending a file", channel.id, exc)
    reference = discord.MessageReference(
        message_id=reply_to, channel_id=channel.id, fail_if_not_exists=False
    )
    await channel.send(note, file=_file(audio), reference=reference, allowed_mentions=NO_MENTIONS)


async def _pressed_read(
    interaction: discord.Interaction[AtelierBot], values: Mapping[str, str]
) -> None:
    bot = interaction.client
    services = bot.services
    speech, catalog, locale = services.speech, services.catalog, interaction.locale
    speech.require_offered()
    guild_id = require_guild(interaction)
    await acknowledge(interaction, private=True)
    stored = await speech.texts.get(int(values["text"]), guild_id)
    if stored is None:
        raise ReadAloudGone(f"answer text {values['text']} not found")
    text, shortened = speech.answer_text(stored)
    message = interaction.message
    private = message is None or message.flags.ephemeral
    hold = await speech.hold(
        text, guild_id=guild_id, user_id=interaction.user.id,
        channel_id=interaction.channel_id or 0, key=f"read:{interaction.id}",
        role_ids=role_ids(interaction.user), moderate=False,
    )  # fmt: skip
    cost = hold.amount
    async with bot.work.track(), services.ledger.refund_on_error(hold):
        audio = await speech.synthesize(text, speech.voice(None))
        if private or message is None or interaction.channel is None:
            await answer(
                interaction, content=catalog.t(locale, "speech.read_here", cost=cost),
                attachments=[_file(audio)],
            )  # fmt: skip
        else:
            note = catalog.t(locale, "speech.file_note")
            await deliver(bot, interaction.channel, audio, reply_to=message.id, note=note)
        await services.ledger.settle(hold, cost)
    if not private:
        key = "speech.read_cut" if shortened else "speech.read"
        shown = catalog.t(locale, key, cost=cost, chars=f"{len(text):,}")
        await answer(interaction, content=shown)


READ_ALOUD = ButtonAction("read", _pressed_read, text=r"[0-9]{1,18}")


def read_aloud_button(label: str, text_id: int) -> PersistentButton:
    return READ_ALOUD.button(label=label, emoji="🔊", text=text_id)


class Speech(commands.Cog):
    def __init__(self, bot: AtelierBot) -> None:
        self.bot = bot
        self.services = bot.services

    @app_commands.command(
        name=cmd("speak", "speak.name"),
        description=cmd("Read a text aloud as a voice message", "speak.description"),
    )
    @app_commands.describe(
        text=cmd("What to read aloud", "speak.text"),
        voice=cmd("The voice to read it in", "speak.voice"),
    )
    @app_commands.guild_only()
    async def speak(
        self,
        interaction: discord.Interaction[AtelierBot],
        text: app_commands.Range[str, 1, 4096],
        voice: str | None = None,
    ) -> None:
        services = self.services
        speech, catalog, locale = services.speech, services.catalog, interaction.locale
        # Refused before any "thinking…": nothing is held, nothing is shown to others.
        speech.require_offered()
        guild_id = require_guild(interaction)
        text = speech.check_text(text)
        chosen = speech.voice(voice)
        await acknowledge(interaction, private=False)
        hold = await speech.hold(
            text, guild_id=guild_id, user_id=interaction.user.id,
            channel_id=interaction.channel_id or 0, key=f"speak:{interaction.id}",
            role_ids=role_ids(interaction.user),
        )  # fmt: skip
        line = catalog.t(
            locale, "speech.spoken", member=interaction.user.mention, voice=chosen, cost=hold.amount
        )
        async with self.bot.work.track(), services.ledger.refund_on_error(hold):
            audio = await speech.synthesize(text, chosen)
            if audio.clip is None or interaction.channel is None:
                note = catalog.t(locale, "speech.file_note")
                await answer(
                    interaction, content=f"{line}\n{note}", attachments=[_file(audio)],
                    allowed_mentions=NO_MENTIONS,
                )  # fmt: skip
            else:
                shown = await answer(interaction, content=line, allowed_mentions=NO_MENTIONS)
                note = catalog.t(locale, "speech.file_note")
                await deliver(self.bot, interaction.channel, audio, reply_to=shown.id, note=note)
            await services.ledger.settle(hold, hold.amount)

    @speak.autocomplete("voice")
    async def _voice_autocomplete(
        self, _interaction: discord.Interaction[AtelierBot], current: str
    ) -> list[app_commands.Choice[str]]:
        needle = current.casefold()
        voices = self.services.config.audio.voices
        return fitting_choices((v, v) for v in voices if needle in v.casefold())


async def setup(bot: AtelierBot) -> None:
    await bot.add_cog(Speech(bot))
