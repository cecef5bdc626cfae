"""Turn pydantic's validation errors into ``(dotted key, reason)`` lines an operator can act on."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

SECRET_SUFFIXES = ("token", "api_key")


def describe(
    error: Mapping[str, Any], root: type[BaseModel], env_for_key: Mapping[str, str]
) -> tuple[str, str]:
    """One problem: its dotted key and the reason, with the fix where there is an obvious one."""
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "missing":
        reason = "missing"
        env = env_for_key.get(path)
        if env:
            reason += f"; set it in config.toml or {env}"
    elif kind == "extra_forbidden":
        reason = "unknown key"
        near = difflib.get_close_matches(str(loc[-1]), known_keys(root, loc), n=1)
        if near:
            reason += f"; did you mean {near[0]!r}?"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        # Never echo a secret back, even a malformed one.
        if "input" in error and not path.endswith(SECRET_SUFFIXES):
            reason += f" (got {error['input']!r})"
    return path, reason


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds: itself, or inside a list or an optional."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if (model := _model_of(arg)) is not None:
                return model
    return None


def known_keys(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where the last part of ``loc`` stands (list indexes are skipped)."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return []
        if isinstance(part, str):
            field = model.model_fields.get(part)
            model = _model_of(field.annotation) if field else None
    return list(model.model_fields) if model is not None else []
