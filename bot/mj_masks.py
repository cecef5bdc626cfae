"""Vary Region masks: a PNG of the image's size, the region to redraw white (upstream-api.md §7).

A member cannot draw in Discord, so they pick a region by name; the mask is built here to the
size of the image being varied, which is only known once the image is fetched.
"""

from __future__ import annotations

import base64
import io

from PIL import Image, ImageDraw, UnidentifiedImageError

from bot.errors import SubmitRejected

# Each region as fractions of the image: (left, top, right, bottom).
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "left": (0, 0, 0.5, 1),
    "right": (0.5, 0, 1, 1),
    "top": (0, 0, 1, 0.5),
    "bottom": (0, 0.5, 1, 1),
    "top_left": (0, 0, 0.5, 0.5),
    "top_right": (0.5, 0, 1, 0.5),
    "bottom_left": (0, 0.5, 0.5, 1),
    "bottom_right": (0.5, 0.5, 1, 1),
    "centre": (0.25, 0.25, 0.75, 0.75),
}


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of an image file; SubmitRejected when it is not one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        raise SubmitRejected("the image to vary could not be read") from None


def region_mask(size: tuple[int, int], region: str) -> bytes:
    """A black PNG of ``size`` with ``region`` (a key of ``REGIONS``) white."""
    width, height = size
    left, top, right, bottom = REGIONS[region]
    mask = Image.new("L", size, 0)
    box = (round(left * width), round(top * height), round(right * width) - 1,
           round(bottom * height) - 1)  # fmt: skip
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def fitted_mask(data: bytes, size: tuple[int, int]) -> bytes:
    """A member's own mask as a black-and-white PNG of ``size`` (scaled if it differs)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mask = image.convert("L").resize(size).point(lambda v: 255 if v >= 128 else 0)
    except (UnidentifiedImageError, OSError):
        raise SubmitRejected("the mask is not an image") from None
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def mask_base64(png: bytes) -> str:
    """The ``maskBase64`` value: a PNG data URI, as the image fields of the submit routes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
