"""Voice in for /gpt and its threads: a recording becomes the member's turn (bot/voice_in.py).

Not an extension: the GPT cog calls these where a prompt or a thread message is read.
"""

from __future__ import annotations

from typing import Any

import discord

from bot.app import role_ids
from bot.services import Services
from bot.voice_in import Recording, Transcript, is_audio, short_transcript, whole_seconds


def recording(attachment: discord.Attachment) -> Recording:
    return Recording(
        filename=attachment.filename,
        content_type=attachment.content_type or "audio/ogg",
        size=attachment.size,
        duration_secs=attachment.duration,
    )


def voice_attachment(message: discord.Message) -> discord.Attachment | None:
    """A voice message's recording (flag IS_VOICE_MESSAGE), else None."""
    if not message.flags.voice:
        return None
    for attachment in message.attachments:
        if is_audio(attachment.filename, attachment.content_type):
            return attachment
    return None


def is_recording(attachment: discord.Attachment) -> bool:
    return is_audio(attachment.filename, attachment.content_type)


async def transcribe(
    services: Services,
    attachment: discord.Attachment,
    member: discord.Member | discord.User,
    *,
    guild_id: int,
    key: str,
) -> Transcript:
    """Check, download, hold and transcribe one recording; raises a typed error (refunded)."""
    voice = services.voice_in
    clip = recording(attachment)
    voice.check(clip)  # before the download: a refusal costs nothing and waits for nothing
    data = await attachment.read()
    return await voice.transcribe(
        clip, data, guild_id=guild_id, user_id=member.id, key=key, role_ids=role_ids(member)
    )


def preamble(services: Services, locale: Any, transcript: Transcript | None) -> str:
    """The transcript quoted on one line above the answer (markdown shown as typed)."""
    if transcript is None:
        return ""
    text = discord.utils.escape_markdown(short_transcript(transcript.text))
    return f"> {services.catalog.t(locale, 'voice.transcript', text=text)}\n"


def cost_note(services: Services, locale: Any, transcript: Transcript | None) -> str:
    """`` · 🎙️ 42 s transcribed: 5 credits`` for the footer, or nothing."""
    if transcript is None:
        return ""
    note = services.catalog.t(locale, "voice.cost", seconds=whole_seconds(transcript.seconds),
                              cost=transcript.cost)  # fmt: skip
    return f" · {note}"
