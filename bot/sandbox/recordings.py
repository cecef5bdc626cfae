"""Recordings members send, for tests and the demo: Ogg Opus as Discord's clients record voice
messages (identification and comment headers, audio pages, a final page whose granule position
gives the length), with valid page checksums."""

from __future__ import annotations

from bot.sandbox.upstream.ogg import FLAG_EOS, PRE_SKIP, header_pages, ogg_page

SAMPLES_PER_SECOND = 48_000


def ogg_opus(seconds: float, *, frame_bytes: int = 40) -> bytes:
    """An Ogg Opus file ``seconds`` long (one page of 20 ms frames per second of audio)."""
    pages = header_pages(b"atelier")
    total = round(seconds * SAMPLES_PER_SECOND)
    whole = max(1, -(-total // SAMPLES_PER_SECOND))
    for second in range(whole):
        granule = PRE_SKIP + min(total, (second + 1) * SAMPLES_PER_SECOND)
        frames = (bytes([0xFC]) + bytes(frame_bytes - 1)) * 5  # silent frames stand in for speech
        flags = FLAG_EOS if second == whole - 1 else 0  # the last page ends the stream
        pages.append(ogg_page(flags, granule, 2 + second, [frames]))
    return b"".join(pages)
