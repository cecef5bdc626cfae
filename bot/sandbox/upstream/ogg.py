"""Ogg Opus files shaped like a speech route's ``response_format: "opus"`` answer.

Real pages (capture pattern, checksums, BOS/EOS flags, granule positions counting 48 kHz
samples after a pre-skip), an OpusHead and an OpusTags packet, then one 20 ms packet per frame.
The packets are not decodable speech: their sizes follow the text (louder for vowels, near
silence for spaces), so a waveform read from them has the shape of what was "said".
"""

from __future__ import annotations

import struct
import zlib

# The sandbox stands for an encoder outside the bot, so it writes Ogg with none of the bot's
# own code (bot/ogg_opus.py reads it): a checksum bug shared by writer and reader would pass
# every test, and bench/ack.py lays this sandbox over older bot trees that have no Ogg reader.
OPUS_HEAD = b"OpusHead"
OPUS_TAGS = b"OpusTags"
PAGE_HEADER = struct.Struct(
    "<4sBBqIIIB"
)  # capture, version, flags, granule, serial, seq, crc, segs
FLAG_BOS = 0x02
FLAG_EOS = 0x04
_BITS_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))

FRAME_SAMPLES = 960  # 20 ms at 48 kHz
FRAMES_PER_CHAR = 3  # about 17 characters a second, a speaking pace
PRE_SKIP = 312  # what libopus encoders put in OpusHead
PACKETS_PER_PAGE = 50  # one second a page
SERIAL = 0x5A4E_4442
TOC = 0xF8  # CELT-only, fullband, 20 ms, mono, one frame


def speech_seconds(text: str) -> float:
    """How long the sandbox's speech of ``text`` lasts."""
    return max(1, len(text)) * FRAMES_PER_CHAR * FRAME_SAMPLES / 48_000


def _loudness(char: str) -> int:
    if char.isspace() or not char.isalnum():
        return 2
    if char.lower() in "aeiou":
        return 60
    return 45 if ord(char) > 0x2E80 else 30


def page_checksum(data: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, MSB first, no initial or final xor), from zlib's
    reflected CRC-32 of the bit-reversed bytes: the same polynomial read the other way round."""
    reflected = zlib.crc32(data.translate(_BITS_REVERSED), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{reflected:032b}"[::-1], 2)


def ogg_page(flags: int, granule: int, sequence: int, packets: list[bytes]) -> bytes:
    """One Ogg page of ``packets`` with its lacing and checksum."""
    segments = bytearray()
    for packet in packets:
        segments += bytes([255] * (len(packet) // 255) + [len(packet) % 255])
    header = PAGE_HEADER.pack(b"OggS", 0, flags, granule, SERIAL, sequence, 0, len(segments))
    page = bytearray(header + segments + b"".join(packets))
    page[22:26] = struct.pack("<I", page_checksum(bytes(page)))
    return bytes(page)


def header_pages(vendor: bytes = b"atelier sandbox") -> list[bytes]:
    """The OpusHead page (beginning of stream) and the OpusTags page an Ogg Opus file opens with."""
    head = OPUS_HEAD + struct.pack("<BBHIhB", 1, 1, PRE_SKIP, 48_000, 0, 0)
    tags = OPUS_TAGS + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", 0)
    return [ogg_page(FLAG_BOS, 0, 0, [head]), ogg_page(0, 0, 1, [tags])]


def sandbox_ogg_opus(text: str) -> bytes:
    frames = [
        bytes([TOC]) + bytes([ord(char) % 251 or 1]) * (_loudness(char) - 1)
        for char in (text or " ")
        for _ in range(FRAMES_PER_CHAR)
    ]
    out = header_pages()
    for start in range(0, len(frames), PACKETS_PER_PAGE):
        chunk = frames[start : start + PACKETS_PER_PAGE]
        last = start + len(chunk) >= len(frames)
        granule = PRE_SKIP + (start + len(chunk)) * FRAME_SAMPLES
        out.append(ogg_page(FLAG_EOS if last else 0, granule, len(out), chunk))
    return b"".join(out)
