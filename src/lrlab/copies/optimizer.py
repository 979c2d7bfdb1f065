"""Which optimizer every copy gets (:class:`CopyOptimizer`), and a real torch one per copy.

A scan (or ``find_lr``'s short trainings) trains K copies of one model, copy ``k`` with
learning rate ``lrs[k]``. The optimizer is described once (:class:`CopyOptimizer`): its
torch class, the hyper-parameters of each param group, which parameters each group trains,
the ratio of each group's LR to the first group's (kept, as :mod:`lrlab.optim.driver` does:
group ``g`` of copy ``k`` gets ``lrs[k] * ratio[g]``), and, optionally, a state carried over
from the user's optimizer.

The sequential path builds a real ``torch.optim`` optimizer per copy from the recipe
(:func:`build_torch_optimizer`). The batched path runs the same update rules on one
``[K, P]`` tensor of all copies (:mod:`lrlab.copies.rules`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lrlab.errors import InvalidArgument, OptimizerMismatch
from lrlab.optim.lrfree import ready_to_step
from lrlab.optim.registry import OPTIMIZERS, optimizer_class

OptimizerFactory = Callable[..., torch.optim.Optimizer]


@dataclass
class CopyOptimizer:
    """How each copy's optimizer is made (see the module docstring).

    ``groups[g]`` holds group ``g``'s hyper-parameters (without ``params``), ``names[g]`` the
    names (as in ``model.named_parameters()``) of the parameters it trains, ``ratios[g]`` its
    LR relative to group 0. ``state`` maps a parameter name to its carried optimizer state
    (``None``: every copy starts with a fresh optimizer). ``factory`` is the user's factory,
    when the optimizer came from one (called per copy by the sequential path).
    """

    cls: type[torch.optim.Optimizer]
    groups: list[dict[str, Any]]
    names: list[list[str]]
    ratios: list[float]
    state: dict[str, dict[str, Any]] | None = None
    factory: OptimizerFactory | None = None
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trainable(self) -> list[str]:
        """Names of every trained parameter, group by group."""
        return [n for names in self.names for n in names]

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary for ``ScanResult.config``."""
        return {
            "name": self.label,
            "class": f"{self.cls.__module__}.{self.cls.__qualname__}",
            "groups": [
                {k: v for k, v in g.items() if k not in ("params", "initial_lr")}
                | {"lr_ratio": r, "num_params": len(n)}
                for g, r, n in zip(self.groups, self.ratios, self.names, strict=True)
            ],
            "carried_state": self.state is not None,
        }


