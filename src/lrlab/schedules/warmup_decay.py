r"""Warm-ups: ``warmup`` prepends a linear ramp to any schedule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrlab.errors import InvalidArgument
from lrlab.schedules import _checks
from lrlab.schedules.core import Constant, Linear, join
from lrlab.schedules.hyperschedule import HyperSchedule, record


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
