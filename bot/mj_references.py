"""Reference images for a Midjourney /imagine: which parameters they become, for which version.

Image prompts travel as data URIs in ``base64Array`` (the proxy uploads them and puts their
links in front of the prompt). A style reference is ``--sref <url>`` (V6 and later), a
character reference ``--cref <url>`` on V6 and ``--oref <url>`` (omni reference) on V7; their
weights are ``--sw``, ``--cw`` and ``--ow``. Midjourney fails a task whose parameters do not fit
its version *after* the proxy accepted it, so everything is checked here, before credit is held:
a member who gets it wrong is told privately and pays nothing.

The prompt's own version (``--v 6.1``, ``--niji 6``) decides; without one, the configured
default is assumed and written into the prompt, so what runs is what was checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.errors import AtelierError

# Midjourney's weight ranges: style 0–1000, character 0–100, omni 1–1000.
STYLE_WEIGHT = (0, 1000)
CHARACTER_WEIGHT = (0, 100)
OMNI_WEIGHT = (1, 1000)
REFERENCE_PARAMETERS = frozenset({"sref", "cref", "oref", "sw", "cw", "ow"})
_VERSION_NUMBER = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


class ReferenceRefused(AtelierError):
    """A reference image or parameter this prompt's Midjourney version cannot take."""


class CharacterNeedsVersion(ReferenceRefused):
    key = "mj.references.character_version"


class ParameterNeedsVersion(ReferenceRefused):
    key = "mj.references.parameter_version"


class ReferenceTwice(ReferenceRefused):
    key = "mj.references.twice"


class WeightWithoutReference(ReferenceRefused):
    key = "mj.references.weight_without"


class WeightOutOfRange(ReferenceRefused):
    key = "mj.references.weight_range"


@dataclass(frozen=True, slots=True)
class Version:
    """The Midjourney model a prompt runs on; ``named`` when the prompt says so itself."""

    niji: bool
    number: str
    named: bool

    @property
    def major(self) -> int:
        return int(self.number.split(".")[0])

    def __str__(self) -> str:
        return f"Niji {self.number}" if self.niji else f"V{self.number}"

    @property
    def character_parameter(self) -> str | None:
        """``cref`` on V6 and Niji 6, ``oref`` on V7; None where there is neither."""
        if self.major == 6:
            return "cref"
        if self.major == 7 and not self.niji:
            return "oref"
        return None

    @property
    def takes_style(self) -> bool:
        return self.major >= 6

    def parameter(self) -> list[str]:
        return ["--niji" if self.niji else "--v", self.number]


@dataclass(frozen=True, slots=True)
class References:
    """Links to the images a member gave as style and character references (image prompts go
    in ``base64Array`` and need no parameter)."""

    styles: tuple[str, ...] = ()
    character: str | None = None
    style_weight: int | None = None
    character_weight: int | None = None

    def __bool__(self) -> bool:
        return bool(self.styles or self.character)


def parameters(prompt: str) -> dict[str, list[str]]:
    """The prompt's ``--name value…`` parameters, names lowercased (``--version`` is ``v``)."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for token in prompt.split():
        if token.startswith("--") and len(token) > 2:
            name = token[2:].lower()
            current = found.setdefault("v" if name == "version" else name, [])
        elif current is not None:
            current.append(token)
    return found


def version_of(prompt: str, *, niji: bool, default: str, niji_default: str) -> Version:
    """The version ``prompt`` runs on: its ``--niji``/``--v``, else the defaults."""
    found = parameters(prompt)
    if "niji" in found:
        number = next(iter(found["niji"]), niji_default)
        return Version(True, number if _VERSION_NUMBER.match(number) else niji_default, True)
    typed = next(iter(found.get("v", [])), "")
    if _VERSION_NUMBER.match(typed):
        return Version(niji, typed, True)
    return Version(niji, niji_default if niji else default, False)


def _check_typed(found: dict[str, list[str]], version: Version) -> None:
    if "cref" in found and version.character_parameter != "cref":
        raise ParameterNeedsVersion("typed --cref", parameter="cref", needs="V6", version=version)
    if "oref" in found and version.character_parameter != "oref":
        raise ParameterNeedsVersion("typed --oref", parameter="oref", needs="V7", version=version)
    if "sref" in found and not version.takes_style:
        raise ParameterNeedsVersion("typed --sref", parameter="sref", needs="V6+", version=version)


def _weight(option: str, value: int | None, name: str, bounds: tuple[int, int]) -> list[str]:
    if value is None:
        return []
    low, high = bounds
    if not low <= value <= high:
        raise WeightOutOfRange(
            f"{option}={value}", option=option, parameter=name, low=low, high=high
        )
    return [f"--{name}", str(value)]


def reference_parameters(
    prompt: str, refs: References, *, niji: bool, default: str, niji_default: str
) -> str:
    """The parameters to append to ``prompt`` for ``refs`` (``""`` for none); raises a
    ``ReferenceRefused`` for anything Midjourney would fail, typed parameters included."""
    found = parameters(prompt)
    version = version_of(prompt, niji=niji, default=default, niji_default=niji_default)
    _check_typed(found, version)
    if refs.style_weight is not None and not refs.styles:
        raise WeightWithoutReference("style_weight", option="style_weight", needs="style")
    if refs.character_weight is not None and refs.character is None:
        raise WeightWithoutReference(
            "character_weight", option="character_weight", needs="character"
        )
    out: list[str] = []
    if refs.styles:
        if not version.takes_style:
            raise ParameterNeedsVersion("style", parameter="sref", needs="V6+", version=version)
        for typed in ("sref", "sw") if refs.style_weight is not None else ("sref",):
            if typed in found:
                raise ReferenceTwice(typed, parameter=typed)
        out += ["--sref", *refs.styles]
        out += _weight("style_weight", refs.style_weight, "sw", STYLE_WEIGHT)
    if refs.character is not None:
        name = version.character_parameter
        if name is None:
            raise CharacterNeedsVersion("character", version=version)
        for typed in ("cref", "oref", "cw", "ow"):
            if typed in found and (typed in ("cref", "oref") or refs.character_weight is not None):
                raise ReferenceTwice(typed, parameter=typed)
        weight = CHARACTER_WEIGHT if name == "cref" else OMNI_WEIGHT
        out += [f"--{name}", refs.character]
        out += _weight("character_weight", refs.character_weight, name[0] + "w", weight)
    if out and not version.named:
        out += version.parameter()
    return " ".join(out)


def with_parameters(prompt: str, extra: str) -> str:
    """``prompt`` with ``extra`` parameters after its own (Midjourney reads them at the end)."""
    return f"{prompt.rstrip()} {extra}" if extra else prompt


def without_references(prompt: str) -> str:
    """``prompt`` without its reference parameters and their values: the start of a new
    prompt that takes another image as its style."""
    kept: list[str] = []
    dropping = False
    for token in prompt.split():
        if token.startswith("--") and len(token) > 2:
            dropping = token[2:].lower() in REFERENCE_PARAMETERS
        if not dropping:
            kept.append(token)
    return " ".join(kept)
