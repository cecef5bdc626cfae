"""The buttons of the sandbox's Midjourney results, and what new-api makes of a pressed one.

Grids carry U1–U4, reroll and V1–V4; upscales the v6 set, plus, with ``current_buttons``, the
Animate and ❤️ buttons current Midjourney shows and new-api's action route refuses
(upstream-api.md §7). ``mask_problem`` is the proxy's check of a Vary Region mask.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from bot.sandbox.upstream.png import PNG_SIGNATURE, SANDBOX_SIDE

# new-api's names for a customId's action word (service/midjourney.go CoverPlusActionToNormalAction)
_EXACT_ACTIONS = {
    "variation": "VARIATION",
    "low_variation": "LOW_VARIATION",
    "high_variation": "HIGH_VARIATION",
    "Outpaint": "ZOOM",
    "CustomZoom": "CUSTOM_ZOOM",
    "Inpaint": "INPAINT",
}


def grid_buttons(h: str) -> list[dict[str, Any]]:
    """U1–U4, reroll, V1–V4 under a finished grid, in Discord's order."""
    ups = [button(f"MJ::JOB::upsample::{i}::{h}", f"U{i}") for i in range(1, 5)]
    reroll = button(f"MJ::JOB::reroll::0::{h}::SOLO", "", "🔄")
    variations = [button(f"MJ::JOB::variation::{i}::{h}", f"V{i}") for i in range(1, 5)]
    return [*ups, reroll, *variations]


def upscale_buttons(h: str) -> list[dict[str, Any]]:
    """The buttons under an upscaled image (v6)."""
    return [
        button(f"MJ::JOB::upsample_v6_2x_subtle::1::{h}::SOLO", "Upscale (Subtle)", "⬆️"),
        button(f"MJ::JOB::upsample_v6_2x_creative::1::{h}::SOLO", "Upscale (Creative)", "⬆️"),
        button(f"MJ::JOB::low_variation::1::{h}::SOLO", "Vary (Subtle)", "🪄"),
        button(f"MJ::JOB::high_variation::1::{h}::SOLO", "Vary (Strong)", "🪄"),
        button(f"MJ::Inpaint::1::{h}::SOLO", "Vary (Region)", "🖌️"),
        button(f"MJ::Outpaint::50::1::{h}::SOLO", "Zoom Out 2x", "🔍"),
        button(f"MJ::Outpaint::75::1::{h}::SOLO", "Zoom Out 1.5x", "🔍"),
        button(f"MJ::CustomZoom::{h}", "Custom Zoom", "🔍"),
        button(f"MJ::JOB::pan_left::1::{h}::SOLO", "", "⬅️"),
        button(f"MJ::JOB::pan_right::1::{h}::SOLO", "", "➡️"),
        button(f"MJ::JOB::pan_up::1::{h}::SOLO", "", "⬆️"),
        button(f"MJ::JOB::pan_down::1::{h}::SOLO", "", "⬇️"),
    ]


def current_buttons(h: str) -> list[dict[str, Any]]:
    """What current Midjourney adds under an upscale, and new-api does not relay."""
    return [
        button(f"MJ::JOB::animate_high::1::{h}::SOLO", "Animate (High motion)", "🎞️"),
        button(f"MJ::JOB::animate_low::1::{h}::SOLO", "Animate (Low motion)", "🎞️"),
        button(f"MJ::BOOKMARK::{h}", "", "❤️"),
    ]


def mask_problem(mask: str, side: int = SANDBOX_SIDE) -> str:
    """Why ``maskBase64`` cannot be used for an inpaint of a ``side``-pixel image, or ``""``:
    a PNG (bare base64 or a data URI) of exactly the image's size."""
    if not mask:
        return "maskBase64参数错误"
    try:
        png = base64.b64decode(mask.partition(";base64,")[2] or mask, validate=True)
    except ValueError:
        return "maskBase64参数错误"
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        return "mask is not a PNG"
    width, height = struct.unpack(">II", png[16:24])
    return "" if (width, height) == (side, side) else "mask size does not match the image"


def action_name(custom_id: str) -> str | None:
    """The task action a button's customId starts, or ``None`` when new-api does not know it."""
    parts = custom_id.split("::")
    if len(parts) < 3 or parts[0] != "MJ":
        return None
    word = parts[2] if parts[1] == "JOB" else parts[1]
    if "upsample" in word:
        return "UPSCALE"
    if word in _EXACT_ACTIONS:
        return _EXACT_ACTIONS[word]
    if "pan" in word:
        return "PAN"
    if "reroll" in word:
        return "REROLL"
    return None


def button(custom_id: str, label: str, emoji: str = "") -> dict[str, Any]:
    return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}
