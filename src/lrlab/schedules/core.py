r"""Pure schedule pieces: ``step -> value`` callables, composed with :func:`join`.

A *schedule* is any callable ``f(step: int) -> float`` with no hidden state (optax's
convention). The pieces here are frozen dataclasses rather than closures so that they pickle
(process pools and Ray ship them to workers) and compare by value. Every piece holds its end
value after its last step, so a composed schedule never raises for a late step.

Pieces (``p`` is the progress through a ramp, clamped to ``[0, 1]``)::

    Constant(v)                          v
    Linear(a, b, steps, offset=0)        (b - a) * p + a,                 p = (t + offset) / steps
    Cosine(a, b, steps, offset=0)        b + (a - b) / 2 * (cos(pi p) + 1)
    Exponential(a, rate, every, ...)     a * rate ** (t / every)   (floor(t / every) if staircase)
    Polynomial(a, b, steps, power)       (a - b) * (1 - p) ** power + b,  p = t / steps
    CyclicWave(lo, hi, up, down, mode)   Smith's triangular wave (see :class:`CyclicWave`)
    Join(pieces, boundaries)             piece i on [boundaries[i-1], boundaries[i]), fed the
                                         step relative to its start (optax ``join_schedules``)

The operations are written in the order ``torch.optim.lr_scheduler`` uses, so the policies
built from them (:mod:`lrlab.schedules.cyclical`, ...) agree with torch bit for bit. ``offset``
exists for the same reason: torch's one-cycle phases start at fractional steps
(``pct_start * total_steps - 1``); a piece joined at the next integer step ``b`` and started
``offset = b - start`` steps into its ramp reproduces ``(t - start) / span`` exactly, because
``t - b`` and ``b - start`` are both exact in floating point (Sterbenz's lemma).

References: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks" (WACV 2017);
I. Loshchilov & F. Hutter, "SGDR" (ICLR 2017); optax ``schedules/_schedule.py``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lrlab import values as _checks
from lrlab.errors import InvalidArgument

Schedule = Callable[[int], float]
"""A pure function of the 0-based step."""

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def _progress(step: float, offset: float, steps: float) -> float:
    """``(step + offset) / steps`` clamped to ``[0, 1]``: a ramp holds its ends outside it."""
    pct = (step + offset) / steps
    return 0.0 if pct < 0.0 else (1.0 if pct > 1.0 else pct)


def _set(obj: Any, **values: Any) -> None:
    """Normalise fields of a frozen dataclass in ``__post_init__``."""
    for key, value in values.items():
        object.__setattr__(obj, key, value)


@dataclass(frozen=True)
class Constant:
    """``f(t) = value``."""

    value: float

    def __post_init__(self) -> None:
        _set(self, value=_checks.real("value", self.value))

    def __call__(self, step: int) -> float:
        return self.value


@dataclass(frozen=True)
class _Ramp:
    """A ramp from ``start`` to ``end`` over ``steps`` steps that holds ``end`` afterwards, at
    progress ``p = clip((t + offset) / steps, 0, 1)``; subclasses give its shape ``f(p)``.
    ``steps`` may be fractional (torch's phase layout); ``offset`` starts the ramp part-way
    (see the module docstring)."""

    start: float
    end: float
    steps: float
    offset: float = 0.0

    def __post_init__(self) -> None:
        _set(
            self,
            start=_checks.real("start", self.start),
            end=_checks.real("end", self.end),
            steps=_checks.positive("steps", self.steps),
            offset=_checks.non_negative("offset", self.offset),
        )


@dataclass(frozen=True)
class Linear(_Ramp):
    """Linear ramp from ``start`` to ``end`` over ``steps`` steps, then ``end``.

    ``f(t) = (end - start) * p + start`` with ``p = clip((t + offset) / steps, 0, 1)``
    (torch's ``OneCycleLR._annealing_linear``). ``steps`` may be fractional (torch's phase
    layout); ``offset`` starts the ramp part-way (see the module docstring).
    """

    def __call__(self, step: int) -> float:
        pct = _progress(step, self.offset, self.steps)
        return (self.end - self.start) * pct + self.start


@dataclass(frozen=True)
class Cosine(_Ramp):
    """Half-cosine from ``start`` to ``end`` over ``steps`` steps, then ``end``.

    ``f(t) = end + (start - end) / 2 * (cos(pi p) + 1)``, ``p = clip((t + offset) / steps, 0, 1)``
    (torch's ``OneCycleLR._annealing_cos``; SGDR without restarts).
    """

    def __call__(self, step: int) -> float:
        pct = _progress(step, self.offset, self.steps)
        return self.end + (self.start - self.end) / 2.0 * (math.cos(math.pi * pct) + 1)


@dataclass(frozen=True)
class Exponential:
    """``f(t) = start * rate ** (t / every)``; with ``staircase`` the exponent is ``t // every``.

    ``end`` (optional) bounds the value: a floor when ``rate < 1``, a ceiling when ``rate > 1``
    (optax ``exponential_decay``). ``Exponential(lr, gamma, every=k, staircase=True)`` is
    torch's ``StepLR`` in closed form; ``Exponential(a, b / a, every=n)`` is the geometric sweep
    ``a (b / a) ** (t / n)`` of an LR range test.
    """

    start: float
    rate: float
    every: float = 1.0
    staircase: bool = False
    end: float | None = None

    def __post_init__(self) -> None:
        every = self.every
        if self.staircase:
            every = _checks.integer("every", every, minimum=1)
        else:
            every = _checks.positive("every", every)
        _set(
            self,
            start=_checks.real("start", self.start),
            rate=_checks.positive("rate", self.rate),
            every=every,
            staircase=bool(self.staircase),
            end=None if self.end is None else _checks.real("end", self.end),
        )

    def __call__(self, step: int) -> float:
        exponent = step // self.every if self.staircase else step / self.every
        value = self.start * self.rate**exponent
        if self.end is not None:
            value = max(value, self.end) if self.rate < 1.0 else min(value, self.end)
        return value


@dataclass(frozen=True)
class Polynomial:
    """``f(t) = (start - end) * (1 - p) ** power + end``, ``p = min(t / steps, 1)``.

    ``power=1`` is a linear decay; ``end=0`` is torch's ``PolynomialLR`` in closed form.
    """

    start: float
    end: float
    steps: float
    power: float = 1.0

    def __post_init__(self) -> None:
        _set(
            self,
            start=_checks.real("start", self.start),
            end=_checks.real("end", self.end),
            steps=_checks.positive("steps", self.steps),
            power=_checks.positive("power", self.power),
        )

    def __call__(self, step: int) -> float:
        pct = _progress(step, 0.0, self.steps)
        return (self.start - self.end) * (1.0 - pct) ** self.power + self.end


@dataclass(frozen=True)
class CyclicWave:
    r"""Smith's cyclical wave between ``low`` and ``high`` (torch's ``CyclicLR``, closed form).

    With ``S = up + down`` and ``r = up / S``::

        cycle = floor(1 + t / S),   x = 1 + t / S - cycle            (position in the cycle)
        s = x / r  if x <= r  else  (x - 1) / (r - 1)                (0 → 1 → 0)
        scale = 1  (triangular) | 1 / 2 ** (cycle - 1)  (triangular2) | gamma ** t  (exp_range)
        f(t) = low + (high - low) * s * scale          (rising, the LR)
        f(t) = high - (high - low) * s * scale         (falling: the momentum, inverse to the LR)

    The wave has no end: ``total_steps`` of a cyclic policy is ``None``.
    """

    low: float
    high: float
    step_size_up: float
    step_size_down: float
    mode: str = "triangular"
    gamma: float = 1.0
    falling: bool = False

    def __post_init__(self) -> None:
        _set(
            self,
            low=_checks.real("low", self.low),
            high=_checks.real("high", self.high),
            step_size_up=float(_checks.positive("step_size_up", self.step_size_up)),
            step_size_down=float(_checks.non_negative("step_size_down", self.step_size_down)),
            mode=_checks.choice("mode", self.mode, CYCLIC_MODES),
            gamma=_checks.positive("gamma", self.gamma),
            falling=bool(self.falling),
        )

    def __call__(self, step: int) -> float:
        total = self.step_size_up + self.step_size_down
        ratio = self.step_size_up / total
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        scale_factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        if self.mode == "triangular":
            scale = 1.0
        elif self.mode == "triangular2":
            scale = 1 / (2.0 ** (cycle - 1))
        else:  # exp_range scales by iterations, not cycles (torch's scale_mode="iterations")
            scale = self.gamma**step
        height = (self.high - self.low) * scale_factor
        if self.falling:
            return self.high - height * scale
        return self.low + height * scale


@dataclass(frozen=True)
class Join:
    """Piece ``i`` runs on ``[boundaries[i-1], boundaries[i])`` and sees ``t - boundaries[i-1]``.

    The semantics of optax's ``join_schedules``: each piece starts at its own step 0, so pieces
    are written once and reused anywhere. Build it with :func:`join`.
    """

    pieces: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        pieces = tuple(self.pieces)
        boundaries = tuple(
            _checks.integer(f"boundaries[{i}]", b, minimum=1) for i, b in enumerate(self.boundaries)
        )
        if not pieces:
            raise InvalidArgument("join() needs at least one schedule.")
        if len(boundaries) != len(pieces) - 1:
            raise InvalidArgument(
                f"join() got {len(pieces)} schedules and {len(boundaries)} boundaries; "
                f"it needs exactly one boundary between consecutive schedules "
                f"({len(pieces) - 1})."
            )
        for i, piece in enumerate(pieces):
            if not callable(piece):
                raise InvalidArgument(
                    f"schedules[{i}]={piece!r} is not callable; a schedule maps a step to a value."
                )
        if any(b1 >= b2 for b1, b2 in itertools.pairwise(boundaries)):
            raise InvalidArgument(f"boundaries={list(boundaries)} must be strictly increasing.")
        _set(self, pieces=pieces, boundaries=boundaries)

    def __call__(self, step: int) -> float:
        index = bisect.bisect_right(self.boundaries, step)
        start = self.boundaries[index - 1] if index else 0
        return self.pieces[index](step - start)


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Join:
    """Join ``schedules`` at step ``boundaries`` (optax ``join_schedules`` semantics).

    Example: a 100-step linear warm-up to 0.1 followed by a 900-step cosine decay::

        join([Linear(0.0, 0.1, 100), Cosine(0.1, 0.0, 900)], [100])
    """
    return Join(tuple(schedules), tuple(boundaries))
