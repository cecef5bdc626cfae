"""Voice out's pure parts: reading Ogg Opus (duration, waveform), what a voice reads of an
answer, the price, the config rules, and the sandbox speech route refusing like the real one."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import aiohttp
import pytest
from pydantic import ValidationError

from bot.config import AudioConfig
from bot.errors import ModelUnavailable, NotOggOpus, UpstreamError
from bot.ogg_opus import ogg_crc, read_voice_clip
from bot.sandbox.upstream import UpstreamSandbox
from bot.sandbox.upstream.ogg import page_checksum, sandbox_ogg_opus, speech_seconds
from bot.sandbox.upstream.suno import sandbox_mp3
from bot.speech import cut, speakable
from bot.upstream.client import UpstreamClient
from bot.upstream.speech import SpeechClient


def test_duration_comes_from_the_granule_position_less_the_pre_skip() -> None:
    for text in ("a", "Hello there.", "x" * 900):
        clip = read_voice_clip(sandbox_ogg_opus(text))
        assert clip.duration_secs == round(speech_seconds(text), 3)


def test_the_waveform_has_at_most_256_points_and_draws_pauses() -> None:
    long = read_voice_clip(sandbox_ogg_opus("tea and cakes " * 300))
    assert len(base64.b64decode(long.waveform)) == 256
    short = base64.b64decode(read_voice_clip(sandbox_ogg_opus("aaaa    aaaa")).waveform)
    assert max(short) == 255 and min(short) < 20  # the spaces are near silence


def test_the_reader_and_the_sandbox_writer_compute_the_ogg_checksum_on_their_own() -> None:
    # CRC-32/POSIX's check value for "123456789" is 0x765E7680; Ogg's is the same without the
    # final xor. Two implementations that share no code agree with it, and with each other.
    assert ogg_crc(b"123456789") == page_checksum(b"123456789") == 0x765E7680 ^ 0xFFFFFFFF
    data = bytes(range(256)) * 40
    assert ogg_crc(data) == page_checksum(data)


def test_anything_but_ogg_opus_is_refused() -> None:
    data = bytearray(sandbox_ogg_opus("hello"))
    with pytest.raises(NotOggOpus):
        read_voice_clip(sandbox_mp3("hello"))
    data[-1] ^= 0xFF  # a flipped bit in the last page fails its checksum
    with pytest.raises(NotOggOpus, match="checksum"):
        read_voice_clip(bytes(data))
    with pytest.raises(NotOggOpus):
        read_voice_clip(sandbox_ogg_opus("hello")[:40])


def test_a_voice_reads_the_words_without_their_markdown() -> None:
    answer = (
        "# Plan\n**Day one**: [Fushimi Inari](https://x.test) at `dawn`.\n> quoted\n```py\nx\n```"
    )
    assert speakable(answer) == "Plan\nDay one: Fushimi Inari at dawn.\nquoted\nx"


def test_a_long_text_is_cut_at_a_sentence_or_a_word() -> None:
    text = "One two three. Four five six seven eight."
    assert cut(text, 100) == text
    assert cut(text, 20) == "One two three."
    assert cut("alpha beta gamma delta", 15) == "alpha beta"


def test_price_rounds_up_to_whole_credits() -> None:
    config = AudioConfig(speech_price_per_1k_chars=3)
    assert [config.price(n) for n in (0, 1, 333, 334, 1000, 4096)] == [0, 1, 1, 2, 3, 13]


def test_config_refuses_a_default_voice_outside_the_voices() -> None:
    with pytest.raises(ValidationError, match="default_voice"):
        AudioConfig(voices=["nova"], default_voice="alloy")
    with pytest.raises(ValidationError, match="max_speech_chars"):
        AudioConfig(max_speech_chars=5000)


@pytest.fixture
async def speech() -> AsyncIterator[tuple[UpstreamSandbox, SpeechClient]]:
    async with UpstreamSandbox(api_key="sk-test") as sandbox, aiohttp.ClientSession() as http:
        yield sandbox, SpeechClient(UpstreamClient(http, sandbox.base_url, "sk-test"))


async def test_the_sandbox_route_answers_opus_or_mp3_as_asked(
    speech: tuple[UpstreamSandbox, SpeechClient],
) -> None:
    sandbox, client = speech
    opus = await client.speak("tts-1", "hello", "alloy", "opus")
    assert opus.content_type == "audio/ogg" and read_voice_clip(opus.data).duration_secs > 0
    mp3 = await client.speak("tts-1", "hello", "alloy", "mp3")
    assert mp3.content_type == "audio/mpeg" and mp3.data.startswith(b"ID3")
    sandbox.audio.opus = False
    assert (await client.speak("tts-1", "hello", "alloy", "opus")).content_type == "audio/mpeg"


@pytest.mark.parametrize(
    ("model", "text", "voice", "kind", "status"),
    [
        ("tts-1", "hi", "darth", "opus", 400),
        ("tts-1", "hi", "alloy", "ogg", 400),
        ("tts-1", "x" * 4097, "alloy", "opus", 400),
        ("tts-9", "hi", "alloy", "opus", 503),
    ],
)
async def test_the_sandbox_route_refuses_like_the_real_one(
    speech: tuple[UpstreamSandbox, SpeechClient],
    model: str, text: str, voice: str, kind: str, status: int,
) -> None:  # fmt: skip
    sandbox, client = speech
    with pytest.raises(UpstreamError) as refused:
        await client.speak(model, text, voice, kind)
    assert refused.value.status == status
    if status == 503:
        assert isinstance(refused.value, ModelUnavailable)
    assert sandbox.audio.speeches == []
