"""Voice in: a member's recording is transcribed, priced by its length, and answered as text.

A recording is a Discord voice message (its length is Discord's ``duration_secs``) or an audio
file given to ``/gpt file:`` (its length read from the file, bot/audio_length.py). The price is
known before anything is sent, so the hold is the exact price and settles as it is; a failed
transcription is refunded. When the answer it leads to is not delivered, the settled charge is
given back too: the member paid for an answer, and got none.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import PurePosixPath

from bot.audio_length import audio_seconds
from bot.capabilities import Capabilities
from bot.chat_input import has_visible_text, human_size
from bot.config import AudioConfig
from bot.errors import (
    AttachmentTooLarge,
    AudioTooLong,
    AudioUnmeasurable,
    EmptyTranscript,
    TranscribeModelMissing,
)
from bot.ledger import Hold
from bot.spending import Spending, SpendRequest
from bot.upstream.transcriptions import TranscriptionClient

AUDIO_SUFFIXES = frozenset({".ogg", ".oga", ".opus", ".wav", ".mp3", ".m4a", ".webm", ".flac"})
# Characters of the transcript quoted above the answer; the whole of it goes to the model.
TRANSCRIPT_ROOM = 300


def is_audio(filename: str, content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    return kind.startswith("audio/") or PurePosixPath(filename).suffix.lower() in AUDIO_SUFFIXES


def transcription_price(seconds: float, per_minute: int) -> int:
    """Credits for ``seconds`` of audio at ``per_minute``: exact, rounded up to a credit."""
    return math.ceil(Fraction(str(round(seconds, 3))) * per_minute / 60)


def whole_seconds(seconds: float) -> int:
    """How a length is shown: a started second counts (0.2 s is "1 s")."""
    return max(1, math.ceil(round(seconds, 3)))


def short_transcript(text: str, room: int = TRANSCRIPT_ROOM) -> str:
    """The transcript on one line, short: it shows what was heard, not all of it."""
    line = " ".join(text.split())
    if len(line) > room:
        line = line[: room - 1].rstrip() + "…"
    return line


@dataclass(frozen=True, slots=True)
class Recording:
    """What Discord tells of an attachment before it is downloaded."""

    filename: str
    content_type: str
    size: int
    duration_secs: float | None = None  # a voice message's own length


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    seconds: float
    cost: int
    hold: Hold  # settled for ``cost``


@dataclass(slots=True)
class Delivery:
    """Set ``delivered`` once the answer the transcript led to is shown."""

    delivered: bool = False


class VoiceIn:
    def __init__(
        self,
        client: TranscriptionClient,
        spending: Spending,
        capabilities: Capabilities,
        config: AudioConfig,
    ) -> None:
        self.client = client
        self.spending = spending
        self.ledger = spending.ledger
        self.capabilities = capabilities
        self.config = config

    def check(self, recording: Recording) -> None:
        """Refuse (before any download or hold) what cannot be transcribed here: the gateway
        lacks the route or the model, the file or the voice message is too large or long."""
        self.capabilities.require("transcription")
        listed = self.capabilities.models
        model = self.config.transcribe_model
        if listed is not None and model not in listed:
            raise TranscribeModelMissing(f"{model} not listed", model=model)
        if recording.size > self.config.max_transcribe_bytes:
            limit = human_size(self.config.max_transcribe_bytes)
            raise AttachmentTooLarge(recording.filename, name=recording.filename, limit=limit)
        if recording.duration_secs is not None:
            self.check_length(recording.duration_secs)

    def check_length(self, seconds: float) -> None:
        limit = self.config.max_transcribe_seconds
        if seconds > limit:
            raise AudioTooLong(f"{seconds} s", seconds=whole_seconds(seconds), limit=limit)

    def length(self, recording: Recording, data: bytes) -> float:
        """Discord's length for a voice message, else the file's own; refused if unknown."""
        seconds = recording.duration_secs
        if seconds is None:
            seconds = audio_seconds(data)
            if seconds is None:
                raise AudioUnmeasurable(recording.filename, name=recording.filename)
        self.check_length(seconds)
        return seconds

    async def transcribe(
        self,
        recording: Recording,
        data: bytes,
        *,
        guild_id: int,
        user_id: int,
        key: str,
        role_ids: tuple[int, ...] = (),
    ) -> Transcript:
        """Hold the exact price, transcribe, settle; refunded when the transcription fails or
        hears nothing. ``key`` is the action's idempotency key."""
        seconds = self.length(recording, data)
        model = self.config.transcribe_model
        price = transcription_price(seconds, self.config.transcribe_price_per_minute)
        request = SpendRequest(
            guild_id=guild_id, user_id=user_id, amount=price, key=f"{key}:transcribe",
            command=f"transcribe:{model}", cooldown="transcribe", role_ids=role_ids,
        )  # fmt: skip
        hold = await self.spending.hold(request)
        async with self.ledger.refund_on_error(hold):
            text = await self.client.transcribe(
                model, _upload_name(recording.filename), data, recording.content_type,
                language=self.config.transcribe_language,
            )  # fmt: skip
            if not has_visible_text(text):
                raise EmptyTranscript(f"hold {hold.id}: nothing heard")
        settled = await self.ledger.settle(hold, price)
        return Transcript(text, seconds, settled.actual or 0, settled)

    @contextlib.asynccontextmanager
    async def answered(self, transcript: Transcript | None) -> AsyncIterator[Delivery]:
        """Give the transcription back unless the answer it led to was delivered (the chat
        failed, was refused, or raised)."""
        delivery = Delivery()
        try:
            yield delivery
        finally:
            if transcript is not None and not delivery.delivered:
                await self.ledger.refund_settled(transcript.hold)


def _upload_name(filename: str) -> str:
    """The transcription route goes by the file's extension: Discord's ``.ogg`` stays, an Opus
    file is sent as the Ogg it is."""
    path = PurePosixPath(filename or "recording.ogg")
    return path.with_suffix(".ogg").name if path.suffix.lower() == ".opus" else path.name
