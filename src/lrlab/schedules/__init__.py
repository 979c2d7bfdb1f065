"""Pure learning-rate (and momentum) schedules: ``step -> value``, composable, torch-exact.

* :mod:`lrlab.schedules.core` — pieces (``Constant``, ``Linear``, ``Cosine``, ``Exponential``,
  ``Polynomial``, ``CyclicWave``) and :func:`join`.
* :mod:`lrlab.schedules.hyperschedule` — :class:`HyperSchedule`, what every policy returns.
* :mod:`lrlab.schedules.cyclical` — Smith's family: ``one_cycle``, ``cyclic``.
* :mod:`lrlab.schedules.decays` — ``piecewise_constant``, ``step_decay``, ``cosine``,
  ``constant``.
* :mod:`lrlab.schedules.warmup_decay` — a linear warm-up then a decay, exact against
  transformers: ``warmup_linear`` (D2Z), ``warmup_cosine``, ``wsd``, ``inverse_sqrt``; and
  ``warmup`` (a ramp before any schedule).
* :mod:`lrlab.schedules.factors` — the unitless pieces those are joined from.
* :mod:`lrlab.schedules.registry` — :data:`POLICIES` (name → constructor) and :func:`build`.
* :mod:`lrlab.schedules.planning` — :func:`for_run`: a policy planned for a run from a peak LR
  and a length, with documented defaults (what ``find_lr(schedule=...)`` tries).
* :mod:`lrlab.schedules.plot` — a preview figure (matplotlib imported lazily).

Applying a schedule to an optimizer is :mod:`lrlab.optim.driver`'s job.
"""

from lrlab.schedules.core import (
    Constant,
    Cosine,
    CyclicWave,
    Exponential,
    Join,
    Linear,
    Polynomial,
    Schedule,
    join,
)
from lrlab.schedules.cyclical import cyclic, one_cycle
from lrlab.schedules.decays import constant, cosine, piecewise_constant, step_decay
from lrlab.schedules.hyperschedule import HyperSchedule
from lrlab.schedules.planning import for_run, plannable
from lrlab.schedules.registry import POLICIES, build, policy_name, policy_params
from lrlab.schedules.warmup_decay import inverse_sqrt, warmup, warmup_cosine, warmup_linear, wsd

__all__ = [
    "POLICIES",
    "Constant",
    "Cosine",
    "CyclicWave",
    "Exponential",
    "HyperSchedule",
    "Join",
    "Linear",
    "Polynomial",
    "Schedule",
    "build",
    "constant",
    "cosine",
    "cyclic",
    "for_run",
    "inverse_sqrt",
    "join",
    "one_cycle",
    "piecewise_constant",
    "plannable",
    "policy_name",
    "policy_params",
    "step_decay",
    "warmup",
    "warmup_cosine",
    "warmup_linear",
    "wsd",
]
