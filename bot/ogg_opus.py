"""Reading an Ogg Opus file well enough to post it as a Discord voice message.

A voice message's attachment carries ``duration_secs`` and ``waveform`` (base64 of at most 256
amplitude bytes). The duration is exact without decoding: the last page's granule position is
the number of 48 kHz samples, less the pre-skip the OpusHead names (RFC 7845). The waveform
needs no decoder either: an Opus packet's size follows how much is going on in its 20 ms, so
packet sizes, averaged into at most 256 buckets, draw speech and pauses as a client would.
"""

from __future__ import annotations

import base64
import math
import struct
from dataclasses import dataclass

from bot.errors import NotOggOpus

CAPTURE = b"OggS"
OPUS_HEAD = b"OpusHead"
OPUS_TAGS = b"OpusTags"
OPUS_RATE = 48_000  # granule positions of Ogg Opus always count 48 kHz samples
HEADER = struct.Struct("<4sBBqIIIB")  # capture, version, flags, granule, serial, seq, crc, segs
FLAG_CONTINUED = 0x01
FLAG_BOS = 0x02
FLAG_EOS = 0x04
# Discord: at most 256 points, and clients sample at most once per 100 ms.
MAX_POINTS = 256
POINT_SECONDS = 0.1


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return tuple(table)


_CRC = _crc_table()


def ogg_crc(data: bytes) -> int:
    """Ogg's page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, no final xor)."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _CRC[(crc >> 24) ^ byte]
    return crc


@dataclass(frozen=True, slots=True)
class Page:
    flags: int
    granule: int
    serial: int
    sequence: int
    segments: tuple[int, ...]
    body: bytes


def pages(data: bytes) -> list[Page]:
    """Every page of ``data``; raises ``NotOggOpus`` on a bad capture pattern or checksum."""
    found: list[Page] = []
    at = 0
    while at < len(data):
        if len(data) - at < HEADER.size:
            raise NotOggOpus("a truncated Ogg page header")
        capture, version, flags, granule, serial, seq, crc, count = HEADER.unpack_from(data, at)
        if capture != CAPTURE or version != 0:
            raise NotOggOpus("not an Ogg page")
        table_end = at + HEADER.size + count
        segments = tuple(data[at + HEADER.size : table_end])
        end = table_end + sum(segments)
        if len(segments) != count or end > len(data):
            raise NotOggOpus("a truncated Ogg page")
        page = bytearray(data[at:end])
        page[22:26] = b"\0\0\0\0"
        if ogg_crc(bytes(page)) != crc:
            raise NotOggOpus("an Ogg page with a bad checksum")
        found.append(Page(flags, granule, serial, seq, segments, data[table_end:end]))
        at = end
    return found


def packets(found: list[Page]) -> list[bytes]:
    """The packets the pages carry, joined across segment and page boundaries."""
    out: list[bytes] = []
    partial = b""
    for page in found:
        at = 0
        for size in page.segments:
            partial += page.body[at : at + size]
            at += size
            if size < 255:
                out.append(partial)
                partial = b""
    return out


@dataclass(frozen=True, slots=True)
class VoiceClip:
    """What a voice message's attachment says about its audio."""

    duration_secs: float
    waveform: str  # base64 of 1..256 amplitude bytes


def read_voice_clip(data: bytes) -> VoiceClip:
    """The duration and waveform of an Ogg Opus file; ``NotOggOpus`` for anything else."""
    found = pages(data)
    if not found or not found[0].flags & FLAG_BOS:
        raise NotOggOpus("no beginning-of-stream page")
    carried = packets(found)
    if len(carried) < 3 or not carried[0].startswith(OPUS_HEAD) or len(carried[0]) < 19:
        raise NotOggOpus("no OpusHead")
    if not carried[1].startswith(OPUS_TAGS):
        raise NotOggOpus("no OpusTags")
    pre_skip = struct.unpack_from("<H", carried[0], 10)[0]
    samples = max(page.granule for page in found) - pre_skip
    if samples <= 0:
        raise NotOggOpus("no audio samples")
    duration = samples / OPUS_RATE
    return VoiceClip(round(duration, 3), waveform(carried[2:], duration))


def waveform(audio_packets: list[bytes], duration: float) -> str:
    """Packet sizes (less the TOC byte) averaged into buckets, scaled so the loudest is 255."""
    points = max(1, min(MAX_POINTS, math.ceil(duration / POINT_SECONDS), len(audio_packets)))
    sizes = [max(0, len(p) - 1) for p in audio_packets]
    buckets: list[float] = []
    for index in range(points):
        start = index * len(sizes) // points
        end = max(start + 1, (index + 1) * len(sizes) // points)
        chunk = sizes[start:end]
        buckets.append(sum(chunk) / len(chunk))
    top = max(buckets) or 1.0
    return base64.b64encode(bytes(round(255 * b / top) for b in buckets)).decode()
