"""What the sandbox Midjourney makes of an /imagine: its image prompts and its parameters.

Two places refuse, as for real. The proxy checks ``base64Array`` when the submit arrives and
answers code 4 ``base64格式错误`` for an entry it cannot decode (trueai-org's ``DataUrl.Parse``
also takes an http link or bare base64; novicezk's and the gateway's relay take data URIs
only). It then uploads each image and puts the links in front of the prompt. Midjourney itself
reads the parameters once the task runs: a reference its version cannot take, a link it cannot
use or a weight out of range fails the task with Midjourney's error title in ``failReason``
(``[Invalid parameter] …``), after the submit was accepted (novicezk ``ErrorMessageHandler``,
trueai-org ``DiscordWebSocketService``: embeds titled "Invalid parameter" / "Invalid link").
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+);base64,(?P<data>.+)$", re.DOTALL)
_PARAMETER = re.compile(r"--([A-Za-z]+)((?:\s+(?!--)\S+)*)")
_URL = re.compile(r"^https?://\S+$")
# Midjourney's ranges: --sw 0–1000, --cw 0–100, --ow 1–1000.
WEIGHTS = {"sw": ("sref", 0, 1000), "cw": ("cref", 0, 100), "ow": ("oref", 1, 1000)}
INVALID_PARAMETER = "[Invalid parameter] "
INVALID_LINK = "[Invalid link] "


@dataclass(slots=True)
class Upload:
    """An image prompt the proxy took: its bytes (to serve at its upload link), or the link
    it was given."""

    content_type: str = "image/png"
    data: bytes = b""
    url: str = ""


def read_images(values: Any, proxy: str) -> list[Upload] | None:
    """The ``base64Array`` entries as this proxy reads them, or None when one is unreadable."""
    if values is None:
        return []
    if not isinstance(values, list):
        return None
    out = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            if proxy == "trueai":
                continue  # trueai-org skips blank entries
            return None
        value = value.strip()
        if proxy == "trueai" and value.lower().startswith("http"):
            out.append(Upload(url=value))
            continue
        match = _DATA_URI.match(value)
        if match is None and proxy != "trueai":
            return None
        kind, data = (match["type"], match["data"]) if match else ("image/png", value)
        try:
            decoded = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
        if not decoded:
            return None
        out.append(Upload(kind, decoded))
    return out


@dataclass(slots=True)
class PromptReading:
    """A prompt's parameters as Midjourney reads them, and why it refuses it (``problem``)."""

    version: str
    niji: bool
    references: dict[str, list[str]] = field(default_factory=dict)
    weights: dict[str, str] = field(default_factory=dict)
    problem: str | None = None


def read_prompt(prompt: str, *, niji_bot: bool, default: str, niji_default: str) -> PromptReading:
    """Parse ``prompt``'s parameters and check the reference ones against its version."""
    found = {m[1].lower(): m[2].split() for m in _PARAMETER.finditer(prompt)}
    if "version" in found:
        found.setdefault("v", found.pop("version"))
    niji = niji_bot or "niji" in found
    if "niji" in found:
        version = (found["niji"] or [niji_default])[0]
    else:
        version = (found.get("v") or [niji_default if niji else default])[0]
    reading = PromptReading(version=version, niji=niji)
    reading.references = {k: v for k, v in found.items() if k in ("sref", "cref", "oref")}
    reading.weights = {k: " ".join(v) for k, v in found.items() if k in WEIGHTS}
    reading.problem = _problem(reading)
    return reading


def _major(version: str) -> int | None:
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def _problem(reading: PromptReading) -> str | None:
    major = _major(reading.version)
    shown = f"--niji {reading.version}" if reading.niji else f"--version {reading.version}"
    if major is None:
        return f"{INVALID_PARAMETER}Invalid value for --version: {reading.version}"
    refs = reading.references
    if "cref" in refs and major != 6:
        return f"{INVALID_PARAMETER}--cref is not compatible with {shown}; use --oref on V7"
    if "oref" in refs and (major != 7 or reading.niji):
        return f"{INVALID_PARAMETER}--oref is only available with --version 7, not {shown}"
    if "sref" in refs and major < 6:
        return f"{INVALID_PARAMETER}--sref is not compatible with {shown}"
    if len(refs.get("oref", [])) > 1:
        return f"{INVALID_PARAMETER}--oref takes a single image"
    for name, links in refs.items():
        if not links:
            return f"{INVALID_PARAMETER}--{name} needs a value"
        for link in links:
            if not (_URL.match(link) or (name == "sref" and (link.isdigit() or link == "random"))):
                return f"{INVALID_LINK}--{name} {link[:80]} is not a link to an image"
    for weight, (needs, low, high) in WEIGHTS.items():
        if weight not in reading.weights:
            continue
        value = reading.weights[weight]
        if needs not in refs:
            return f"{INVALID_PARAMETER}--{weight} needs --{needs}"
        if not value.isdigit() or not low <= int(value) <= high:
            return f"{INVALID_PARAMETER}--{weight} must be from {low} to {high}, not {value}"
    return None
