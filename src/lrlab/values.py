"""Value checks by name, shared by the schedules, the optimizer checks, tasks and the CLI's
options (every numeric option is checked at the edge, before any work).

Each helper returns the value normalised (``int`` for step counts, ``float`` for rates) or
raises :class:`lrlab.errors.InvalidArgument` with a message that names the argument, shows the
value and says what was expected, in optax's style (``"pct_start=1.2 must be in (0, 1)"``).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from lrlab.errors import InvalidArgument


def real(name: str, value: Any) -> float:
    """A finite real number (``bool`` is rejected: ``True`` is almost always a typo here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidArgument(
            f"{name}={value!r} must be a number, got {type(value).__name__}.",
        )
    value = float(value)
    if not math.isfinite(value):
        raise InvalidArgument(f"{name}={value!r} must be a finite number.")
    return value


def positive(name: str, value: Any) -> float:
    """A finite number ``> 0`` (learning rates: a schedule never proposes LR 0 by accident)."""
    value = real(name, value)
    if value <= 0.0:
        raise InvalidArgument(f"{name}={value!r} must be > 0.")
    return value


def non_negative(name: str, value: Any) -> float:
    value = real(name, value)
    if value < 0.0:
        raise InvalidArgument(f"{name}={value!r} must be >= 0.")
    return value


def at_least(name: str, value: Any, low: float, why: str) -> float:
    value = real(name, value)
    if value < low:
        raise InvalidArgument(f"{name}={value!r} must be >= {low:g}: {why}")
    return value


def momentum(name: str, value: Any) -> float:
    """A momentum / ``beta1`` in ``[0, 1)`` (1 or more makes SGD diverge and Adam raise)."""
    value = real(name, value)
    if not 0.0 <= value < 1.0:
        raise InvalidArgument(f"{name}={value!r} must be in [0, 1).")
    return value


def unit_interval(name: str, value: Any) -> float:
    """A number in ``[0, 1]`` (SGD's ``dampening``)."""
    value = real(name, value)
    if not 0.0 <= value <= 1.0:
        raise InvalidArgument(f"{name}={value!r} must be in [0, 1].")
    return value


def integer(name: str, value: Any, *, minimum: int) -> int:
    """An integer ``>= minimum``; an integral float (``1e4`` read from YAML) is accepted."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {minimum}.")
    integral = isinstance(value, numbers.Integral)
    if integral or (isinstance(value, numbers.Real) and float(value).is_integer()):
        value = int(value)
    else:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {minimum}.")
    if value < minimum:
        raise InvalidArgument(f"{name}={value!r} must be an integer >= {minimum}.")
    return value


def choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise InvalidArgument(f"{name}={value!r} must be one of {options}.")
    return str(value)


def step(value: Any) -> int:
    """A step index: a non-negative integer (steps are 0-based, see docs/architecture.md)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidArgument(
            f"step={value!r} must be a non-negative integer (the 0-based index of the "
            f"optimizer update), got {type(value).__name__}."
        )
    value = int(value)
    if value < 0:
        raise InvalidArgument(f"step={value!r} must be >= 0: steps are 0-based.")
    return value


def flag(name: str, value: Any) -> bool:
    """A boolean (``bool("false")`` is ``True``, so strings and numbers are not guessed at)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidArgument(f"{name}={value!r} must be True or False.")
    return bool(value)
