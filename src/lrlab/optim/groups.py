r"""Param groups: the one place that reads and writes ``optimizer.param_groups``.

**LR ratios.** lrlab keeps every param group's LR a fixed multiple of group 0's, as torch's
schedulers do with each group's ``initial_lr``: a schedule (or a sweep) sets group 0 to
``lr`` and group ``g`` to ``lr · ratio[g]`` with ``ratio[g] = lr_g / lr_0`` read once. Group
0's ratio is exactly 1.0, so it gets the schedule's value bit for bit.

**Momentum.** One name for one idea: ``"momentum"`` is SGD / RMSprop ``momentum`` or, for the
Adam family, ``betas[0]`` (β₁). Which slot a group uses is decided by the keys it holds,
``betas`` first — the precedence of torch's ``OneCycleLR`` (``use_beta1``).

**Tensor hyper-parameters.** Capturable / fused / compiled optimizers may hold ``lr`` or
``betas`` as tensors; they are filled in place so the optimizer keeps their identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lrlab import values
from lrlab.errors import InvalidArgument, OptimizerMismatch

MOMENTUM = "momentum"
BETAS = "betas"


def param_groups(optimizer: Any) -> list[dict[str, Any]]:
    """``optimizer.param_groups``, checked: a non-empty list of groups that each have an lr."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not groups or not all("lr" in g for g in groups):
        raise OptimizerMismatch(
            f"{type(optimizer).__name__} is not a torch optimizer with param groups that have "
            f"an 'lr'.",
            hint="Pass a torch.optim.Optimizer (SGD, Adam, ...).",
        )
    return groups


# ---------------------------------------------------------------------------- momentum


def momentum_key(group: Mapping[str, Any]) -> str | None:
    """The key holding this group's momentum: ``"betas"`` (β₁), ``"momentum"`` or ``None``."""
    if BETAS in group:
        return BETAS
    if MOMENTUM in group:
        return MOMENTUM
    return None


