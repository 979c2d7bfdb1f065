r"""Applying a :class:`~lrlab.schedules.HyperSchedule` to a torch optimizer.

The schedules are pure; this module is where their values are written into
``optimizer.param_groups``, at an explicit step (update ``t`` uses ``lr(t)``):

* **LR**: group ``g`` gets ``schedule.lr(t) * ratio[g]`` with
  ``ratio[g] = initial_lr[g] / initial_lr[0]``. ``initial_lr`` is torch's own key: set once
  from the group's ``lr`` if absent (``LRScheduler`` does the same), kept otherwise, so a
  resumed optimizer keeps its ratios even when the last LR written was 0.
* **Momentum**: SGD / RMSprop ``momentum``, or ``betas[0]`` for the Adam family (detected by
  the keys present in the param groups, as torch's ``OneCycleLR`` does).

``cycle_momentum`` decides whether the momentum is driven:

=========  ==================================================================================
``None``   drive it if the schedule has a momentum and the group uses one (``betas``, or a
           ``momentum`` > 0). An SGD built with ``momentum=0`` stays at 0, an Adagrad is left
           alone; a ``UserWarning`` says the schedule's momentum is ignored and how to use it.
``True``   drive it; an optimizer without any momentum (Adagrad, ...) is an
           :class:`~lrlab.errors.OptimizerMismatch`. An SGD built with ``momentum=0`` *is*
           switched on: ``True`` is an explicit request (torch creates the momentum buffer
           at the next step).
``False``  never touch the momentum.
=========  ==================================================================================

:class:`LrlabScheduler` wraps the same logic in a ``torch.optim.lr_scheduler.LRScheduler`` for
users' own loops (``scheduler.step()`` after ``optimizer.step()``, ``state_dict`` round-trip).
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Mapping
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from lrlab.errors import InvalidArgument, OptimizerMismatch
from lrlab.optim import groups as groups_mod
from lrlab.schedules import HyperSchedule
from lrlab.values import step as _check_step


def _as_schedule(schedule: Any) -> HyperSchedule:
    if isinstance(schedule, Mapping):
        return HyperSchedule.from_dict(schedule)
    if not isinstance(schedule, HyperSchedule):
        raise InvalidArgument(
            f"schedule={schedule!r} must be a HyperSchedule (from lrlab.schedules: one_cycle, "
            f"cyclic, ...) or its to_dict().",
            hint="For a bare step -> lr function f, use HyperSchedule('custom', {}, None, f).",
        )
    return schedule


class ScheduleDriver:
    """Writes a schedule's LR (and momentum) into every param group of ``optimizer``.

    ``apply(step)`` sets update ``step``'s values and returns ``{"lr": ..., "momentum": ...}``
    (the group-0 LR, and the momentum written or ``None``). The driver keeps no step counter:
    the training loop owns it. See the module docstring for the LR ratios and momentum rules.

    Example::

        driver = ScheduleDriver(optimizer, one_cycle(0.1, total_steps=len(loader) * epochs))
        for t, batch in enumerate(batches):
            driver.apply(t)
            loss = ...; loss.backward(); optimizer.step(); optimizer.zero_grad()
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: HyperSchedule | Mapping[str, Any],
        *,
        cycle_momentum: bool | None = None,
    ) -> None:
        if cycle_momentum is not None and not isinstance(cycle_momentum, bool):
            raise InvalidArgument(f"cycle_momentum={cycle_momentum!r} must be None, True or False.")
        self.optimizer = optimizer
        self.schedule = _as_schedule(schedule)
        self.cycle_momentum = cycle_momentum
        groups = groups_mod.param_groups(optimizer)
        self._ratios: list[float] = []
        self._extend_ratios(groups)
        self._momentum_groups = self._decide_momentum(groups)

    # -- LR ratios ----------------------------------------------------------------------
    def _extend_ratios(self, groups: list[dict[str, Any]]) -> None:
        """Capture ``initial_lr`` for groups not seen yet (``add_param_group`` after init)."""
        self._ratios = groups_mod.initial_ratios(self.optimizer)

    @property
    def lr_ratios(self) -> list[float]:
        """``initial_lr[g] / initial_lr[0]`` for every group."""
        return list(self._ratios)

    def lrs(self, step: int) -> list[float]:
        """The LR of every param group at update ``step`` (nothing is written)."""
        groups = groups_mod.param_groups(self.optimizer)
        if len(groups) != len(self._ratios):
            self._extend_ratios(groups)
        lr = self.schedule.lr(step)
        return [lr * ratio for ratio in self._ratios]

    # -- momentum -----------------------------------------------------------------------
    def _decide_momentum(self, groups: list[dict[str, Any]]) -> list[int]:
        """The indices of the groups whose momentum this driver writes."""
        name = type(self.optimizer).__name__
        has_momentum = self.schedule.has_momentum
        if self.cycle_momentum is False or (self.cycle_momentum is None and not has_momentum):
            return []
        keys = [groups_mod.momentum_key(g) for g in groups]
        if self.cycle_momentum:
            if not has_momentum:
                raise InvalidArgument(
                    f"cycle_momentum=True but the {self.schedule.name!r} schedule has no "
                    f"momentum schedule.",
                    hint="Build it with cycle_momentum=True (one-cycle, cyclic) or a constant "
                    "momentum, or pass cycle_momentum=None.",
                )
            if any(k is None for k in keys):
                raise OptimizerMismatch(
                    f"cycle_momentum=True but {name} has no momentum (no 'momentum' or "
                    f"'betas' in its param groups).",
                    hint="Use an optimizer with momentum (SGD(momentum=0.9), Adam, ...) or "
                    "pass cycle_momentum=False (or build the schedule with "
                    "cycle_momentum=False).",
                )
            return list(range(len(groups)))
        used = [
            i
            for i, (g, k) in enumerate(zip(groups, keys, strict=True))
            if k == groups_mod.BETAS or (k == groups_mod.MOMENTUM and groups_mod.read(g, k) != 0.0)
        ]
        if len(used) < len(groups):
            reason = (
                f"{name} has no momentum"
                if all(k is None for k in keys)
                else f"{name} was built with momentum=0 in {len(groups) - len(used)} param "
                f"group(s), which stay at 0"
            )
            warnings.warn(
                f"The {self.schedule.name!r} schedule cycles the momentum but {reason}; its "
                f"momentum schedule is ignored there. Pass cycle_momentum=True to drive it "
                f"anyway, or build the schedule with cycle_momentum=False to silence this.",
                UserWarning,
                stacklevel=3,
            )
        return used

    @property
    def drives_momentum(self) -> bool:
        """Whether :meth:`apply` writes a momentum into at least one group."""
        return bool(self._momentum_groups)

    def set_momentum(self, step: int) -> float | None:
        """Write update ``step``'s momentum into the driven groups; return it (or ``None``)."""
        if not self._momentum_groups:
            _check_step(step)
            return None
        value = self.schedule.momentum(step)
        assert value is not None  # _decide_momentum only drives schedules with a momentum
        groups = self.optimizer.param_groups
        for i in self._momentum_groups:
            groups_mod.write(groups[i], groups_mod.MOMENTUM, value)
        return value

    # -- the one call a training loop makes ------------------------------------------------
    def apply(self, step: int) -> dict[str, float | None]:
        """Write update ``step``'s LR (every group) and momentum; return the values written."""
        lrs = self.lrs(step)
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            groups_mod.write(group, "lr", lr)
        return {"lr": lrs[0], "momentum": self.set_momentum(step)}


