r"""Decays and the constant: ``piecewise_constant``, ``step_decay``, ``cosine``, ``constant``.

They use torch's closed forms (``MultiStepLR`` / ``StepLR`` / ``CosineAnnealingLR``
``_get_closed_form_lr``); torch's default ``step()`` updates those recursively, which drifts
from the closed form by a few ulps (see ``docs/schedules.md``).

References: I. Loshchilov & F. Hutter, "SGDR" (ICLR 2017); optax ``warmup_cosine_decay_schedule``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from lrlab import values as _checks
from lrlab.errors import InvalidArgument
from lrlab.schedules.core import Constant, Cosine, Exponential, Linear, Schedule, join
from lrlab.schedules.hyperschedule import HyperSchedule, record


def piecewise_constant(
    lr: float, milestones: Sequence[int] = (), factor: float = 0.1
) -> HyperSchedule:
    """``lr * factor ** k`` where ``k`` is the number of milestones ``<= t`` (steps, 0-based).

    Torch's ``MultiStepLR(milestones, gamma=factor)`` stepped once per update: at step
    ``milestones[i]`` the LR is already decayed. Smith's piecewise-constant baselines give
    milestones in iterations, e.g. ``piecewise_constant(0.1, [40_000, 60_000])``.
    """
    lr = _checks.positive("lr", lr)
    factor = _checks.positive("factor", factor)
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise InvalidArgument(
            f"milestones={milestones!r} must be a list of steps, e.g. [30000, 60000]."
        )
    milestones = [
        _checks.integer(f"milestones[{i}]", m, minimum=1) for i, m in enumerate(milestones)
    ]
    if any(a >= b for a, b in itertools.pairwise(milestones)):
        raise InvalidArgument(f"milestones={milestones} must be strictly increasing.")
    # lr * factor ** k is torch's closed form (MultiStepLR._get_closed_form_lr).
    values = [Constant(lr * factor**k) for k in range(len(milestones) + 1)]
    schedule: Schedule = join(values, milestones) if milestones else values[0]
    return record(piecewise_constant, locals(), total_steps=None, lr=schedule)


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> HyperSchedule:
    """``lr * gamma ** (t // step_size)``: torch's ``StepLR`` stepped once per update."""
    lr = _checks.positive("lr", lr)
    step_size = _checks.integer("step_size", step_size, minimum=1)
    gamma = _checks.positive("gamma", gamma)
    schedule = Exponential(lr, gamma, every=step_size, staircase=True)
    return record(step_decay, locals(), total_steps=None, lr=schedule)


def cosine(
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    final_lr: float = 0.0,
    warmup_start_lr: float = 0.0,
) -> HyperSchedule:
    r"""Linear warm-up then cosine decay (optax ``warmup_cosine_decay_schedule``).

    For ``t < w = warmup_steps``: ``warmup_start_lr + (lr - warmup_start_lr) t / w``; then
    ``final_lr + (lr - final_lr) (1 + cos(pi (t - w) / (T - w))) / 2``, which reaches
    ``final_lr`` at ``t = T = total_steps`` and holds it. With ``w = 0`` this is
    ``CosineAnnealingLR(T_max=total_steps, eta_min=final_lr)`` (SGDR without restarts).
    """
    lr = _checks.positive("lr", lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=1)
    warmup_steps = _checks.integer("warmup_steps", warmup_steps, minimum=0)
    if warmup_steps >= total_steps:
        raise InvalidArgument(
            f"warmup_steps={warmup_steps} must be < total_steps={total_steps}: the warm-up "
            f"is part of the schedule and the cosine needs at least one step."
        )
    final_lr = _checks.non_negative("final_lr", final_lr)
    if final_lr > lr:
        raise InvalidArgument(f"final_lr={final_lr} must be <= lr={lr} (a cosine *decay*).")
    warmup_start_lr = _checks.non_negative("warmup_start_lr", warmup_start_lr)
    if warmup_start_lr > lr:
        raise InvalidArgument(f"warmup_start_lr={warmup_start_lr} must be <= lr={lr}.")
    decay = Cosine(lr, final_lr, total_steps - warmup_steps)
    schedule: Schedule = decay
    if warmup_steps:
        schedule = join([Linear(warmup_start_lr, lr, warmup_steps), decay], [warmup_steps])
    return record(cosine, locals(), total_steps=total_steps, lr=schedule)


def constant(lr: float, momentum: float | None = None) -> HyperSchedule:
    """A constant LR (and, if given, a constant momentum: a control for cyclical momentum)."""
    lr = _checks.positive("lr", lr)
    if momentum is not None:
        momentum = _checks.momentum("momentum", momentum)
    held = None if momentum is None else Constant(momentum)
    return record(constant, locals(), total_steps=None, lr=Constant(lr), momentum=held)
