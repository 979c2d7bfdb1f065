r"""User-facing schedule policies: ``HyperSchedule`` and the constructors that build it.

A :class:`HyperSchedule` pairs an LR schedule with an optional momentum schedule, both pure
functions of the 0-based step, and remembers the constructor call (``name`` + ``params``) so
records, YAML configs and the CLI can rebuild it with :func:`build`. Update ``t`` (0-based)
uses ``lr(t)``; beyond ``total_steps`` every policy holds its final value (torch raises).

Exactness: for every ``t < total_steps``, ``one_cycle(...)`` equals what
``torch.optim.lr_scheduler.OneCycleLR`` has set after ``t`` calls to ``step()``, and
``cyclic(...)`` equals ``CyclicLR``, bit for bit. ``piecewise_constant``, ``step_decay`` and
``cosine`` use torch's closed forms (``MultiStepLR``/``StepLR``/``CosineAnnealingLR``
``_get_closed_form_lr``); torch's default ``step()`` updates those recursively, which drifts
from the closed form by a few ulps (see ``docs/schedules.md``).

The formulas are in ``docs/schedules.md``; the pieces in :mod:`lrlab.schedules.core`.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lrlab.errors import InvalidArgument
from lrlab.schedules import _checks
from lrlab.schedules.core import (
    Constant,
    Cosine,
    CyclicWave,
    Exponential,
    Linear,
    Schedule,
    join,
)

ANNEAL_STRATEGIES = ("cos", "linear")


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
        return build(d["name"], **params)

    def plot(self, steps: int | None = None, ax: Any = None) -> Any:
        """LR (and momentum, on a twin axis) vs step; see :func:`lrlab.schedules.plot`."""
        from lrlab.schedules.plot import plot_schedule

        return plot_schedule(self, steps=steps, ax=ax)


# --------------------------------------------------------------------------- one-cycle


def _one_cycle_layout(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """Torch's phase ends: phase k covers the steps ``t`` with ``ends[k-1] < t <= ends[k]``.

    Computed with torch's float operations (``OneCycleLR.__init__``) so that the phase
    boundaries and spans, hence every value, are identical.
    """
    ends = [float(pct_start * total_steps) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
    ends.append(float(total_steps - 1))
    return ends


def _check_one_cycle_layout(
    ends: list[float], total_steps: int, pct_start: float, three_phase: bool
) -> None:
    """Every phase must contain at least one step, or torch silently skips it (or divides by 0)."""
    if ends[0] <= 0:
        minimum = math.floor(1 / pct_start) + 1
        raise InvalidArgument(
            f"total_steps={total_steps} is too small for pct_start={pct_start}: the warm-up "
            f"phase ends at pct_start * total_steps - 1 = {ends[0]:g}, which must be > 0 (at "
            f"0 torch divides by zero, below 0 it skips the warm-up).",
            hint=f"Use total_steps >= {minimum} or a larger pct_start.",
        )
    for k in range(1, len(ends)):
        first_step = math.floor(ends[k - 1]) + 1  # first integer step of phase k+1
        if first_step > ends[k]:
            name = ("warm-up", "annealing", "final annihilation")[k] if three_phase else "decay"
            raise InvalidArgument(
                f"total_steps={total_steps} with pct_start={pct_start}"
                f"{' and three_phase=True' if three_phase else ''} leaves the {name} phase "
                f"(steps in ({ends[k - 1]:g}, {ends[k]:g}]) without any step, so the schedule "
                f"would never follow it.",
                hint="Increase total_steps or move pct_start away from the edge.",
            )


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal: str = "cos",
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> HyperSchedule:
    r"""Smith's one-cycle policy, identical to ``torch.optim.lr_scheduler.OneCycleLR``.

    With ``lr0 = max_lr / div_factor`` and ``lr_min = lr0 / final_div_factor``:

    * two phases: ``lr0 → max_lr`` over ``pct_start * T - 1`` steps, then
      ``max_lr → lr_min`` up to step ``T - 1``; momentum ``max_m → base_m → max_m``.
    * three phases (fastai / Smith): ``lr0 → max_lr → lr0`` symmetric around
      ``pct_start * T``, then ``lr0 → lr_min`` (the "annihilation"); momentum
      ``max_m → base_m → max_m`` then flat.

    Each phase anneals by ``anneal`` ("cos": ``end + (start - end) (cos(pi p) + 1) / 2``,
    "linear": ``start + (end - start) p``) with ``p`` the fraction of the phase done.

    Rejected (torch accepts them and does something else than asked): ``pct_start`` outside
    ``(0, 1)``, ``three_phase`` with ``pct_start > 0.5`` (the schedule would end mid-way down),
    a phase with no step (``total_steps`` too small), ``div_factor < 1`` or
    ``final_div_factor < 1`` (the "peak" or the "end" would not be one),
    ``base_momentum > max_momentum``, a momentum outside ``[0, 1)``, ``max_lr <= 0``.

    References: L. N. Smith & N. Topin, "Super-Convergence" (2017); L. N. Smith,
    "A disciplined approach to neural network hyper-parameters" (2018).
    """
    max_lr = _checks.positive("max_lr", max_lr)
    total_steps = _checks.integer("total_steps", total_steps, minimum=2)
    pct_start = _checks.real("pct_start", pct_start)
    if not 0.0 < pct_start < 1.0:
        raise InvalidArgument(f"pct_start={pct_start!r} must be in (0, 1).")
    anneal = _checks.choice("anneal", anneal, ANNEAL_STRATEGIES)
    div_factor = _checks.at_least(
        "div_factor", div_factor, 1.0, "the start LR max_lr / div_factor must not exceed max_lr."
    )
    final_div_factor = _checks.at_least(
        "final_div_factor",
        final_div_factor,
        1.0,
        "the final LR (max_lr / div_factor) / final_div_factor must not exceed the start LR.",
    )
    three_phase = _checks.flag("three_phase", three_phase)
    cycle_momentum = _checks.flag("cycle_momentum", cycle_momentum)
    base_momentum = _checks.momentum("base_momentum", base_momentum)
    max_momentum = _checks.momentum("max_momentum", max_momentum)
    if base_momentum > max_momentum:
        raise InvalidArgument(
            f"base_momentum={base_momentum} must be <= max_momentum={max_momentum}: momentum "
            f"falls to base_momentum while the LR rises to max_lr."
        )
    if three_phase and pct_start > 0.5:
        raise InvalidArgument(
            f"pct_start={pct_start} must be <= 0.5 with three_phase=True: the LR goes up for "
            f"pct_start and back down for pct_start of the steps, so 2 * pct_start must fit "
            f"in the schedule (torch would end it half-way down).",
        )
    ends = _one_cycle_layout(total_steps, pct_start, three_phase)
    _check_one_cycle_layout(ends, total_steps, pct_start, three_phase)

    initial_lr = max_lr / div_factor  # torch's group["initial_lr"]
    min_lr = initial_lr / final_div_factor  # torch's group["min_lr"]
    if three_phase:
        lr_points = [(initial_lr, max_lr), (max_lr, initial_lr), (initial_lr, min_lr)]
        momentum_points = [
            (max_momentum, base_momentum),
            (base_momentum, max_momentum),
            (max_momentum, max_momentum),
        ]
    else:
        lr_points = [(initial_lr, max_lr), (max_lr, min_lr)]
        momentum_points = [(max_momentum, base_momentum), (base_momentum, max_momentum)]

    piece = Cosine if anneal == "cos" else Linear
    starts = [0.0, *ends[:-1]]
    boundaries = [math.floor(end) + 1 for end in ends[:-1]]
    # Phase k starts at the fractional step starts[k]; joined at boundaries[k-1] it is fed
    # t - boundary, and offset = boundary - start restores t - start exactly.
    offsets = [0.0] + [b - s for b, s in zip(boundaries, starts[1:], strict=True)]
    spans = [end - start for start, end in zip(starts, ends, strict=True)]

    def phases(points: list[tuple[float, float]]) -> Schedule:
        pieces = [
            piece(a, b, span, offset)
            for (a, b), span, offset in zip(points, spans, offsets, strict=True)
        ]
        return join(pieces, boundaries)

    params = {
        "max_lr": max_lr,
        "total_steps": total_steps,
        "pct_start": pct_start,
        "anneal": anneal,
        "div_factor": div_factor,
        "final_div_factor": final_div_factor,
        "three_phase": three_phase,
        "cycle_momentum": cycle_momentum,
        "base_momentum": base_momentum,
        "max_momentum": max_momentum,
    }
    return HyperSchedule(
        name="one-cycle",
        params=params,
        total_steps=total_steps,
        lr_schedule=phases(lr_points),
        momentum_schedule=phases(momentum_points) if cycle_momentum else None,
    )


# --------------------------------------------------------------------------- cyclic


def cyclic(
    base_lr: float,
    max_lr: float,
    step_size_up: int,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
) -> HyperSchedule:
    r"""Smith's cyclical learning rate, identical to ``torch.optim.lr_scheduler.CyclicLR``.

    The LR climbs from ``base_lr`` to ``max_lr`` in ``step_size_up`` steps and back in
    ``step_size_down`` (default: ``step_size_up``), forever; the amplitude is constant
    ("triangular"), halves every cycle ("triangular2") or decays as ``gamma ** t``
    ("exp_range"). The momentum moves the opposite way between ``max_momentum`` and
    ``base_momentum``. Formulas: :class:`lrlab.schedules.core.CyclicWave`.

    Rejected: LRs ``<= 0``, ``max_lr < base_lr``, ``step_size_up < 1``, ``gamma`` outside
    ``(0, 1]`` for "exp_range" (the amplitude would grow without bound), a ``gamma`` other
    than 1 with another mode (torch ignores it silently), ``base_momentum > max_momentum``.

    Reference: L. N. Smith, "Cyclical Learning Rates for Training Neural Networks" (2017).
    """
    base_lr = _checks.positive("base_lr", base_lr)
    max_lr = _checks.positive("max_lr", max_lr)
    if max_lr < base_lr:
        raise InvalidArgument(f"max_lr={max_lr} must be >= base_lr={base_lr}.")
    step_size_up = _checks.integer("step_size_up", step_size_up, minimum=1)
    if step_size_down is not None:
        step_size_down = _checks.integer("step_size_down", step_size_down, minimum=0)
    mode = _checks.choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    gamma = _checks.positive("gamma", gamma)
    if mode == "exp_range" and gamma > 1.0:
        raise InvalidArgument(
            f"gamma={gamma} must be in (0, 1] with mode='exp_range': the amplitude is scaled "
            f"by gamma ** step and would grow without bound."
        )
    if mode != "exp_range" and gamma != 1.0:
        raise InvalidArgument(
            f"gamma={gamma} is only used by mode='exp_range' (mode={mode!r} ignores it).",
            hint="Use mode='exp_range' or drop gamma.",
        )
    cycle_momentum = _checks.flag("cycle_momentum", cycle_momentum)
    base_momentum = _checks.momentum("base_momentum", base_momentum)
    max_momentum = _checks.momentum("max_momentum", max_momentum)
    if base_momentum > max_momentum:
        raise InvalidArgument(
            f"base_momentum={base_momentum} must be <= max_momentum={max_momentum}."
        )
    down = step_size_up if step_size_down is None else step_size_down
    params = {
        "base_lr": base_lr,
        "max_lr": max_lr,
        "step_size_up": step_size_up,
        "step_size_down": step_size_down,
        "mode": mode,
        "gamma": gamma,
        "cycle_momentum": cycle_momentum,
        "base_momentum": base_momentum,
        "max_momentum": max_momentum,
    }
    lr = CyclicWave(base_lr, max_lr, step_size_up, down, mode, gamma)
    momentum = CyclicWave(base_momentum, max_momentum, step_size_up, down, mode, gamma, True)
    return HyperSchedule(
        name="cyclic",
        params=params,
        total_steps=None,
        lr_schedule=lr,
        momentum_schedule=momentum if cycle_momentum else None,
    )


# --------------------------------------------------------------------------- decays


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
    steps = [_checks.integer(f"milestones[{i}]", m, minimum=1) for i, m in enumerate(milestones)]
    if any(a >= b for a, b in itertools.pairwise(steps)):
        raise InvalidArgument(f"milestones={steps} must be strictly increasing.")
    # lr * factor ** k is torch's closed form (MultiStepLR._get_closed_form_lr).
    values = [Constant(lr * factor**k) for k in range(len(steps) + 1)]
    schedule: Schedule = join(values, steps) if steps else values[0]
    return HyperSchedule(
        name="piecewise-constant",
        params={"lr": lr, "milestones": steps, "factor": factor},
        total_steps=None,
        lr_schedule=schedule,
    )


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> HyperSchedule:
    """``lr * gamma ** (t // step_size)``: torch's ``StepLR`` stepped once per update."""
    lr = _checks.positive("lr", lr)
    step_size = _checks.integer("step_size", step_size, minimum=1)
    gamma = _checks.positive("gamma", gamma)
    return HyperSchedule(
        name="step-decay",
        params={"lr": lr, "step_size": step_size, "gamma": gamma},
        total_steps=None,
        lr_schedule=Exponential(lr, gamma, every=step_size, staircase=True),
    )


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
    return HyperSchedule(
        name="cosine",
        params={
            "lr": lr,
            "total_steps": total_steps,
            "warmup_steps": warmup_steps,
            "final_lr": final_lr,
            "warmup_start_lr": warmup_start_lr,
        },
        total_steps=total_steps,
        lr_schedule=schedule,
    )


def constant(lr: float, momentum: float | None = None) -> HyperSchedule:
    """A constant LR (and, if given, a constant momentum: a control for cyclical momentum)."""
    lr = _checks.positive("lr", lr)
    if momentum is not None:
        momentum = _checks.momentum("momentum", momentum)
    return HyperSchedule(
        name="constant",
        params={"lr": lr, "momentum": momentum},
        total_steps=None,
        lr_schedule=Constant(lr),
        momentum_schedule=None if momentum is None else Constant(momentum),
    )


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
    return HyperSchedule(
        name="warmup",
        params={"schedule": schedule.to_dict(), "steps": steps, "start_lr": start_lr},
        total_steps=None if schedule.total_steps is None else schedule.total_steps + steps,
        lr_schedule=lr,
        momentum_schedule=momentum,
    )


# --------------------------------------------------------------------------- registry

POLICIES: dict[str, Callable[..., HyperSchedule]] = {
    "one-cycle": one_cycle,
    "cyclic": cyclic,
    "piecewise-constant": piecewise_constant,
    "step-decay": step_decay,
    "cosine": cosine,
    "constant": constant,
    "warmup": warmup,
}
"""Policy name -> constructor. Names use dashes; :func:`build` also accepts underscores."""


def policy_name(name: str) -> str:
    """The registry key for ``name`` (``"one_cycle"``, ``"One-Cycle"`` → ``"one-cycle"``)."""
    if not isinstance(name, str):
        raise InvalidArgument(f"A schedule name must be a string, got {name!r}.")
    key = name.strip().lower().replace("_", "-")
    if key not in POLICIES:
        raise InvalidArgument(
            f"Unknown schedule {name!r}.", hint=f"Choose one of: {', '.join(POLICIES)}."
        )
    return key


def policy_params(name: str) -> dict[str, inspect.Parameter]:
    """The parameters of policy ``name`` (for error messages and the CLI)."""
    return dict(inspect.signature(POLICIES[policy_name(name)]).parameters)


def _coerce(value: Any) -> Any:
    """Numbers and booleans written as strings (PyYAML reads ``1e4`` as a string) are parsed."""
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                continue
    return value


def build(name: str, **params: Any) -> HyperSchedule:
    """Build policy ``name`` from keyword parameters (configs, the CLI, ``from_dict``).

    ``name`` accepts dashes or underscores (``"one-cycle"`` / ``"one_cycle"``); parameter names
    too (``max-lr`` / ``max_lr``). Unknown names or parameters, and missing required ones,
    raise :class:`~lrlab.errors.InvalidArgument` listing the allowed ones.
    """
    key = policy_name(name)
    signature = policy_params(key)
    kwargs = {str(k).strip().replace("-", "_"): _coerce(v) for k, v in params.items()}
    unknown = sorted(set(kwargs) - set(signature))
    if unknown:
        raise InvalidArgument(
            f"Unknown parameter(s) {', '.join(unknown)} for schedule {key!r}.",
            hint=f"Allowed: {', '.join(signature)}.",
        )
    required = [p for p, spec in signature.items() if spec.default is inspect.Parameter.empty]
    missing = [p for p in required if p not in kwargs]
    if missing:
        raise InvalidArgument(
            f"Schedule {key!r} needs {', '.join(missing)}.",
            hint=f"Its parameters: {', '.join(signature)}.",
        )
    return POLICIES[key](**kwargs)