def apply_schedule(
    optimizer: torch.optim.Optimizer,
    schedule: HyperSchedule | Mapping[str, Any],
    step: int,
    *,
    cycle_momentum: bool | None = None,
) -> dict[str, float | None]:
    """One-shot :meth:`ScheduleDriver.apply`: ratios come from ``initial_lr``, so repeated calls
    on the same optimizer keep them even after the schedule wrote an LR of 0."""
    return ScheduleDriver(optimizer, schedule, cycle_momentum=cycle_momentum).apply(step)


class LrlabScheduler(LRScheduler):
    """A ``torch.optim.lr_scheduler.LRScheduler`` that follows an lrlab schedule.

    For loops written torch's way::

        scheduler = LrlabScheduler(optimizer, one_cycle(0.1, total_steps=1000))
        for batch in batches:                      # 1000 updates
            ...; optimizer.step(); scheduler.step()

    Construction sets update 0's values; after ``k`` calls to ``step()`` the optimizer holds
    update ``k``'s (``last_epoch == k``), exactly like torch's schedulers, so
    ``LrlabScheduler(opt, one_cycle(...))`` trains to the same weights as ``OneCycleLR``.
    Unlike torch, stepping past ``total_steps`` holds the final values. ``state_dict()`` holds
    only plain data (the schedule as its ``to_dict()``), so it loads with
    ``torch.load(weights_only=True)``; ``load_state_dict`` restores the saved schedule.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: HyperSchedule | Mapping[str, Any],
        *,
        cycle_momentum: bool | None = None,
        last_epoch: int = -1,
    ) -> None:
        if not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise InvalidArgument(f"last_epoch={last_epoch!r} must be an integer >= -1.")
        self.schedule = _as_schedule(schedule)
        self.cycle_momentum = cycle_momentum
        self._driver = ScheduleDriver(optimizer, self.schedule, cycle_momentum=cycle_momentum)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """LRs for update ``last_epoch``; writes its momentum too (as torch's OneCycleLR does)."""
        step = max(self.last_epoch, 0)
        self._driver.set_momentum(step)
        return self._driver.lrs(step)

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "_driver")}
        state["schedule"] = self.schedule.to_dict()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        schedule = _as_schedule(state.pop("schedule", self.schedule))
        cycle_momentum = state.get("cycle_momentum", self.cycle_momentum)
        self.__dict__.update(state)
        self.schedule = schedule
        self._driver = ScheduleDriver(self.optimizer, schedule, cycle_momentum=cycle_momentum)