def resolve_optimizer(
    spec: str | OptimizerFactory | torch.optim.Optimizer,
    model: nn.Module,
    *,
    kwargs: Mapping[str, Any] | None = None,
    carry_state: bool = False,
) -> CopyOptimizer:
    """Turn ``optimizer=`` of :func:`lrlab.scan` into an :class:`CopyOptimizer`.

    - a name (``"sgd"``, ``"adam"``, ``"adamw"``) with ``kwargs`` (``momentum=0.9``, ...);
    - a factory ``f(params, lr=...) -> torch.optim.Optimizer``;
    - the user's optimizer instance: its class and per-group hyper-parameters are reused
      (its LRs only as ratios), and with ``carry_state=True`` its state (momentum buffers,
      Adam moments and step) is copied into every copy.
    """
    kwargs = dict(kwargs or {})
    if "lr" in kwargs:
        raise InvalidArgument(
            "optimizer_kwargs must not contain 'lr': the scan sets one LR per copy.",
            hint="Pass the learning rates with lrs=.",
        )
    named = dict(model.named_parameters())
    if isinstance(spec, torch.optim.Optimizer):
        if kwargs:
            raise InvalidArgument(
                "optimizer_kwargs cannot be combined with an optimizer instance.",
                hint="Set the hyper-parameters on the optimizer itself.",
            )
        recipe = _recipe_from_instance(spec, named, label=type(spec).__name__.lower())
        if carry_state:
            recipe.state = _carried_state(spec, named)
        return recipe
    if carry_state:
        raise InvalidArgument(
            "carry_optimizer_state=True needs the optimizer instance whose state to carry.",
            hint="Pass optimizer=<your torch.optim optimizer> (its class and state are used).",
        )
    trainable = [p for p in named.values() if p.requires_grad]
    if not trainable:
        raise InvalidArgument(
            "The model has no parameter with requires_grad=True: nothing to scan.",
        )
    if isinstance(spec, str):
        cls = optimizer_class(spec)
        try:
            probe = cls(trainable, lr=1.0, **kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(
                f"optimizer={spec!r} rejected optimizer_kwargs={kwargs}: {exc}",
                hint=f"See the arguments of {cls.__module__}.{cls.__name__}.",
            ) from exc
        return _recipe_from_instance(probe, named, label=spec.lower())
    if callable(spec):
        if kwargs:
            raise InvalidArgument(
                "optimizer_kwargs cannot be combined with an optimizer factory.",
                hint="Bind them inside the factory.",
            )
        try:
            probe = spec(trainable, lr=1.0)
        except TypeError as exc:
            raise InvalidArgument(
                f"The optimizer factory could not be called as factory(params, lr=1.0): {exc}",
                hint="Use e.g. lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9).",
            ) from exc
        if not isinstance(probe, torch.optim.Optimizer):
            raise InvalidArgument(
                f"The optimizer factory returned a {type(probe).__name__}, not an optimizer.",
                hint="Return a torch.optim.Optimizer.",
            )
        recipe = _recipe_from_instance(probe, named, label=getattr(spec, "__name__", "factory"))
        recipe.factory = spec
        return recipe
    raise InvalidArgument(
        f"optimizer={spec!r} is neither a name, a factory nor a torch optimizer.",
        hint=f"Use one of {sorted(OPTIMIZERS)}, a factory f(params, lr) or an instance.",
    )


def _recipe_from_instance(
    opt: torch.optim.Optimizer, named: Mapping[str, torch.Tensor], *, label: str
) -> CopyOptimizer:
    name_of = {id(p): n for n, p in named.items()}
    groups, names = [], []
    for g in opt.param_groups:
        group_names = []
        for p in g["params"]:
            if id(p) not in name_of:
                raise OptimizerMismatch(
                    "The optimizer holds a parameter that is not one of the model's.",
                    hint="Pass the optimizer built on this model's parameters.",
                )
            group_names.append(name_of[id(p)])
        groups.append({k: _plain(v) for k, v in g.items() if k != "params"})
        names.append(group_names)
    lrs = [float(g["lr"]) for g in groups]
    if lrs[0] <= 0 and all(float(g.get("initial_lr", 0.0)) > 0 for g in groups):
        lrs = [float(g["initial_lr"]) for g in groups]  # a scheduler's warm-up from 0
    if lrs[0] <= 0:
        raise InvalidArgument(
            f"The optimizer's first param group has lr={lrs[0]}; LR ratios need a positive LR.",
        )
    ratios = [lr / lrs[0] for lr in lrs]
    return CopyOptimizer(cls=type(opt), groups=groups, names=names, ratios=ratios, label=label)


def _plain(value: Any) -> Any:
    """Tensor hyper-parameters (``lr`` may be a tensor) as Python numbers."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _carried_state(
    opt: torch.optim.Optimizer, named: Mapping[str, torch.Tensor]
) -> dict[str, dict[str, Any]]:
    name_of = {id(p): n for n, p in named.items()}
    return {
        name_of[id(p)]: {
            k: (v.detach().clone() if isinstance(v, torch.Tensor) else copy.deepcopy(v))
            for k, v in st.items()
        }
        for p, st in opt.state.items()
        if id(p) in name_of
    }


def build_torch_optimizer(
    recipe: CopyOptimizer, params: Mapping[str, torch.Tensor], lr: float
) -> torch.optim.Optimizer:
    """A real torch optimizer over ``params`` (name → tensor) for a copy with LR ``lr``.

    Group ``g`` gets ``lr * ratios[g]`` and the recipe's other hyper-parameters; a carried
    state is loaded (moments, momentum buffers and step counts, copied).
    """
    if recipe.factory is not None:
        opt = recipe.factory([params[n] for n in recipe.trainable], lr=lr)
        if len(opt.param_groups) != len(recipe.groups):
            raise InvalidArgument("The optimizer factory built a different number of groups.")
    else:
        groups = [
            {**hyper, "params": [params[n] for n in names]}
            for hyper, names in zip(recipe.groups, recipe.names, strict=True)
        ]
        opt = recipe.cls(groups)
    ready_to_step(opt)  # Schedule-Free optimizers refuse to step in eval mode
    for group, ratio in zip(opt.param_groups, recipe.ratios, strict=True):
        group["lr"] = lr * ratio
    if recipe.state:
        for names in recipe.names:
            for n in names:
                if n in recipe.state:
                    opt.state[params[n]] = {
                        k: _state_value(k, v, params[n]) for k, v in recipe.state[n].items()
                    }
    return opt


def _state_value(key: str, value: Any, param: torch.Tensor) -> Any:
    """A copy of a carried state entry for ``param``, placed as ``load_state_dict`` would:
    moments and buffers on the parameter's device and dtype, the step count left alone."""
    if not isinstance(value, torch.Tensor):
        return copy.deepcopy(value)
    if key == "step" or not value.is_floating_point():
        return value.clone()
    return value.detach().to(param.device, param.dtype, copy=True)


class NotBatchable(Exception):
    """Internal: the batched path cannot run this scan (the message says why).

    ``method="auto"`` then falls back to the sequential path; ``method="batched"`` turns it
    into an :class:`~lrlab.errors.InvalidArgument`.
    """
