"""Recordings members send, for tests and the demo: Ogg Opus as Discord's clients record voice
messages (identification and comment headers, audio pages, a final page whose granule position
gives the length), with valid page checksums."""

from __future__ import annotations

import struct

PRE_SKIP = 312
SAMPLES_PER_SECOND = 48_000
_SERIAL = 0x5A7E11E5


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_CRC = _crc_table()


def _crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[((crc >> 24) ^ byte) & 0xFF]
    return crc


def _page(packet: bytes, *, sequence: int, granule: int, flags: int) -> bytes:
    lacing = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = struct.pack("<4sBBqIIIB", b"OggS", 0, flags, granule, _SERIAL, sequence, 0,
                         len(lacing))  # fmt: skip
    page = header + bytes(lacing) + packet
    return page[:22] + struct.pack("<I", _crc(page)) + page[26:]


def ogg_opus(seconds: float, *, frame_bytes: int = 40) -> bytes:
    """An Ogg Opus file ``seconds`` long (one page of 20 ms frames per second of audio)."""
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, PRE_SKIP, 48_000, 0, 0)
    tags = b"OpusTags" + struct.pack("<I", 7) + b"atelier" + struct.pack("<I", 0)
    pages = [_page(head, sequence=0, granule=0, flags=2), _page(tags, sequence=1, granule=0,
                                                                flags=0)]  # fmt: skip
    total = round(seconds * SAMPLES_PER_SECOND)
    whole = max(1, -(-total // SAMPLES_PER_SECOND))
    for second in range(whole):
        granule = PRE_SKIP + min(total, (second + 1) * SAMPLES_PER_SECOND)
        frames = (bytes([0xFC]) + bytes(frame_bytes - 1)) * 5  # silent frames stand in for speech
        flags = 4 if second == whole - 1 else 0  # the last page ends the stream
        pages.append(_page(frames, sequence=2 + second, granule=granule, flags=flags))
    return b"".join(pages)
