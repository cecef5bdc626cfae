"""Reading the gateways' JSON tolerantly: one rule for "a field as text", one for "a body as a
model". Every family client uses these, so a garbled field reads the same way everywhere."""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.errors import UpstreamFailure

log = logging.getLogger(__name__)

_M = TypeVar("_M", bound=BaseModel)


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
