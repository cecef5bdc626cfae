"""Voice in without Discord: recording lengths read from the file, exact prices, the quote.
(The client and the sandbox's transcription route: tests/test_upstream_sandbox.py.)"""

from __future__ import annotations

import io
import wave

import pytest

from bot.audio_length import audio_seconds
from bot.sandbox.recordings import ogg_opus
from bot.voice_in import short_transcript, transcription_price, whole_seconds


def wav(seconds: float, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(bytes(2 * round(rate * seconds)))
    return out.getvalue()


@pytest.mark.parametrize("seconds", [0.2, 1, 42.5, 599.98])
def test_lengths_are_read_from_ogg_opus_and_wav(seconds: float) -> None:
    assert audio_seconds(ogg_opus(seconds)) == pytest.approx(seconds, abs=1e-6)
    assert audio_seconds(wav(seconds)) == pytest.approx(seconds, abs=1e-4)


def test_what_cannot_be_measured_is_none() -> None:
    assert audio_seconds(b"ID3\x04" + bytes(100)) is None  # an MP3 needs a decoder
    assert audio_seconds(ogg_opus(3)[:20]) is None  # cut inside the first page
    assert audio_seconds(b"OggS" + bytes(60)) is None  # neither Opus nor Vorbis


def test_prices_are_exact_and_round_up_to_a_credit() -> None:
    assert transcription_price(60, 6) == 6
    assert transcription_price(42.5, 6) == 5  # 4.25
    assert transcription_price(10, 6) == 1
    assert transcription_price(0.1, 6) == 1
    assert transcription_price(30, 0) == 0
    assert transcription_price(0.3, 600) == 3  # no float drift past an exact credit
    assert whole_seconds(0.2) == 1 and whole_seconds(42.0) == 42


def test_the_quoted_transcript_is_one_short_line() -> None:
    assert short_transcript("two\nlines  here") == "two lines here"
    long = short_transcript("word " * 200, room=50)
    assert len(long) == 50 and long.endswith("…")
