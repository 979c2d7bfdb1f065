"""The optimizers lrlab knows by name, and an optimizer described by name + keyword arguments.

:data:`OPTIMIZERS` is the one registry: configs (``optimizer: {name: adam}``), the CLI
(``--optimizer adam``), tasks and the scan all look names up here. Each entry says where
the class lives (imported on first use, so optional extras cost nothing until asked for)
and which pip extra provides it. The learning-rate-free optimizers come from the ``lrfree``
extra (``pip install 'lrlab[lrfree]'``); what ``fit`` does for them is
:mod:`lrlab.train.lrfree`'s, what it reads from them :mod:`lrlab.optim.lrfree`'s.

:class:`OptimizerSpec` is a plain, picklable description (``"sgd"`` + ``{"lr": 0.1,
"momentum": 0.9}``) that builds a torch optimizer on demand, and knows how one setting is
spelled for each optimizer: ``momentum`` is SGD / RMSprop ``momentum`` but the Adam family's
``betas[0]`` (:mod:`lrlab.optim.groups` has the same rule for built optimizers).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from lrlab._io import stable_hash
from lrlab.errors import InvalidArgument, MissingExtra


@dataclass(frozen=True)
class OptimizerInfo:
    """Where optimizer ``name`` comes from: ``module.attr``, and the extra that provides it
    (``None``: torch itself). ``momentum`` is the slot one-cycle's cyclical momentum drives
    (``"betas"`` for β₁, ``"momentum"``, or ``None``: the optimizer has no momentum)."""

    module: str
    attr: str
    momentum: str | None
    extra: str | None = None

    def load(self, name: str) -> type[torch.optim.Optimizer]:
        try:
            module = importlib.import_module(self.module)
        except ImportError as exc:
            raise MissingExtra(
                f"optimizer {name!r} needs the {self.module!r} package, which is not installed.",
                hint=f"pip install 'lrlab[{self.extra}]'." if self.extra else None,
            ) from exc
        return getattr(module, self.attr)


def _torch(attr: str, momentum: str | None) -> OptimizerInfo:
    return OptimizerInfo("torch.optim", attr, momentum)


def _lrfree(module: str, attr: str, momentum: str) -> OptimizerInfo:
    return OptimizerInfo(module, attr, momentum, extra="lrfree")


OPTIMIZERS: dict[str, OptimizerInfo] = {
    "sgd": _torch("SGD", "momentum"),
    "adam": _torch("Adam", "betas"),
    "adamw": _torch("AdamW", "betas"),
    "rmsprop": _torch("RMSprop", "momentum"),
    "adagrad": _torch("Adagrad", None),
    "nadam": _torch("NAdam", "betas"),
    "radam": _torch("RAdam", "betas"),
    # Learning-rate-free (the lrfree extra). Schedule-Free's "momentum" is its interpolation
    # β (y = (1 − β) z + β x); Prodigy and D-Adaptation take lr as a multiplier of their
    # estimate d (1 by default: docs/lrfree.md).
    "schedulefree-adamw": _lrfree("schedulefree", "AdamWScheduleFree", "betas"),
    "schedulefree-sgd": _lrfree("schedulefree", "SGDScheduleFree", "momentum"),
    "prodigy": _lrfree("prodigyopt", "Prodigy", "betas"),
    "dadapt-adam": _lrfree("dadaptation", "DAdaptAdam", "betas"),
    "dadapt-sgd": _lrfree("dadaptation", "DAdaptSGD", "momentum"),
}
"""Optimizer name -> :class:`OptimizerInfo`. Names are lower case."""


def optimizer_info(name: str) -> OptimizerInfo:
    """The registry entry of ``name`` (case-insensitive), or a one-line error listing them."""
    info = OPTIMIZERS.get(str(name).lower())
    if info is None:
        raise InvalidArgument(
            f"optimizer={name!r} is not a known optimizer.",
            hint=f"Known optimizers: {sorted(OPTIMIZERS)}.",
        )
    return info


def optimizer_class(name: str) -> type[torch.optim.Optimizer]:
    """The class of optimizer ``name`` (its package imported now)."""
    return optimizer_info(name).load(str(name).lower())


def build_optimizer(name: str, params: Iterable[Any], **kwargs: Any) -> torch.optim.Optimizer:
    """``optimizer_class(name)(params, **kwargs)``, ready to step (a Schedule-Free one in
    train mode: :func:`lrlab.optim.lrfree.ready_to_step`); a bad keyword is the optimizer's
    own message in one line."""
    from lrlab.optim.lrfree import ready_to_step

    cls = optimizer_class(name)
    try:
        optimizer = cls(params, **kwargs)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"optimizer {name!r} with {kwargs}: {exc}") from exc
    ready_to_step(optimizer)
    return optimizer


_DEFAULT_BETAS = (0.9, 0.999)


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer by name with its keyword arguments, e.g.
    ``OptimizerSpec("sgd", {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4})``."""

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": dict(self.kwargs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> OptimizerSpec:
        return cls(str(d["name"]), dict(d.get("kwargs", {})))

    def key(self) -> str:
        """A short hash of name and kwargs: equal optimizers share cached work."""
        return stable_hash({"name": self.name, "kwargs": dict(self.kwargs)})

    def build(
        self, params: Iterable[Any], lr: float | None = None, **overrides: Any
    ) -> torch.optim.Optimizer:
        """The optimizer on ``params``; ``lr`` and ``overrides`` replace the kwargs."""
        kwargs = {**self.kwargs, **overrides}
        if lr is not None:
            kwargs["lr"] = float(lr)
        return build_optimizer(self.name, params, **kwargs)

    def momentum_kwargs(self, momentum: float) -> dict[str, Any]:
        """The keyword(s) that set ``momentum`` on this optimizer: ``{"momentum": m}``, or
        ``{"betas": (m, β₂)}`` for the Adam family (β₂ kept from the kwargs or the default).

        Raises:
            InvalidArgument: the optimizer has no momentum (e.g. Adagrad).
        """
        slot = optimizer_info(self.name).momentum
        if slot is None:
            raise InvalidArgument(
                f"optimizer {self.name!r} has no momentum to set.",
                hint="Drop the momentum setting, or use sgd / adam / rmsprop.",
            )
        if slot == "betas":
            beta2 = tuple(self.kwargs.get("betas", _DEFAULT_BETAS))[1]
            return {"betas": (momentum, beta2)}
        return {"momentum": momentum}

    def replace(self, name: str | None = None, **kwargs: Any) -> OptimizerSpec:
        """A copy with other ``kwargs`` (``None`` values are ignored). A different ``name``
        keeps only the learning rate: SGD's momentum does not carry over to Adam."""
        base = dict(self.kwargs)
        new_name = self.name if name is None else str(name).lower()
        if new_name != self.name.lower():
            base = {"lr": self.kwargs["lr"]} if "lr" in self.kwargs else {}
        changes = {k: v for k, v in kwargs.items() if v is not None}
        out = OptimizerSpec(new_name, base)
        if "momentum" in changes:
            momentum = changes.pop("momentum")
            if "betas" not in changes:
                changes.update(out.momentum_kwargs(momentum))
        base.update(changes)
        return OptimizerSpec(new_name, {k: base[k] for k in sorted(base)})
