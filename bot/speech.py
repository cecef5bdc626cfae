"""Voice out (issue 15): text to speech for Read aloud and /speak, priced per 1,000 characters.

The gateway is asked for Ogg Opus, the format of Discord voice messages; when it answers
anything else (a channel that only makes MP3), the audio goes out as an ordinary file.
A long answer read aloud is cut to ``audio.max_speech_chars`` at a sentence or word end
(and the member is told); /speak refuses text longer than that, before anything is held.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.capabilities import Capabilities
from bot.config import AudioConfig
from bot.db import AnswerText, Database, table
from bot.errors import (
    AtelierError,
    EmptyPrompt,
    NotOggOpus,
    SpeechModelMissing,
    SpeechTooLong,
    UnknownVoice,
)
from bot.ledger import Hold
from bot.ogg_opus import VoiceClip, read_voice_clip
from bot.spending import Spending, SpendRequest
from bot.text_store import TextStore
from bot.upstream.speech import SpeechClient

ANSWER_TEXTS = table(AnswerText)
VOICE_FILENAME = "voice-message.ogg"
# The file name an ordinary audio attachment gets, by what the gateway said it sent.
EXTENSIONS = {
    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/wav": "wav", "audio/x-wav": "wav",
    "audio/aac": "aac", "audio/flac": "flac", "audio/ogg": "ogg", "audio/opus": "ogg",
}  # fmt: skip

# Markdown a voice should not read out: fences, emphasis, headings, quotes, small text, links.
_FENCE = re.compile(r"^```[^\n]*$", re.MULTILINE)
_LINK = re.compile(r"\[([^\]]*)\]\((?:[^)]*)\)")
_LINE_MARKS = re.compile(r"^\s*(?:#{1,6}\s|>\s?|-#\s)", re.MULTILINE)
_EMPHASIS = re.compile(r"[*_`~|]+")
_SPACES = re.compile(r"[ \t]+")
_SENTENCE_END = re.compile(r"[.!?。！？]\s")


def speakable(text: str) -> str:
    """The answer as a voice reads it: the words without their Markdown."""
    text = _FENCE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _LINE_MARKS.sub("", text)
    text = _EMPHASIS.sub("", text)
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits, else its start up to ``limit``, ended at a sentence (or a word)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    ends = [m.end() for m in _SENTENCE_END.finditer(head + " ")]
    if ends and ends[-1] > limit // 2:
        return head[: ends[-1]].rstrip()
    space = head.rfind(" ")
    return head[:space] if space > limit // 2 else head


@dataclass(frozen=True, slots=True)
class SpokenAudio:
    data: bytes
    filename: str
    clip: VoiceClip | None  # None: not Ogg Opus, so an ordinary file rather than a voice message


class AnswerTexts(TextStore):
    """Finished answers, so a Read aloud button works after a restart."""

    def __init__(self, db: Database) -> None:
        super().__init__(db, ANSWER_TEXTS)


class SpeechService:
    def __init__(
        self,
        client: SpeechClient,
        spending: Spending,
        capabilities: Capabilities,
        config: AudioConfig,
        texts: AnswerTexts,
    ) -> None:
        self.client = client
        self.spending = spending
        self.capabilities = capabilities
        self.config = config
        self.texts = texts

    def offered(self) -> bool:
        """Whether Read aloud buttons are worth showing now (no network)."""
        try:
            self.require_offered()
        except AtelierError:
            return False
        return True

    def require_offered(self) -> None:
        """Refuse (privately, nothing held) when the gateway lacks the speech route or model."""
        self.capabilities.require("audio")
        listed = self.capabilities.models
        model = self.config.speech_model
        if listed is not None and model not in listed:
            raise SpeechModelMissing(f"{model} is not listed", model=model)

    def voice(self, name: str | None) -> str:
        voice = name or self.config.default_voice
        if voice not in self.config.voices:
            raise UnknownVoice(voice, voice=voice[:50], voices=", ".join(self.config.voices))
        return voice

    def check_text(self, text: str) -> str:
        """/speak's text as given: not empty, not longer than ``max_speech_chars``."""
        text = text.strip()
        if not text:
            raise EmptyPrompt("nothing to read")
        limit = self.config.max_speech_chars
        if len(text) > limit:
            raise SpeechTooLong(f"{len(text)} chars", chars=f"{len(text):,}", max=f"{limit:,}")
        return text

    def answer_text(self, answer: str) -> tuple[str, bool]:
        """What Read aloud reads of an answer, and whether it is cut short."""
        text = speakable(answer)
        if not text:
            raise EmptyPrompt("the answer has nothing to read")
        read = cut(text, self.config.max_speech_chars)
        return read, len(read) < len(text)

    def price(self, text: str) -> int:
        return self.config.price(len(text))

    async def hold(
        self,
        text: str,
        *,
        guild_id: int,
        user_id: int,
        channel_id: int,
        key: str,
        role_ids: Sequence[int] = (),
        moderate: bool = True,
    ) -> Hold:
        """Pass the spending gate with the exact price. A member's own text is moderated where
        the guild asks; an answer was the model's and is not."""
        await self.spending.admit(guild_id, user_id, channel_id, text if moderate else "")
        request = SpendRequest(
            guild_id=guild_id, user_id=user_id, amount=self.price(text), key=key,
            command=f"speech:{self.config.speech_model}", cooldown="speak", role_ids=role_ids,
        )  # fmt: skip
        return await self.spending.hold(request)

    async def synthesize(self, text: str, voice: str) -> SpokenAudio:
        speech = await self.client.speak(self.config.speech_model, text, voice, "opus")
        try:
            # Checksumming a few minutes of audio takes ~0.1 s of pure Python: off the loop.
            clip = await asyncio.to_thread(read_voice_clip, speech.data)
            return SpokenAudio(speech.data, VOICE_FILENAME, clip)
        except NotOggOpus:
            extension = EXTENSIONS.get(speech.content_type, "mp3")
            return SpokenAudio(speech.data, f"speech.{extension}", None)
