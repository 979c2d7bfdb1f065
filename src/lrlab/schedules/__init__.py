"""Pure learning-rate (and momentum) schedules: ``step -> value``, composable, torch-exact.

* :mod:`lrlab.schedules.core` — pieces (``Constant``, ``Linear``, ``Cosine``, ``Exponential``,
  ``Polynomial``, ``CyclicWave``) and :func:`join`.
* :mod:`lrlab.schedules.policies` — :class:`HyperSchedule` and the constructors users call
  (``one_cycle``, ``cyclic``, ``piecewise_constant``, ``step_decay``, ``cosine``,
  ``constant``, ``warmup``), the registry :data:`POLICIES` and :func:`build`.
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
from lrlab.schedules.policies import (
    POLICIES,
    HyperSchedule,
    build,
    constant,
    cosine,
    cyclic,
    one_cycle,
    piecewise_constant,
    policy_name,
    policy_params,
    step_decay,
    warmup,
)

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
    "join",
    "one_cycle",
    "piecewise_constant",
    "policy_name",
    "policy_params",
    "step_decay",
    "warmup",
]
