"""How long a recording is, read from the file itself: the price of a transcription follows it.

Ogg (Opus or Vorbis, what Discord's voice messages and most recorders write): the last page's
granule position counts samples. WAV: the data chunk's size over the byte rate. Other formats
need a decoder to tell, so they are not measured (the caller refuses them).
"""

from __future__ import annotations

import struct

OGG_MAGIC = b"OggS"
OPUS_RATE = 48_000  # Opus granule positions always count 48 kHz samples
# Pages at the end of a stream whose granule is -1 (no packet ends there) are skipped; a real
# stream has one with a position within its last few pages.
_MAX_PAGES_BACK = 16


def audio_seconds(data: bytes) -> float | None:
    """The length of an Ogg or WAV recording in seconds, or None when it cannot be told."""
    if data.startswith(OGG_MAGIC):
        return _ogg_seconds(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return _wav_seconds(data)
    return None


def _ogg_seconds(data: bytes) -> float | None:
    rate, pre_skip = _ogg_codec(data)
    if rate is None:
        return None
    end = len(data)
    for _ in range(_MAX_PAGES_BACK):
        at = data.rfind(OGG_MAGIC, 0, end)
        if at < 0 or at + 14 > len(data):
            return None
        (granule,) = struct.unpack_from("<q", data, at + 6)
        if data[at + 4] == 0 and granule >= 0:
            return max(0, granule - pre_skip) / rate
        end = at
    return None


def _ogg_codec(data: bytes) -> tuple[int | None, int]:
    """The sample rate and pre-skip from the first page's identification header."""
    if len(data) < 27:
        return None, 0
    segments = data[26]
    packet = data[27 + segments : 27 + segments + 64]
    if packet.startswith(b"OpusHead") and len(packet) >= 19:
        return OPUS_RATE, struct.unpack_from("<H", packet, 10)[0]
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        rate = struct.unpack_from("<I", packet, 12)[0]
        return (rate or None), 0
    return None, 0


def _wav_seconds(data: bytes) -> float | None:
    byte_rate: int | None = None
    at = 12
    while at + 8 <= len(data):
        chunk, size = data[at : at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if chunk == b"fmt " and size >= 16 and at + 20 <= len(data):
            byte_rate = struct.unpack_from("<I", data, at + 16)[0]
        elif chunk == b"data":
            # A recorder cut off before it wrote the size leaves 0 or 0xFFFFFFFF: use the file.
            if size in (0, 0xFFFFFFFF) or at + 8 + size > len(data):
                size = len(data) - at - 8
            return size / byte_rate if byte_rate else None
        at += 8 + size + (size & 1)
    return None
