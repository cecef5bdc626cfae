"""Small valid PNG files made in-process, for result images the sandbox serves."""

from __future__ import annotations

import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SANDBOX_SIDE = 64  # every image the sandbox makes is this many pixels square


def sandbox_png(
    seed: str, grid: bool, pad_to: int | None = None, side: int = SANDBOX_SIDE
) -> bytes:
    """A valid RGB PNG: four colour quadrants for a grid, one colour otherwise.

    ``pad_to`` grows the file to exactly that many bytes with a ``tEXt`` chunk (still valid).
    """
    digest = zlib.crc32(seed.encode()).to_bytes(4, "big") * 3
    colours = [digest[i : i + 3] for i in range(0, 12, 3)] if grid else [digest[:3]] * 4
    half = side // 2
    rows = []
    for y in range(side):
        left, right = colours[(y >= half) * 2], colours[(y >= half) * 2 + 1]
        rows.append(b"\x00" + left * half + right * (side - half))
    head = PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
    head += _chunk(b"IDAT", zlib.compress(b"".join(rows)))
    end = _chunk(b"IEND", b"")
    filler = (pad_to or 0) - len(head) - len(end) - 12 - len(b"Comment\x00")
    if filler >= 0:
        head += _chunk(b"tEXt", b"Comment\x00" + b"." * filler)
    return head + end


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
