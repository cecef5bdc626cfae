"""Speech to text on the OpenAI-style route (``POST /v1/audio/transcriptions``, upstream-api.md
§7): a multipart form with ``file`` and ``model`` (``language`` optional), answered
``{"text": …}``."""

from __future__ import annotations

import aiohttp

from bot.errors import UpstreamFailure
from bot.upstream.client import UpstreamClient

TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"


class TranscriptionClient:
    def __init__(self, client: UpstreamClient) -> None:
        self.client = client

    async def transcribe(
        self,
        model: str,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        language: str = "",
    ) -> str:
        """The transcript of ``data``; an answer without ``text`` is an UpstreamFailure."""
        form = aiohttp.FormData()
        form.add_field("model", model)
        if language:
            form.add_field("language", language)
        form.add_field("response_format", "json")
        form.add_field("file", data, filename=filename, content_type=content_type)
        answer = await self.client.request_json("POST", TRANSCRIPTIONS_PATH, data=form)
        self.client.raise_for_error_body(answer)
        text = answer.get("text") if isinstance(answer, dict) else None
        if not isinstance(text, str):
            raise UpstreamFailure("the transcription route returned no text")
        return text.strip()
