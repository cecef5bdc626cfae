"""Reading the gateways' JSON tolerantly: one rule for "a field as text", one for "a body as a
model". Every family client uses these, so a garbled field reads the same way everywhere."""

from __future__ import annotations

import logging
import math
import re
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import UpstreamFailure

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def as_text(value: Any) -> str:
    """A JSON field as text: a string as is, a number in its decimal form, and ``""`` for
    anything that is not a scalar text (null, true/false, objects, arrays). Booleans are not
    text: ``true`` where a name or a URL belongs is a garbled field, not the word "True"."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | dict | list):
        return ""
    try:
        return str(value)
    except ValueError:  # an int past Python's digit limit
        return ""


def validate(model: type[_M], obj: Any) -> _M:
    """``obj`` as ``model``; a shape that does not fit is logged (without the values, which may
    be private) and raised as ``UpstreamFailure``."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        problems = exc.errors(include_url=False, include_input=False)[:3]
        log.warning("unexpected %s shape: %s", model.__name__, problems)
        raise UpstreamFailure("the upstream sent an unexpected answer", status=200) from None


def percent(value: Any) -> int:
    """``"45%"``, ``45`` or ``"45"`` → 45, clamped to 0–100; anything else (NaN, a boolean,
    no number) → 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and (match := _NUMBER.search(value)):
        number = float(match.group())
    else:
        return 0
    if math.isnan(number):
        return 0
    return int(min(100.0, max(0.0, number)))


def word(value: Any, known: frozenset[str]) -> str:
    """A status or action word upper-cased, or ``""`` when it is not one of ``known``."""
    text = as_text(value).strip().upper()
    return text if text in known else ""


class TaskStatus:
    """What a polled task's ``status`` word says, for the Midjourney and Suno task records
    (both use midjourney-proxy's words: ``SUCCESS``, ``FAILURE``…). Mixed into a slotted
    dataclass with a ``status`` field; ``TERMINAL`` is the family's set of final words."""

    __slots__ = ()
    status: str
    TERMINAL: ClassVar[frozenset[str]] = frozenset({"SUCCESS", "FAILURE"})

    @property
    def terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    @property
    def failed(self) -> bool:
        return self.status == "FAILURE"

    @staticmethod
    def progress_of(value: Any, status: str) -> int:
        """The task's progress; 100 once it succeeded, whatever the field says."""
        return 100 if status == "SUCCESS" else percent(value)
