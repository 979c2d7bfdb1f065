r"""Multipliers of a peak LR, in the floating-point order of transformers' schedules.

transformers builds each schedule as ``LambdaLR(optimizer, lr_lambda)``: the LR of update ``t``
is ``base_lr * lr_lambda(t)``, where ``lr_lambda`` is a unitless factor made of phases (warm-up,
stable, decay). The pieces here are those phases, each written with the operations of
``transformers/optimization.py`` in the same order, so a policy joined from them
(:mod:`lrlab.schedules.warmup_decay`) equals transformers' scheduler bit for bit. Like every
piece (:mod:`lrlab.schedules.core`) they are frozen dataclasses, fed the step relative to their
start by :func:`~lrlab.schedules.core.join`, and they hold their end value after their last
step. The warm-up phase is :class:`~lrlab.schedules.core.Linear` (``Linear(r, 1.0, w)`` is
exactly ``t / w * (1 - r) + r``)::

    Scaled(scale, f)          scale * f(t)                        (LambdaLR: base_lr * factor)
    Decay(steps, shape, floor)
                              max(0, g(p) * (1 - floor) + floor),  p = min(t / steps, 1)
        shape "linear":       g = 1 - p
              "cosine":       g = (1 + cos(2 pi cycles p)) / 2     (a half cosine at cycles=0.5)
              "1-sqrt":       g = 1 - sqrt(p)                      (Hägele et al. 2024)
    Remaining(steps)          max(0, (steps - t) / steps)         (linear decay to zero)
    InverseSqrt(timescale)    1 / sqrt((t + timescale) / timescale)

``Decay("linear")`` and ``Remaining`` are the same line written two ways: transformers computes
its WSD decay as ``1 - p`` and its linear schedule as ``(T - t) / (T - w)``, which round
differently in about 40 % of steps, so both are kept to stay exact against each.

References: ``transformers/optimization.py`` (``get_wsd_schedule``,
``get_linear_schedule_with_warmup``, ``get_cosine_schedule_with_warmup``,
``get_inverse_sqrt_schedule``); A. Hägele et al., "Scaling Laws and Compute-Optimal Training
Beyond Fixed Training Durations" (NeurIPS 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lrlab import values as _checks
from lrlab.schedules.core import Schedule, _set

DECAY_SHAPES = ("cosine", "linear", "1-sqrt")


@dataclass(frozen=True)
class Scaled:
    """``f(t) = scale * schedule(t)``: a peak LR times a unitless factor (torch's ``LambdaLR``)."""

    scale: float
    schedule: Schedule

    def __post_init__(self) -> None:
        _set(self, scale=_checks.real("scale", self.scale))

    def __call__(self, step: int) -> float:
        return self.scale * self.schedule(step)


@dataclass(frozen=True)
class Decay:
    """A factor from 1 down to ``floor`` over ``steps`` steps, then ``floor``.

    ``f(t) = max(0, g(p) * (1 - floor) + floor)`` with ``p = min(t / steps, 1)`` and ``g`` the
    ``shape`` (module docstring); ``cycles`` is the cosine's number of waves (0.5: one half
    cosine, down to ``floor``). transformers' WSD decay phase and, with ``floor = 0``, its
    cosine schedule's decay.
    """

    steps: int
    shape: str = "cosine"
    floor: float = 0.0
    cycles: float = 0.5

    def __post_init__(self) -> None:
        _set(
            self,
            steps=_checks.integer("steps", self.steps, minimum=1),
            shape=_checks.choice("shape", self.shape, DECAY_SHAPES),
            floor=_checks.non_negative("floor", self.floor),
            cycles=_checks.positive("cycles", self.cycles),
        )

    def __call__(self, step: int) -> float:
        progress = min(float(step) / float(self.steps), 1.0)
        if self.shape == "linear":
            factor = 1.0 - progress
        elif self.shape == "cosine":
            factor = 0.5 * (1.0 + math.cos(math.pi * self.cycles * 2.0 * progress))
        else:  # "1-sqrt": the cooldown of Hägele et al. (2024)
            factor = 1.0 - math.sqrt(progress)
        return max(0.0, factor * (1.0 - self.floor) + self.floor)


@dataclass(frozen=True)
class Remaining:
    """``f(t) = max(0, (steps - t) / steps)``: the share of a linear decay to zero still ahead.

    One division of two integers (one rounding), as in transformers'
    ``get_linear_schedule_with_warmup``; 0 from step ``steps`` on.
    """

    steps: int

    def __post_init__(self) -> None:
        _set(self, steps=_checks.integer("steps", self.steps, minimum=1))

    def __call__(self, step: int) -> float:
        return max(0.0, float(self.steps - step) / float(self.steps))


@dataclass(frozen=True)
class InverseSqrt:
    """``f(t) = 1 / sqrt((t + timescale) / timescale)``: 1 at ``t = 0``, then ``~ 1 / sqrt(t)``.

    transformers' ``get_inverse_sqrt_schedule`` after its warm-up (there ``t`` counts from the
    start of the run and ``shift = timescale - warmup`` restores the same integer). The
    Transformer's schedule (Vaswani et al. 2017) with its own scale.
    """

    timescale: int

    def __post_init__(self) -> None:
        _set(self, timescale=_checks.integer("timescale", self.timescale, minimum=1))

    def __call__(self, step: int) -> float:
        return 1.0 / math.sqrt((step + self.timescale) / self.timescale)