def hyper_key(group: Mapping[str, Any], name: str) -> str | None:
    """The key that holds hyper-parameter ``name`` (``momentum`` → its slot), or ``None``."""
    if name == MOMENTUM:
        return momentum_key(group)
    return name if name in group else None


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def read(group: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` in ``group`` (momentum: ``momentum`` or ``betas[0]``); ``None``
    when the group has no such hyper-parameter. One-element tensors are read as numbers."""
    key = hyper_key(group, name)
    if key is None:
        return None
    value = group[key][0] if key == BETAS and name == MOMENTUM else group[key]
    return _plain(value)


def write(group: dict[str, Any], name: str, value: Any) -> None:
    """Set ``name`` in ``group`` (momentum: ``momentum`` or ``betas[0]``), filling tensor
    hyper-parameters in place. A group without the key gets it (``momentum`` on an SGD that
    lacks it is torch's own default key, so this never invents a new hyper-parameter)."""
    key = hyper_key(group, name) or name
    current = group.get(key)
    if key == BETAS and name == MOMENTUM:
        if isinstance(current[0], torch.Tensor):
            current[0].fill_(value)
        else:
            group[BETAS] = (value, *current[1:])
    elif isinstance(current, torch.Tensor) and current.numel() == 1:
        current.fill_(value)
    else:
        group[key] = value


def first_group_hyper(optimizer: Any) -> tuple[float, float | None]:
    """Group 0's ``lr`` and momentum (``None`` when the optimizer has none): what records and
    progress bars show."""
    group = optimizer.param_groups[0]
    momentum = read(group, MOMENTUM)
    return float(group["lr"]), None if momentum is None else float(momentum)


def require(optimizer: Any, name: str) -> None:
    """Raise :class:`OptimizerMismatch` unless every param group holds ``name``."""
    for group in param_groups(optimizer):
        if hyper_key(group, name) is None:
            have = sorted(k for k in group if k != "params")
            raise OptimizerMismatch(
                f"{type(optimizer).__name__} has no hyper-parameter {name!r} in its param "
                f"groups (it has {', '.join(have)}).",
                hint=f"Vary one of those, or pass an optimizer factory that accepts {name}=.",
            )


def write_all(optimizer: Any, name: str, value: Any) -> None:
    """Set ``name`` in every param group (after :func:`require`)."""
    require(optimizer, name)
    for group in optimizer.param_groups:
        write(group, name, value)


# ---------------------------------------------------------------------------- LR ratios


def lr_ratios(lrs: Sequence[float]) -> list[float]:
    """``lr_g / lr_0`` for every group; all-zero groups keep equal LRs (ratio 1).

    Raises:
        InvalidArgument: group 0 has LR 0 while another group does not (undefined ratios).
    """
    values = [float(v) for v in lrs]
    if values[0] == 0.0:
        if any(v != 0.0 for v in values):
            raise InvalidArgument(
                f"param_groups[0] has lr=0 while other groups do not ({values}): the groups' "
                f"LR ratios to group 0 are undefined (lrlab keeps each group's LR as a "
                f"multiple of group 0's).",
                hint="Give group 0 a non-zero lr (the schedule overwrites it), e.g. the "
                "group whose LR the schedule describes.",
            )
        return [1.0] * len(values)
    return [v / values[0] for v in values]


def current_ratios(optimizer: Any) -> list[float]:
    """:func:`lr_ratios` of the groups' LRs now (the range test's convention) — or, when group
    0's LR is 0 now and every group has torch's ``initial_lr`` (a scheduler attached at a
    warm-up from 0, as Lightning and transformers hand optimizers over), of those. Reads
    only: the groups are left as they are."""
    groups = param_groups(optimizer)
    lrs = [float(g["lr"]) for g in groups]
    if lrs[0] == 0.0 and all("initial_lr" in g for g in groups):
        initial = [float(g["initial_lr"]) for g in groups]
        if initial[0] > 0.0:
            return lr_ratios(initial)
    return lr_ratios(lrs)


def initial_ratios(optimizer: Any) -> list[float]:
    """:func:`lr_ratios` of the groups' ``initial_lr`` — torch's own key, set once from the
    group's ``lr`` where absent (as ``LRScheduler`` does) and kept otherwise, so a resumed
    optimizer keeps its ratios even when the last LR written was 0."""
    groups = param_groups(optimizer)
    for group in groups:
        lr = group["lr"]
        group.setdefault("initial_lr", lr.clone() if isinstance(lr, torch.Tensor) else lr)
    return lr_ratios([float(g["initial_lr"]) for g in groups])


def set_lr(optimizer: Any, lr: float, ratios: Sequence[float]) -> list[float]:
    """Write ``lr · ratios[g]`` into every group; return the LRs written."""
    values = [lr * ratio for ratio in ratios]  # exact for ratio 1.0
    for group, value in zip(optimizer.param_groups, values, strict=True):
        write(group, "lr", value)
    return values


# ---------------------------------------------------------------------------- parameters


def check_holds_model(optimizer: Any, model: nn.Module, *, where: str) -> None:
    """The optimizer must train the model's trainable parameters (at least one of them, and
    nothing that is not the model's): an optimizer built on another model's parameters would
    leave this one unchanged while everything reports success."""
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if not trainable:
        raise InvalidArgument(
            f"{where}: the model has no parameter with requires_grad=True: nothing to train.",
            hint="Check the model (frozen layers?) or pass one with trainable parameters.",
        )
    held = {id(p) for g in param_groups(optimizer) for p in g["params"]}
    if not held & trainable:
        raise OptimizerMismatch(
            f"{where}: the optimizer holds none of the model's trainable parameters, so "
            f"training would leave the model unchanged.",
            hint="Build the optimizer on this model: torch.optim.SGD(model.parameters(), ...).",
        )


# Hyper-parameters a group may hold, and the check of each (by name). torch checks some
# (SGD: momentum >= 0; Adam: betas in [0, 1)) but accepts momentum 1.5 or NaN, which train
# to a loss of 1e9 and report "completed".
_HYPER_CHECKS: dict[str, Any] = {
    "momentum": values.momentum,
    "dampening": values.unit_interval,
    "eps": values.non_negative,
    "weight_decay": values.non_negative,
}


def check_hyper(optimizer: Any, *, where: str) -> None:
    """Every group's ``momentum`` and ``betas`` in [0, 1), ``dampening`` in [0, 1], ``eps``
    and ``weight_decay`` finite and >= 0 (NaN never passes): an :class:`InvalidArgument`
    naming the group, the hyper-parameter and the value."""
    for g, group in enumerate(param_groups(optimizer)):
        for key, checker in _HYPER_CHECKS.items():
            if group.get(key) is not None:
                checker(f"{where}: param group {g} {key}", float(group[key]))
        betas = group.get(BETAS)
        if isinstance(betas, (tuple, list)):
            for i, beta in enumerate(betas[:2]):
                values.momentum(f"{where}: param group {g} betas[{i}]", float(beta))


def check_optimizer(optimizer: Any, model: nn.Module, *, where: str) -> None:
    """What every loop checks before its first step: ``optimizer`` is a torch optimizer
    holding ``model``'s trainable parameters (:func:`check_holds_model`) with hyper-parameters
    in their domains (:func:`check_hyper`)."""
    check_holds_model(optimizer, model, where=where)
    check_hyper(optimizer, where=where)
