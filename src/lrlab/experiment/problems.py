"""Validation problems of an experiment config as one message a user can act on.

A :class:`pydantic.ValidationError` never reaches the user: :func:`format_errors` turns it into
lines that read ``field.path: problem (allowed: …)``, with "did you mean …" for misspelt keys
and names.
"""

from __future__ import annotations

import difflib
import inspect
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}? " if close else ""


def unknown_name(kind: str, word: str, choices: Sequence[str]) -> ValueError:
    allowed = ", ".join(sorted(str(c) for c in choices))
    return ValueError(f"unknown {kind} {word!r} ({did_you_mean(word, choices)}allowed: {allowed})")


def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The classes inside ``X | None``, ``list[X]``, ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return [c for a in typing.get_args(annotation) for c in _unwrap(a)]
    return [annotation]


def _model_at(root: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The model class that owns the key at ``loc`` (for "allowed keys" lists)."""
    current: type[BaseModel] | None = root
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        models = [
            c for c in _unwrap(field.annotation) if inspect.isclass(c) and issubclass(c, BaseModel)
        ]
        current = models[0] if models else None
    return current


def _problem(err: Mapping[str, Any], root: type[BaseModel]) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        owner = _model_at(root, loc[:-1])
        allowed = sorted(owner.model_fields) if owner else []
        hint = did_you_mean(loc[-1], allowed)
        return f"unknown key ({hint}allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required but missing"
    msg = str(err["msg"])
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{err['input']!r} is not allowed (allowed: {expected})"
    got = err.get("input")
    if isinstance(got, (dict, list)) or got is None:
        return msg[0].lower() + msg[1:]
    return f"{msg[0].lower() + msg[1:]} (got {got!r})"


def format_errors(exc: ValidationError, root: type[BaseModel]) -> str:
    """One message: ``field.path: problem (allowed: …)`` — on the first line when there is
    one problem (the CLI's one-line error), else one line per problem under a count."""
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        # Pydantic appends the validator kind to the path of union members; drop it.
        loc = [p for p in loc if not (isinstance(p, str) and p in ("function-after", "str"))]
        # Cross-field checks (model validators) have no location: their message names it.
        where = f"{_loc(loc)}: " if loc else ""
        lines.append(f"  {where}{_problem(err, root)}")
    n = len(lines)
    what = "experiment config" if root.__name__ == "Experiment" else root.__name__
    if n == 1:
        return f"Invalid {what}: {lines[0].strip()}"
    return "\n".join([f"Invalid {what} ({n} problems):", *lines])
