r"""A linear warm-up, then a decay: today's schedules for large models, and ``warmup``.

* ``warmup_linear`` — linear decay to zero, D2Z (transformers' ``get_linear_schedule_with_warmup``)
* ``warmup_cosine`` — cosine decay (``get_cosine_schedule_with_warmup``)
* ``wsd`` — warm-up, stable, decay (``get_wsd_schedule`` with a linear warm-up)
* ``inverse_sqrt`` — ``1 / sqrt(t)`` after the warm-up (``get_inverse_sqrt_schedule``)
* ``warmup`` — a linear ramp prepended to any schedule (the one wrapper)

Each of the first four is ``max_lr * factor(t)`` joined from the pieces of
:mod:`lrlab.schedules.factors`, which follow transformers' operations in order: for every
``t <= total_steps`` the LR equals what transformers' ``LambdaLR`` sets after ``t`` scheduler
steps, bit for bit (``tests/test_schedules_warmup_decay.py``). Past ``total_steps`` each holds
its value at ``total_steps`` (the cosine's later waves are not followed). The warm-up starts at
0 (at ``min_lr_ratio * max_lr`` for ``wsd``, as in transformers), so update 0 has LR 0.

References: K. Hu et al., "MiniCPM" (2024) — WSD; A. Hägele et al., "Scaling Laws and
Compute-Optimal Training Beyond Fixed Training Durations" (NeurIPS 2024) — a constant LR with a
(1 - sqrt) cooldown matches cosine; S. Bergsma et al., "Straight to Zero: Why Linearly Decaying
the Learning Rate to Zero Works Best for LLMs" (ICLR 2025) — D2Z; A. Vaswani et al.,
"Attention Is All You Need" (2017) — inverse square root.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from lrlab import values as _checks
from lrlab.errors import InvalidArgument
from lrlab.schedules.core import Constant, Linear, Schedule, join
from lrlab.schedules.factors import DECAY_SHAPES, Decay, InverseSqrt, Remaining, Scaled
from lrlab.schedules.hyperschedule import HyperSchedule, record

# transformers' timescale when neither it nor a warm-up is given (get_inverse_sqrt_schedule).
INVERSE_SQRT_TIMESCALE = 10_000


def warmup(
    schedule: HyperSchedule | Mapping[str, Any], steps: int, start_lr: float = 0.0
) -> HyperSchedule:
    """Prepend a linear warm-up of ``steps`` steps from ``start_lr`` to ``schedule.lr(0)``.

    The wrapped schedule then runs from its own step 0 (``join`` semantics), so the result is
    ``steps`` longer; the momentum, if any, holds ``schedule.momentum(0)`` during the warm-up.
    ``schedule`` may be a :class:`HyperSchedule` or its ``to_dict()``.
    """
    if isinstance(schedule, Mapping):
        schedule = HyperSchedule.from_dict(schedule)
    if not isinstance(schedule, HyperSchedule):
        raise InvalidArgument(
            f"schedule={schedule!r} must be a HyperSchedule (e.g. one_cycle(...)) or its to_dict()."
        )
    steps = _checks.integer("steps", steps, minimum=1)
    start_lr = _checks.non_negative("start_lr", start_lr)
    lr = join([Linear(start_lr, schedule.lr(0), steps), schedule.lr_schedule], [steps])
    momentum = None
    if schedule.momentum_schedule is not None:
        held = Constant(schedule.momentum(0))
        momentum = join([held, schedule.momentum_schedule], [steps])
    total = None if schedule.total_steps is None else schedule.total_steps + steps
    arguments = {**locals(), "schedule": schedule.to_dict()}  # recorded as data, not an object
    return record(warmup, arguments, total_steps=total, lr=lr, momentum=momentum)


# --------------------------------------------------------------------------- helpers


def _phases(phases: Sequence[tuple[int, Schedule]], last: Schedule) -> Schedule:
    """``(steps, piece)`` phases one after the other, empty ones skipped, then ``last`` on."""
    kept = [(steps, piece) for steps, piece in phases if steps > 0]
    boundaries = list(itertools.accumulate(steps for steps, _ in kept))
    return join([piece for _, piece in kept] + [last], boundaries) if kept else last


def _ramp(warmup_steps: int, start: float = 0.0) -> tuple[int, Schedule]:
    """The warm-up phase: ``start + (1 - start) t / w`` (transformers' ``t / w``, then scaled)."""
    return warmup_steps, Linear(start, 1.0, max(warmup_steps, 1))


def _warmup_within(warmup_steps: Any, total_steps: int) -> int:
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise InvalidArgument(
            f"warmup_steps={warmup_steps} must be < total_steps={total_steps}: the warm-up is "
            f"part of the run, and the LR reaches max_lr only when it ends."
        )
    return warmup_steps


# --------------------------------------------------------------------------- policies


def warmup_linear(max_lr: float, total_steps: int, *, warmup_steps: int) -> HyperSchedule:
    r"""Linear warm-up from 0, then linear decay to zero at ``total_steps`` (D2Z).

    ``lr(t) = max_lr * t / w`` for ``t < w``, then ``max_lr * max(0, (T - t) / (T - w))``:
    transformers' ``get_linear_schedule_with_warmup(opt, w, T)``, bit for bit. Without a
    warm-up it is torch's ``LinearLR(start_factor=1, end_factor=0, total_iters=T)`` and
    ``PolynomialLR(total_iters=T, power=1)`` (which update recursively: equal to a few ulps).

    Reference: S. Bergsma et al., "Straight to Zero" (ICLR 2025): under the optimal peak LR, D2Z
    beats cosine decayed to 10 % for LLMs, more so the longer the run.
    """
    max_lr = _checks.positive("max_lr", max_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    warmup_steps = _warmup_within(warmup_steps, total_steps)
    factor = _phases([_ramp(warmup_steps)], Remaining(total_steps - warmup_steps))
    return record(warmup_linear, locals(), total_steps=total_steps, lr=Scaled(max_lr, factor))


def warmup_cosine(
    max_lr: float, total_steps: int, *, warmup_steps: int, num_cycles: float = 0.5
) -> HyperSchedule:
    r"""Linear warm-up from 0, then a cosine over the remaining steps.

    ``lr(t) = max_lr * t / w`` for ``t < w``, then
    ``max_lr * max(0, (1 + cos(2 pi c p)) / 2)`` with ``p = (t - w) / (T - w)`` and
    ``c = num_cycles`` (0.5: one half cosine, to 0 at ``T``): transformers'
    ``get_cosine_schedule_with_warmup(opt, w, T, num_cycles)``, bit for bit. Without a warm-up
    and with ``c = 0.5`` it is torch's ``CosineAnnealingWarmRestarts(T_0=T)`` before its first
    restart (and ``CosineAnnealingLR(T_max=T)``, as :func:`~lrlab.schedules.cosine`).
    """
    max_lr = _checks.positive("max_lr", max_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    warmup_steps = _warmup_within(warmup_steps, total_steps)
    num_cycles = _checks.positive("num_cycles", num_cycles)
    decay = Decay(total_steps - warmup_steps, "cosine", 0.0, num_cycles)
    factor = _phases([_ramp(warmup_steps)], decay)
    return record(warmup_cosine, locals(), total_steps=total_steps, lr=Scaled(max_lr, factor))


def wsd(
    max_lr: float,
    total_steps: int,
    *,
    warmup_steps: int,
    decay_steps: int,
    decay: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> HyperSchedule:
    r"""Warm-up, stable, decay: a ramp to ``max_lr``, a plateau, then a cooldown.

    With ``m = min_lr_ratio``, ``w``, ``d`` and ``s = T - w - d`` stable steps::

        t < w                  max_lr * (t / w * (1 - m) + m)
        w <= t < w + s         max_lr
        w + s <= t < T         max_lr * (g(p) * (1 - m) + m),   p = (t - w - s) / d
        t >= T                 max_lr * m

    ``g`` is the ``decay``: ``"cosine"`` ``(1 + cos(pi p)) / 2``, ``"linear"`` ``1 - p``,
    ``"1-sqrt"`` ``1 - sqrt(p)``. transformers' ``get_wsd_schedule(opt, num_warmup_steps=w,
    num_decay_steps=d, num_training_steps=T, warmup_type="linear", decay_type=decay,
    min_lr_ratio=m)``, bit for bit. The LR holds ``max_lr`` until the last ``d`` steps, so a
    run can be extended (or checkpoints branched into cooldowns) without a fixed length.

    Rejected: ``warmup_steps + decay_steps > total_steps`` (no room for them),
    ``warmup_steps >= total_steps``, negative step counts, ``min_lr_ratio`` outside ``[0, 1]``.

    References: K. Hu et al., "MiniCPM" (2024); A. Hägele et al. (NeurIPS 2024): with a 20 %
    (1 - sqrt) cooldown, WSD matches or beats cosine.
    """
    max_lr = _checks.positive("max_lr", max_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    warmup_steps = _warmup_within(warmup_steps, total_steps)
    decay_steps = _checks.integer("decay_steps", decay_steps, minimum=0)
    if warmup_steps + decay_steps > total_steps:
        raise InvalidArgument(
            f"warmup_steps + decay_steps = {warmup_steps} + {decay_steps} must be <= "
            f"total_steps={total_steps}: the warm-up and the decay are both part of the run."
        )
    decay = _checks.choice("decay", decay, DECAY_SHAPES)
    min_lr_ratio = _checks.real("min_lr_ratio", min_lr_ratio)
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise InvalidArgument(f"min_lr_ratio={min_lr_ratio!r} must be in [0, 1].")
    stable = (total_steps - warmup_steps - decay_steps, Constant(1.0))
    end = Decay(decay_steps, decay, min_lr_ratio) if decay_steps else Constant(min_lr_ratio)
    factor = _phases([_ramp(warmup_steps, min_lr_ratio), stable], end)
    return record(wsd, locals(), total_steps=total_steps, lr=Scaled(max_lr, factor))


def inverse_sqrt(
    max_lr: float, *, warmup_steps: int, timescale: int | None = None
) -> HyperSchedule:
    r"""Linear warm-up from 0, then ``max_lr / sqrt((t - w + tau) / tau)``, without an end.

    ``tau = timescale``, by default ``warmup_steps`` (or 10 000 without a warm-up): the LR is
    ``max_lr`` at ``t = w`` and falls as ``1 / sqrt(t)``. transformers'
    ``get_inverse_sqrt_schedule(opt, w, timescale)``, bit for bit. With ``tau = w`` it is the
    Transformer's schedule (Vaswani et al. 2017), whose peak is ``d_model^-0.5 w^-0.5``.
    """
    max_lr = _checks.positive("max_lr", max_lr)
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
    if timescale is not None:
        timescale = _checks.integer("timescale", timescale, minimum=1)
    tau = timescale if timescale is not None else (warmup_steps or INVERSE_SQRT_TIMESCALE)
    factor = _phases([_ramp(warmup_steps)], InverseSqrt(tau))
    return record(inverse_sqrt, locals(), total_steps=None, lr=Scaled(max_lr, factor))
