"""Text to speech: ``POST /v1/audio/speech`` ``{"model","input","voice","response_format"}``
answers the audio bytes (upstream-api.md §7)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.upstream.client import UpstreamClient

# Far above what 4,096 characters of speech make in any format, far below a runaway answer.
MAX_SPEECH_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Speech:
    data: bytes
    content_type: str


class SpeechClient:
    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def speak(self, model: str, text: str, voice: str, response_format: str) -> Speech:
        body = {"model": model, "input": text, "voice": voice, "response_format": response_format}
        data, kind = await self.client.request_bytes(
            "/v1/audio/speech", json=body, max_bytes=MAX_SPEECH_BYTES
        )
        return Speech(data, kind)
