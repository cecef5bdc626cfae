"""Posting a Discord voice message: flag IS_VOICE_MESSAGE (8192) and one audio attachment
with ``duration_secs`` and ``waveform``, nothing else (resources/message, "Voice Messages").

discord.py 2.7 cannot send one: its attachments carry no duration or waveform, and every
file part goes as ``application/octet-stream``, while Discord reads the two fields only from a
part whose Content-Type begins with ``audio/``. So the multipart body is built here and sent
through the bot's own discord.py HTTP client (its rate limits and retries apply as for any
message). Voice messages cannot be edited, so they are always new messages.
"""

from __future__ import annotations

import io
from typing import Any

import discord
from discord.http import MultipartParameters, Route

from bot.ogg_opus import VoiceClip

FLAG_VOICE_MESSAGE = 1 << 13
VOICE_CONTENT_TYPE = "audio/ogg"


def voice_message_parts(
    audio: bytes, clip: VoiceClip, filename: str, reply_to: int | None
) -> MultipartParameters:
    payload: dict[str, Any] = {
        "flags": FLAG_VOICE_MESSAGE,
        "attachments": [
            {"id": 0, "filename": filename, "duration_secs": clip.duration_secs,
             "waveform": clip.waveform}
        ],
        "allowed_mentions": {"parse": [], "replied_user": False},
    }  # fmt: skip
    if reply_to is not None:
        payload["message_reference"] = {"message_id": str(reply_to), "fail_if_not_exists": False}
    file = discord.File(io.BytesIO(audio), filename=filename)
    form = [
        {"name": "payload_json", "value": discord.utils._to_json(payload)},
        {"name": "files[0]", "value": file.fp, "filename": filename,
         "content_type": VOICE_CONTENT_TYPE},
    ]  # fmt: skip
    return MultipartParameters(payload=None, multipart=form, files=[file])


async def send_voice_message(
    http: discord.http.HTTPClient,
    channel_id: int,
    audio: bytes,
    clip: VoiceClip,
    *,
    filename: str,
    reply_to: int | None = None,
) -> int:
    """Post the voice message in ``channel_id`` (as a reply to ``reply_to``); its id."""
    with voice_message_parts(audio, clip, filename, reply_to) as params:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        data = await http.request(route, files=params.files, form=params.multipart)
    return int(data["id"])
