r"""Learning-rate-free optimizers: what lrlab reads from and switches in them.

Two families, recognised from the optimizer object itself (so an optimizer a user built
without lrlab's registry is handled the same way):

**Schedule-Free** (Defazio et al. 2024, "The Road Less Scheduled"; ``schedulefree``'s
``AdamWScheduleFree``, ``SGDScheduleFree``): three sequences, of which the parameters hold one
at a time::

    y_t = (1 − β) z_t + β x_t                  gradients are taken at y  (train mode)
    z_{t+1} = z_t − γ_t ∇f(y_t)                the base (SGD / Adam) step
    x_{t+1} = (1 − c_{t+1}) x_t + c_{t+1} z_{t+1},   c_{t+1} = w_{t+1} / Σ_{i≤t+1} w_i

with ``w_t = γ_t^2`` (``weight_lr_power = 2``, the largest LR so far). ``x`` — the weighted
average — is the point to evaluate and to save: ``optimizer.eval()`` sets the parameters to
``x``, ``optimizer.train()`` back to ``y`` (both from ``z``, a few flops per parameter, and
idempotent: each group's ``train_mode`` says where it is). Its ``step()`` refuses to run in
eval mode. Recognised by ``train_mode`` in the param groups and ``train`` / ``eval`` methods.

**Distance estimators** (D-Adaptation: Defazio & Mishchenko 2023, "Learning-Rate-Free
Learning by D-Adaptation"; Prodigy: Mishchenko & Defazio 2023): the step is ``d_k · γ_k``,
where ``γ_k`` is the ``lr`` a schedule sets (1 by default) and ``d_k`` a running lower bound
of the distance to the solution ``D = ‖x_0 − x_*‖``. Prodigy's (Adam form)::

    r_{k+1} = √β₂ r_k + (1 − √β₂) γ_k d_k² ⟨g_k, x_0 − x_k⟩
    s_{k+1} = √β₂ s_k + (1 − √β₂) γ_k d_k² g_k
    d̂_{k+1} = r_{k+1} / ‖s_{k+1}‖₁,    d_{k+1} = max(d_k, d̂_{k+1})   (from d_0 = 1e-6)

D-Adaptation's has the same shape (``d`` never decreases). Both keep ``d`` in every param
group (Prodigy also ``d0``; D-Adaptation's ``d0`` is its constructor's default ``d``).
Recognised by ``d`` in the param groups. The step actually taken by group 0 — the number to
compare with a found LR — is :attr:`StepSize.d_lr` ``= d · lr`` (Adam's bias correction
aside, off by default).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCHEDULE_FREE = "schedule-free"
DISTANCE = "distance"  # Prodigy, D-Adaptation: a step size d estimated from the distance


def family(optimizer: Any) -> str | None:
    """:data:`SCHEDULE_FREE`, :data:`DISTANCE`, or ``None`` for an ordinary optimizer."""
    groups = getattr(optimizer, "param_groups", None) or [{}]
    group = groups[0]
    if "train_mode" in group and callable(getattr(optimizer, "eval", None)):
        return SCHEDULE_FREE
    if "d" in group:
        return DISTANCE
    return None


# ---- Schedule-Free --------------------------------------------------------------------------


def in_train_mode(optimizer: Any) -> bool:
    """Whether a Schedule-Free optimizer's parameters hold ``y`` (train mode)."""
    return bool(optimizer.param_groups[0]["train_mode"])


def has_average(optimizer: Any) -> bool:
    """Whether a Schedule-Free optimizer has taken a step (before it, ``x = y = z``)."""
    state = optimizer.state
    return any("z" in state.get(p, {}) for g in optimizer.param_groups for p in g["params"])


def to_train(optimizer: Any) -> bool:
    """Put a Schedule-Free optimizer in train mode (parameters ← ``y``); True when it moved
    them (it was in eval mode)."""
    if in_train_mode(optimizer):
        return False
    optimizer.train()
    return True


def to_eval(optimizer: Any) -> bool:
    """Put a Schedule-Free optimizer in eval mode (parameters ← the average ``x``); True when
    it moved them."""
    if not in_train_mode(optimizer):
        return False
    optimizer.eval()
    return True


def ready_to_step(optimizer: Any) -> None:
    """Make a freshly built optimizer steppable: Schedule-Free ones start in eval mode and
    refuse ``step()`` there, so they are put in train mode (what their authors' loops do
    before the first step); others are left alone."""
    if family(optimizer) == SCHEDULE_FREE:
        to_train(optimizer)


# ---- D-Adaptation / Prodigy -------------------------------------------------------------------


@dataclass(frozen=True)
class StepSize:
    """The estimate of a distance-estimating optimizer, group 0: ``d``, its start ``d0`` and
    the LR multiplier ``lr`` a schedule sets; ``d_lr = d · lr`` is the step size used."""

    d: float
    d0: float
    lr: float

    @property
    def d_lr(self) -> float:
        return self.d * self.lr


def step_size(optimizer: Any) -> StepSize | None:
    """The current :class:`StepSize` of a Prodigy / D-Adaptation optimizer (``None`` for
    others)."""
    if family(optimizer) != DISTANCE:
        return None
    group = optimizer.param_groups[0]
    # Prodigy keeps d0 in its groups; D-Adaptation only in the constructor's defaults (d = d0).
    d0 = group.get("d0", getattr(optimizer, "defaults", {}).get("d", math.nan))
    return StepSize(d=float(group["d"]), d0=float(d0), lr=float(group["lr"]))
