"""Which options Animate offers for the default video model, and how a choice travels.

A model with several lengths, modes (Kling's std/pro) or a sound switch lets the member choose
before the motion form opens; each choice shows its own price, and the form then holds exactly
that price. The aspect stays the model's first (the image decides the framing, not a menu).

A choice travels in custom_ids (the menu's values, then the form's id) as a short code:
``<seconds>.<mode index or x>.<1 sound, 0 silent, x no switch>``. It is read back against
the model as configured now, so a code for a length or mode the model no longer has is refused
rather than guessed at; the form's price check catches any other change.
"""

from __future__ import annotations

import re
from itertools import product

from bot.config import VideoModel
from bot.errors import AtelierError
from bot.video_pricing import VideoOptions

# A select menu holds at most 25 options (Discord's limit).
MAX_CHOICES = 25
CODE = r"[0-9]{1,5}\.(?:[0-9]{1,2}|x)\.[01x]"
_CODE = re.compile(CODE)


class ChoiceGone(AtelierError):
    """The form names a length or mode the default video model no longer has."""

    key = "animate.choice_gone"


def choices(model: VideoModel) -> list[VideoOptions]:
    """Every length × mode × sound the model takes (the default first), at most 25."""
    aspect = model.aspects[0]
    modes: list[str | None] = list(model.modes) or [None]
    sounds: list[bool | None] = [False, True] if model.audio else [None]
    combos = product(model.durations, modes, sounds)
    return [VideoOptions(d, aspect, m, a) for d, m, a in combos][:MAX_CHOICES]


def has_choices(model: VideoModel) -> bool:
    """Whether Animate asks for the options first (more than one to choose from)."""
    return len(choices(model)) > 1


def encode(model: VideoModel, options: VideoOptions) -> str:
    mode = "x" if options.mode is None else str(model.modes.index(options.mode))
    sound = "x" if options.audio is None else str(int(options.audio))
    return f"{options.duration}.{mode}.{sound}"


def decode(model: VideoModel, code: str) -> VideoOptions:
    """The options a code names, if the model still offers them; else ``ChoiceGone``."""
    if _CODE.fullmatch(code):
        seconds, mode, sound = code.split(".")
        wanted = (
            int(seconds),
            None if mode == "x" else int(mode),
            None if sound == "x" else sound == "1",
        )
        for options in choices(model):
            index = None if options.mode is None else model.modes.index(options.mode)
            if (options.duration, index, options.audio) == wanted:
                return options
    raise ChoiceGone(f"{model.name} offers no {code!r} now")
