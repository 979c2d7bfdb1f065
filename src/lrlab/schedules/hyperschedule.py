r"""``HyperSchedule``: an LR schedule and an optional momentum schedule, as a named policy built.

A :class:`HyperSchedule` pairs an LR schedule with an optional momentum schedule, both pure
functions of the 0-based step, and remembers the constructor call (``name`` + ``params``) so
records, YAML configs and the CLI can rebuild it with :func:`lrlab.schedules.build`. Update
``t`` (0-based) uses ``lr(t)``; beyond ``total_steps`` every policy holds its final value
(torch raises).

The policies that build it live in :mod:`~lrlab.schedules.cyclical`,
:mod:`~lrlab.schedules.decays` and :mod:`~lrlab.schedules.warmup_decay`; the registry in
:mod:`~lrlab.schedules.registry`.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab import values as _checks
from lrlab.errors import InvalidArgument
from lrlab.schedules.core import Schedule


@dataclass(frozen=True)
class HyperSchedule:
    """An LR schedule and an optional momentum schedule, built by a named policy.

    Attributes:
        name: the policy (``"one-cycle"``, ``"cyclic"``, ...; a key of :data:`POLICIES`).
        params: the constructor arguments, JSON-ready (``to_dict`` / records / configs).
        total_steps: the schedule's length; ``None`` for schedules without an end.
        lr_schedule: ``step -> lr``.
        momentum_schedule: ``step -> momentum`` (SGD ``momentum`` / Adam ``betas[0]``), or
            ``None`` to leave the optimizer's momentum alone.

    Example::

        s = one_cycle(0.1, total_steps=1000)
        s.lr(0), s.lr(299), s.momentum(299)        # 0.004, ~0.1, ~0.85
        HyperSchedule.from_dict(s.to_dict()) == s  # True
    """

    name: str
    params: dict[str, Any] = field(hash=False)
    total_steps: int | None
    lr_schedule: Schedule = field(repr=False)
    momentum_schedule: Schedule | None = field(default=None, repr=False)

    def lr(self, step: int) -> float:
        """The learning rate for update ``step`` (0-based)."""
        return float(self.lr_schedule(_checks.step(step)))

    def momentum(self, step: int) -> float | None:
        """The momentum for update ``step``, or ``None`` when this schedule leaves it alone."""
        if self.momentum_schedule is None:
            return None
        return float(self.momentum_schedule(_checks.step(step)))

    @property
    def has_momentum(self) -> bool:
        return self.momentum_schedule is not None

    def _length(self, n: int | None) -> int:
        if n is None:
            if self.total_steps is None:
                raise InvalidArgument(
                    f"The {self.name!r} schedule has no end; pass the number of steps n."
                )
            return self.total_steps
        return _checks.integer("n", n, minimum=0)

    def lrs(self, n: int | None = None) -> np.ndarray:
        """``[lr(0), ..., lr(n - 1)]`` as float64 (``n`` defaults to ``total_steps``)."""
        return np.array([self.lr(t) for t in range(self._length(n))], dtype=np.float64)

    def momentums(self, n: int | None = None) -> np.ndarray | None:
        """``[momentum(0), ..., momentum(n - 1)]``, or ``None`` without a momentum schedule."""
        length = self._length(n)
        if self.momentum_schedule is None:
            return None
        return np.array([self.momentum(t) for t in range(length)], dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "params": {...}}``: :meth:`from_dict` / :func:`build` rebuild it."""
        return {"name": self.name, "params": copy.deepcopy(self.params)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HyperSchedule:
        """Rebuild a schedule from :meth:`to_dict` output or a config's ``schedule:`` block.

        Both ``{"name": "one-cycle", "params": {"max_lr": 0.1, ...}}`` and the flat
        ``{"name": "one-cycle", "max_lr": 0.1, ...}`` are accepted.
        """
        if not isinstance(d, Mapping) or "name" not in d:
            raise InvalidArgument(
                f"A schedule dict needs a 'name' and its parameters, got {d!r}.",
                hint="For example {'name': 'one-cycle', 'params': {'max_lr': 0.1, "
                "'total_steps': 1000}}.",
            )
        if "params" in d:
            extra = sorted(set(d) - {"name", "params"})
            if extra:
                raise InvalidArgument(
                    f"A schedule dict has either 'params' or flat parameters, not both "
                    f"(got 'params' and {', '.join(extra)})."
                )
            params = d["params"] if d["params"] is not None else {}
        else:
            params = {k: v for k, v in d.items() if k != "name"}
        if not isinstance(params, Mapping):
            raise InvalidArgument(f"Schedule 'params' must be a mapping, got {params!r}.")
        # The registry imports the policies, which import this module: bind it at call time.
        from lrlab.schedules.registry import build

        return build(d["name"], **params)

    def plot(self, steps: int | None = None, ax: Any = None) -> Any:
        """LR (and momentum, on a twin axis) vs step; see :func:`lrlab.schedules.plot`."""
        from lrlab.schedules.plot import plot_schedule

        return plot_schedule(self, steps=steps, ax=ax)


def record(
    policy: Callable[..., HyperSchedule],
    arguments: Mapping[str, Any],
    *,
    total_steps: int | None,
    lr: Schedule,
    momentum: Schedule | None = None,
) -> HyperSchedule:
    """The :class:`HyperSchedule` that ``policy`` returns, with its call recorded.

    ``arguments`` is the constructor's ``locals()`` once its arguments are validated and
    normalised: the parameters of ``policy``'s signature are taken from it, so ``params`` is
    never a hand-kept copy of the signature (optax's ``inject_hyperparams`` reads it the same
    way), and ``build(name, **params)`` rebuilds the same schedule. The name is the
    function's, with dashes (``one_cycle`` → ``"one-cycle"``): the key it is registered under.
    """
    params = {name: arguments[name] for name in inspect.signature(policy).parameters}
    return HyperSchedule(
        name=policy.__name__.replace("_", "-"),
        params=params,
        total_steps=total_steps,
        lr_schedule=lr,
        momentum_schedule=momentum,
    )
