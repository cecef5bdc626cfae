"""The sandbox Discord's voice message rules, with Discord's documented codes (resources/message
"Voice Messages"; topics/opcodes-and-status-codes 50159-50162): one audio/* file carrying
duration_secs and a waveform of at most 256 bytes, nothing else, never edited."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
import pytest

from bot.sandbox.discord import DiscordSandbox
from bot.sandbox.upstream.ogg import sandbox_ogg_opus
from tests.test_sandbox_discord_rules import call, http, sb  # noqa: F401 - fixtures

VOICE = 1 << 13
WAVEFORM = base64.b64encode(bytes(range(0, 256, 8))).decode()
GOOD = {"id": 0, "filename": "voice-message.ogg", "duration_secs": 1.5, "waveform": WAVEFORM}


def form(payload: dict[str, Any], files: list[tuple[str, str]]) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    data.add_field("payload_json", json.dumps(payload))
    for index, (name, kind) in enumerate(files):
        data.add_field(f"files[{index}]", sandbox_ogg_opus("hi"), filename=name, content_type=kind)
    return data


OGG = [("voice-message.ogg", "audio/ogg")]


@pytest.mark.parametrize(
    ("payload", "files", "code"),
    [
        ({"content": "hi", "attachments": [GOOD]}, OGG, 50159),
        ({"attachments": [GOOD], "embeds": [{"title": "t"}]}, OGG, 50159),
        ({"attachments": [GOOD, {**GOOD, "id": 1}]}, OGG * 2, 50160),
        ({"attachments": [{**GOOD, "waveform": None}]}, OGG, 50161),
        ({"attachments": [{**GOOD, "duration_secs": None}]}, OGG, 50161),
        ({"attachments": [{**GOOD, "waveform": base64.b64encode(b"x" * 257).decode()}]}, OGG,
         50161),
        # discord.py's default part type: Discord does not read the two fields from it.
        ({"attachments": [GOOD]}, [("voice-message.ogg", "application/octet-stream")], 50161),
    ],
)
async def test_a_voice_message_breaking_a_rule_is_refused(
    sb: DiscordSandbox,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
    payload: dict[str, Any],
    files: list[tuple[str, str]],
    code: int,
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    status, answer = await call(http, "POST", path, data=form({**payload, "flags": VOICE}, files))
    assert (status, answer["code"]) == (400, code), answer
    assert not sb.messages(guild.default_channel_id)


async def test_a_valid_voice_message_keeps_its_metadata_and_cannot_be_edited(
    sb: DiscordSandbox,  # noqa: F811
    http: aiohttp.ClientSession,  # noqa: F811
) -> None:
    guild = sb.add_guild()
    path = f"/channels/{guild.default_channel_id}/messages"
    status, body = await call(
        http, "POST", path, data=form({"flags": VOICE, "attachments": [GOOD]}, OGG)
    )
    assert status == 200 and body["flags"] & VOICE
    [attachment] = body["attachments"]
    assert (attachment["duration_secs"], attachment["waveform"]) == (1.5, WAVEFORM)
    status, answer = await call(http, "PATCH", f"{path}/{body['id']}", json={"content": "x"})
    assert (status, answer["code"]) == (400, 50162)
