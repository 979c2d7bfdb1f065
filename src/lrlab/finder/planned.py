"""The planned schedule at any peak LR and length: what ``find_lr``'s short runs compress.

``find_lr(schedule=...)`` takes a policy name (any :func:`lrlab.schedules.plannable` one:
``"one-cycle"``, ``"wsd"``, ``"warmup-linear"``, ...) with ``schedule_options`` — the options of
:func:`lrlab.schedules.for_run`, step counts as fractions of the run so that they compress
with it (an absolute ``warmup_steps`` is read as a fraction of the planned length) — or a
callable ``f(peak_lr, total_steps) -> HyperSchedule``. A short run of ``h`` updates at
peak LR ``η`` follows the same schedule built for ``h`` updates: copy ``k`` uses
``η_k · u(t)`` with ``u`` the schedule at peak 1 — the form the batched engines need
(one LR multiplier per step, one momentum for every copy). :func:`unit_schedule` checks that
the schedule really scales linearly with its peak, so a callable that does not is an error,
not a silently different run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from lrlab.errors import InvalidArgument
from lrlab.schedules import HyperSchedule, for_run, plannable, policy_name
from lrlab.schedules.planning import FRACTIONS

ScheduleSpec = str | Callable[[float, int], HyperSchedule]


def schedule_name(schedule: ScheduleSpec) -> str:
    """The name a result records for ``schedule``."""
    if isinstance(schedule, str):
        return policy_name(schedule)
    return getattr(schedule, "__name__", type(schedule).__name__)


def as_fractions(options: Mapping[str, Any], planned_steps: int) -> dict[str, Any]:
    """``options`` with absolute step counts (``warmup_steps``, ``decay_steps``, ``step_size``,
    ``milestones``) turned into fractions of the planned run, so a short run compresses them."""
    out = dict(options)
    for fraction, steps in FRACTIONS.items():
        if steps in out:
            value = out.pop(steps)
            if isinstance(value, (list, tuple)):
                out[fraction] = tuple(float(v) / planned_steps for v in value)
            else:
                out[fraction] = float(value) / planned_steps
    return out


def planned_schedule(
    schedule: ScheduleSpec, peak_lr: float, total_steps: int, options: Mapping[str, Any]
) -> HyperSchedule:
    """The planned schedule at ``peak_lr`` over ``total_steps`` updates (``options`` as
    :func:`lrlab.schedules.for_run` takes them)."""
    if callable(schedule) and not isinstance(schedule, str):
        if options:
            raise InvalidArgument(
                "schedule_options cannot be combined with a schedule callable.",
                hint="Bind the options inside the callable.",
            )
        built = schedule(peak_lr, total_steps)
        if not isinstance(built, HyperSchedule):
            raise InvalidArgument(
                f"schedule({peak_lr}, {total_steps}) returned a {type(built).__name__}, not "
                "a HyperSchedule.",
                hint="Return e.g. lrlab.one_cycle(peak_lr, total_steps=total_steps).",
            )
        return built
    name = policy_name(str(schedule))
    if name not in plannable():
        raise InvalidArgument(
            f"schedule={schedule!r} cannot be planned from a peak LR and a length.",
            hint=f"Use one of {', '.join(plannable())}, or a callable f(peak_lr, total_steps).",
        )
    return for_run(name, peak_lr, total_steps, **dict(options))


def unit_schedule(
    schedule: ScheduleSpec, total_steps: int, options: Mapping[str, Any]
) -> Callable[[int], tuple[float, float | None]]:
    """``t -> (u(t), momentum(t))``: the schedule over ``total_steps`` at peak 1, checked to
    scale linearly with the peak (at a few steps, to float rounding)."""
    unit = planned_schedule(schedule, 1.0, total_steps, options)
    probe = planned_schedule(schedule, 8.0, total_steps, options)
    for t in {0, total_steps // 3, total_steps // 2, total_steps - 1}:
        a, b = unit.lr(t), probe.lr(t)
        if not math.isclose(8.0 * a, b, rel_tol=1e-9, abs_tol=1e-12):
            raise InvalidArgument(
                f"The schedule does not scale with its peak LR (at step {t}: {a} at peak 1, "
                f"{b} at peak 8).",
                hint="find_lr needs lr(t) = peak · u(t); express base LRs as ratios of the peak.",
            )
    return lambda t: (unit.lr(t), unit.momentum(t))
