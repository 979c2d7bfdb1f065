"""Optimizers for the scan: which one every copy gets, in torch form and in stacked form.

A scan trains K copies of one model, copy ``k`` with learning rate ``lrs[k]``. The optimizer
is described once (:class:`CopyOptimizer`): its torch class, the hyper-parameters of each
param group, which parameters each group trains, the ratio of each group's LR to the first
group's (kept, as :mod:`lrlab.optim.driver` does: group ``g`` of copy ``k`` gets
``lrs[k] * ratio[g]``), and, optionally, a state carried over from the user's optimizer.

The sequential path builds a real ``torch.optim`` optimizer per copy from the plan
(:func:`build_torch_optimizer`). The batched path runs :class:`StackedSGD` / :class:`StackedAdam`:
the same update rules written on one ``[K, P]`` tensor holding all parameters of all copies
(``P`` = number of trainable scalars), with a per-copy learning rate, so an update costs a
handful of tensor ops whatever the number of parameter tensors. They follow torch's
single-tensor implementations line by line (``torch/optim/sgd.py``, ``adam.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from lrlab.errors import InvalidArgument, OptimizerMismatch
from lrlab.optim.registry import OPTIMIZERS, optimizer_class

OptimizerFactory = Callable[..., torch.optim.Optimizer]

# Group keys that differ between groups without changing the batched update's structure.
_PER_GROUP_OK = frozenset({"lr", "weight_decay", "params", "initial_lr"})
# Keys that only choose an implementation (same maths).
_IMPLEMENTATION_KEYS = frozenset({"foreach", "fused", "capturable", "differentiable"})


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
        plan = _plan_from_instance(spec, named, label=type(spec).__name__.lower())
        if carry_state:
            plan.state = _carried_state(spec, named)
        return plan
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
        return _plan_from_instance(probe, named, label=spec.lower())
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
        plan = _plan_from_instance(probe, named, label=getattr(spec, "__name__", "factory"))
        plan.factory = spec
        return plan
    raise InvalidArgument(
        f"optimizer={spec!r} is neither a name, a factory nor a torch optimizer.",
        hint=f"Use one of {sorted(OPTIMIZERS)}, a factory f(params, lr) or an instance.",
    )


def _plan_from_instance(
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
    lr0 = float(groups[0]["lr"])
    if lr0 <= 0:
        raise InvalidArgument(
            f"The optimizer's first param group has lr={lr0}; LR ratios need a positive LR.",
        )
    ratios = [float(g["lr"]) / lr0 for g in groups]
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
    plan: CopyOptimizer, params: Mapping[str, torch.Tensor], lr: float
) -> torch.optim.Optimizer:
    """A real torch optimizer over ``params`` (name → tensor) for a copy with LR ``lr``.

    Group ``g`` gets ``lr * ratios[g]`` and the plan's other hyper-parameters; a carried
    state is loaded (moments, momentum buffers and step counts, copied).
    """
    if plan.factory is not None:
        opt = plan.factory([params[n] for n in plan.trainable], lr=lr)
        if len(opt.param_groups) != len(plan.groups):
            raise InvalidArgument("The optimizer factory built a different number of groups.")
    else:
        groups = [
            {**hyper, "params": [params[n] for n in names]}
            for hyper, names in zip(plan.groups, plan.names, strict=True)
        ]
        opt = plan.cls(groups)
    for group, ratio in zip(opt.param_groups, plan.ratios, strict=True):
        group["lr"] = lr * ratio
    if plan.state:
        for names in plan.names:
            for n in names:
                if n in plan.state:
                    opt.state[params[n]] = {
                        k: _state_value(k, v, params[n]) for k, v in plan.state[n].items()
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


# --------------------------------------------------------------------------------------------
# Stacked (batched) update rules
# --------------------------------------------------------------------------------------------


class StackedRule:
    """An update rule on ``p`` of shape ``[K, P]`` (K copies, P trainable scalars).

    ``lr`` is ``[K, 1]`` (or ``[K, P]`` with several param groups); per-group numeric
    hyper-parameters are ``[1, P]`` rows or Python floats. ``alive`` (``[K, 1]`` bool, or
    ``None`` when every copy is alive) freezes copies that blew up: their gradients are
    replaced by 0 before they touch any state and their update is zeroed (``masked_fill``,
    which also clears a NaN), so a NaN or Inf in one copy never reaches another copy (nor,
    once dead, its own parameters). ``grad`` is consumed (modified in place).
    """

    lr: torch.Tensor
    _scratch: torch.Tensor | None = None

    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        raise NotImplementedError

    def scratch(self, like: torch.Tensor) -> torch.Tensor:
        """A ``[K, P]`` work buffer kept between steps: a fresh multi-megabyte temporary
        every step would be page-faulted in again each time (on the CPU, several times the
        cost of the arithmetic done in it)."""
        if self._scratch is None or self._scratch.shape != like.shape:
            self._scratch = torch.empty_like(like)
        return self._scratch

    def select(self, index: torch.Tensor) -> None:
        """Keep only the copies at ``index`` (compaction after copies were removed)."""
        raise NotImplementedError


class StackedSGD(StackedRule):
    """``torch.optim.SGD`` on stacked copies (momentum, dampening, Nesterov, weight decay).

    With ``g = ∇ + wd·p``: ``b ← g`` on the first step, then ``b ← μ·b + (1 − τ)·g``;
    the step uses ``g + μ·b`` (Nesterov) or ``b``; ``p ← p − lr·step``. Without momentum,
    ``p ← p − lr·g``. (Sutskever et al., 2013; the torch documentation of ``SGD``.)
    """

    def __init__(
        self,
        lr: torch.Tensor,
        *,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float | torch.Tensor = 0.0,
        nesterov: bool = False,
        maximize: bool = False,
        buf: torch.Tensor | None = None,
    ) -> None:
        self.lr = lr
        self.momentum = momentum
        self.dampening = dampening
        self.weight_decay = weight_decay
        self.nesterov = nesterov
        self.maximize = maximize
        self.buf = buf
        self._decay = _nonzero(weight_decay)  # decided once: no host sync per step

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        g = grad.neg_() if self.maximize else grad
        if self._decay:
            _add_scaled(g, p, self.weight_decay)
        dead = None if alive is None else ~alive
        if dead is not None:
            g.masked_fill_(dead, 0.0)
        if self.momentum != 0:
            if self.buf is None:
                self.buf = g.clone()
            else:
                self.buf.mul_(self.momentum).add_(g, alpha=1 - self.dampening)
            g = g.add_(self.buf, alpha=self.momentum) if self.nesterov else self.buf
        update = torch.mul(self.lr, g, out=self.scratch(p))
        if dead is not None:
            update.masked_fill_(dead, 0.0)
        p.sub_(update)

    def select(self, index: torch.Tensor) -> None:
        self.lr = self.lr[index]
        if self.buf is not None:
            self.buf = self.buf[index]


class StackedAdam(StackedRule):
    """``torch.optim.Adam`` / ``AdamW`` on stacked copies (Kingma & Ba, 2015; Loshchilov &
    Hutter, 2019 for the decoupled weight decay).

    ``t ← t + 1``; AdamW: ``p ← p·(1 − lr·wd)``, Adam: ``g ← g + wd·p``;
    ``m ← m + (1 − β₁)(g − m)``; ``v ← β₂·v + (1 − β₂)·g²`` (AMSGrad: ``v̂ ← max(v̂, v)``);
    ``p ← p − lr/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)``.
    """

    def __init__(
        self,
        lr: torch.Tensor,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float | torch.Tensor = 0.0,
        decoupled: bool = False,
        amsgrad: bool = False,
        maximize: bool = False,
        step: int = 0,
        exp_avg: torch.Tensor | None = None,
        exp_avg_sq: torch.Tensor | None = None,
        max_exp_avg_sq: torch.Tensor | None = None,
    ) -> None:
        self.lr = lr
        self.beta1, self.beta2 = float(betas[0]), float(betas[1])
        self.eps = eps
        self.weight_decay = weight_decay
        self.decoupled = decoupled
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.t = step
        self._decay = _nonzero(weight_decay)
        self.exp_avg = exp_avg
        self.exp_avg_sq = exp_avg_sq
        self.max_exp_avg_sq = max_exp_avg_sq

    @torch.no_grad()
    def step(self, p: torch.Tensor, grad: torch.Tensor, alive: torch.Tensor | None) -> None:
        if self.exp_avg is None:
            self.exp_avg = torch.zeros_like(p)
        if self.exp_avg_sq is None:
            self.exp_avg_sq = torch.zeros_like(p)
        if self.amsgrad and self.max_exp_avg_sq is None:
            self.max_exp_avg_sq = torch.zeros_like(p)
        self.t += 1
        g = grad.neg_() if self.maximize else grad
        if self._decay and not self.decoupled:
            _add_scaled(g, p, self.weight_decay)
        dead = None if alive is None else ~alive
        if dead is not None:
            g.masked_fill_(dead, 0.0)
        self.exp_avg.lerp_(g, 1 - self.beta1)
        self.exp_avg_sq.mul_(self.beta2).addcmul_(g, g, value=1 - self.beta2)
        second = self.exp_avg_sq
        if self.amsgrad:
            torch.maximum(self.max_exp_avg_sq, self.exp_avg_sq, out=self.max_exp_avg_sq)
            second = self.max_exp_avg_sq
        bias1 = 1 - self.beta1**self.t
        bias2_sqrt = (1 - self.beta2**self.t) ** 0.5
        # torch's order of operations: (m / (√v / √(1 − β₂ᵗ) + ε)) · lr/(1 − β₁ᵗ); the
        # buffers are reused in place (these tensors are K copies × all parameters).
        update = torch.sqrt(second, out=self.scratch(p)).div_(bias2_sqrt).add_(self.eps)
        torch.div(self.exp_avg, update, out=update)
        update.mul_(self.lr / bias1)
        if self._decay and self.decoupled:
            _add_scaled(update, p, self.lr * self.weight_decay)  # p·(1 − lr·wd) = p − lr·wd·p
        if dead is not None:
            update.masked_fill_(dead, 0.0)
        p.sub_(update)

    def select(self, index: torch.Tensor) -> None:
        self.lr = self.lr[index]
        for name in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value[index])


def _add_scaled(target: torch.Tensor, p: torch.Tensor, scale: float | torch.Tensor) -> None:
    """``target += scale · p`` in place (``scale`` a float or a broadcastable tensor),
    without a ``[K, P]`` temporary."""
    if isinstance(scale, torch.Tensor):
        target.addcmul_(p, scale)
    else:
        target.add_(p, alpha=scale)


def _nonzero(value: float | torch.Tensor) -> bool:
    if isinstance(value, torch.Tensor):
        return bool(value.ne(0).any())
    return value != 0


def stacked_rule(
    plan: CopyOptimizer,
    lrs: torch.Tensor,
    sizes: Mapping[str, int],
    order: list[str],
) -> StackedRule:
    """The stacked rule equivalent to ``plan`` for copies with learning rates ``lrs`` (``[K]``).

    ``order`` is the flat layout (parameter names, in order) and ``sizes`` their numels.
    Raises :class:`NotBatchable` with the reason when the plan needs the sequential path.
    """
    cls = plan.cls
    if cls not in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
        raise NotBatchable(
            f"{cls.__name__} has no stacked implementation (only SGD, Adam and AdamW)."
        )
    first = plan.groups[0]
    for g in plan.groups[1:]:
        differing = {k for k in set(g) | set(first) if g.get(k) != first.get(k)} - _PER_GROUP_OK
        if differing:
            raise NotBatchable(
                f"param groups differ in {sorted(differing)}; the batched path allows only "
                "different lr and weight_decay per group."
            )
    group_of = {n: gi for gi, names in enumerate(plan.names) for n in names}
    dtype, device = lrs.dtype, lrs.device

    def row(values_per_group: list[float]) -> float | torch.Tensor:
        """A Python float when every group agrees, else a ``[1, P]`` row."""
        if len(set(values_per_group)) == 1:
            return float(values_per_group[0])
        parts = [
            torch.full((sizes[n],), float(values_per_group[group_of[n]]), dtype=dtype)
            for n in order
        ]
        return torch.cat(parts).to(device).unsqueeze(0)

    lr = lrs.unsqueeze(1) * row(plan.ratios)
    weight_decay = row([float(g.get("weight_decay", 0.0)) for g in plan.groups])
    state = plan.state or {}
    carried = [n for n in order if state.get(n)]
    if carried and len(carried) != len(order):
        raise NotBatchable("the carried optimizer state covers only some of the parameters.")
    K = lrs.shape[0]

    def stack(key: str) -> torch.Tensor | None:
        if not carried:
            return None
        values = [state[n].get(key) for n in order]
        if any(v is None for v in values):
            if all(v is None for v in values):
                return None
            raise NotBatchable(f"the carried state has {key!r} for only some parameters.")
        flat = torch.cat([v.detach().reshape(-1).to(device, dtype) for v in values])
        return flat.unsqueeze(0).expand(K, -1).clone()

    if cls is torch.optim.SGD:
        return StackedSGD(
            lr,
            momentum=float(first.get("momentum", 0.0)),
            dampening=float(first.get("dampening", 0.0)),
            weight_decay=weight_decay,
            nesterov=bool(first.get("nesterov", False)),
            maximize=bool(first.get("maximize", False)),
            buf=stack("momentum_buffer"),
        )
    steps = {float(state[n]["step"]) for n in carried if "step" in state[n]}
    if len(steps) > 1:
        raise NotBatchable("the carried Adam state has different step counts per parameter.")
    decoupled = cls is torch.optim.AdamW or bool(first.get("decoupled_weight_decay", False))
    return StackedAdam(
        lr,
        betas=first.get("betas", (0.9, 0.999)),
        eps=float(first.get("eps", 1e-8)),
        weight_decay=weight_decay,
        decoupled=decoupled,
        amsgrad=bool(first.get("amsgrad", False)),
        maximize=bool(first.get("maximize", False)),
        step=int(steps.pop()) if steps else 0,
        exp_avg=stack("exp_avg"),
        exp_avg_sq=stack("exp_avg_sq"),
        max_exp_avg_sq=stack("max_exp_avg_sq"),
    )


class NotBatchable(Exception):
    """Internal: the batched path cannot run this scan (the message says why).

    ``method="auto"`` then falls back to the sequential path; ``method="batched"`` turns it
    into an :class:`~lrlab.errors.InvalidArgument`.
    """
