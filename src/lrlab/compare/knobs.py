"""What a candidate value changes: an optimizer hyper-parameter, a factory argument, or the
batch size — and the checks that make a bad ``vary=`` fail before anything runs.

* ``momentum`` is SGD / RMSprop ``momentum`` or, for the Adam family, ``betas[0]`` (the
  optimizer's param groups tell which, as :mod:`lrlab.optim.driver` and torch's ``OneCycleLR`` do);
* ``weight_decay`` and any other key of the optimizer's param groups are written into every
  group;
* with an optimizer *factory*, a name the factory accepts as a keyword argument (or through
  ``**kwargs``) is passed to it: ``factory(params, **{name: value})``; other names are
  written into the groups of what it built;
* ``batch_size`` rebuilds the training data: a :class:`~lrlab.data.loader.TensorLoader` is
  re-made with the same tensors, seed, shuffling and augmentation (its order is a function of
  ``(seed, epoch)`` only, so every batch size reads the same permutation), anything else
  through the user's ``data_factory(batch_size)``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from lrlab.data.loader import TensorLoader
from lrlab.errors import DataError, InvalidArgument
from lrlab.optim import groups

MOMENTUM = groups.MOMENTUM
BATCH_SIZE = "batch_size"
OptimizerFactory = Callable[..., torch.optim.Optimizer]
DataFactory = Callable[[int], Iterable[Any]]


def _unit_interval(name: str, v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0.0 <= v < 1.0
    return None if ok else f"{name} values must be numbers in [0, 1)"


def _non_negative(name: str, v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0.0
    return None if ok else f"{name} values must be finite numbers >= 0"


def _positive_int(name: str, v: Any) -> str | None:
    ok = isinstance(v, int) and not isinstance(v, bool) and v >= 1
    return None if ok else f"{name} values must be integers >= 1"


# Names with a known domain: value -> error text or None.
VALIDATORS: dict[str, Callable[[str, Any], str | None]] = {
    MOMENTUM: _unit_interval,
    "weight_decay": _non_negative,
    BATCH_SIZE: _positive_int,
    "dampening": _unit_interval,
    "lr_decay": _non_negative,
    "eps": _non_negative,
}


def parse_vary(vary: Any) -> tuple[str, list[Any]]:
    """``{"momentum": [0.99, 0.9]}`` → ``("momentum", [0.99, 0.9])``, validated.

    Exactly one hyper-parameter, at least two distinct values, each in its domain for the
    names :data:`VALIDATORS` knows.
    """
    if not isinstance(vary, Mapping) or len(vary) != 1:
        got = f"{len(vary)} names" if isinstance(vary, Mapping) else type(vary).__name__
        raise InvalidArgument(
            f"vary must be a dict with exactly one hyper-parameter and its values, got {got}.",
            hint="For example vary={'momentum': [0.99, 0.97, 0.95, 0.9]}; tune one "
            "hyper-parameter at a time (Smith's disciplined approach does them in turn).",
        )
    name, values = next(iter(vary.items()))
    if not isinstance(name, str) or not name:
        raise InvalidArgument(f"vary's key must be a hyper-parameter name, got {name!r}.")
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise InvalidArgument(
            f"vary[{name!r}] must be a list of values, got {values!r}.",
            hint=f"For example vary={{{name!r}: [..., ...]}}.",
        )
    values = list(values)
    if len(values) < 2:
        raise InvalidArgument(
            f"vary[{name!r}] has {len(values)} value(s); a comparison needs at least 2.",
            hint="Give the candidates to compare, e.g. momentum [0.99, 0.97, 0.95, 0.9].",
        )
    seen: list[Any] = []
    for v in values:
        if v in seen:
            raise InvalidArgument(f"vary[{name!r}] lists {v!r} twice.", hint="Drop the repeat.")
        seen.append(v)
    validator = VALIDATORS.get(name)
    if validator is not None:
        for v in values:
            problem = validator(name, v)
            if problem is not None:
                raise InvalidArgument(f"vary[{name!r}] contains {v!r}: {problem}.")
    return name, values


def label(name: str, value: Any) -> str:
    """``momentum=0.9``; floats in the shortest form that reads back the same."""
    text = repr(value) if isinstance(value, float) else str(value)
    return f"{name}={text}"


# ----------------------------------------------------------------------------- optimizers


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def is_factory(optimizer: Any) -> bool:
    """A callable that builds optimizers (and not an optimizer instance)."""
    return callable(optimizer) and not isinstance(optimizer, torch.optim.Optimizer)


def build_optimizer(
    optimizer: torch.optim.Optimizer | OptimizerFactory, model: nn.Module, name: str, value: Any
) -> torch.optim.Optimizer:
    """The optimizer of one candidate, with a fresh (empty) state.

    An instance is reused: its state is cleared and ``value`` written into its groups (the
    caller has snapshotted it). A factory is called on ``model.parameters()``.
    """
    if isinstance(optimizer, torch.optim.Optimizer):
        optimizer.state.clear()  # fresh moments: a buffer built under another value is not neutral
        if name != BATCH_SIZE:
            groups.write_all(optimizer, name, value)
        return optimizer
    if not is_factory(optimizer):
        raise InvalidArgument(
            f"optimizer must be a torch optimizer or a factory, got {type(optimizer).__name__}.",
            hint="Pass e.g. torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), or "
            "lambda params, momentum: torch.optim.SGD(params, lr=0.1, momentum=momentum).",
        )
    as_kwarg = name != BATCH_SIZE and _accepts(optimizer, name)
    try:
        built = (
            optimizer(model.parameters(), **{name: value})
            if as_kwarg
            else optimizer(model.parameters())
        )
    except (TypeError, ValueError) as exc:
        call = f"factory(params, {name}={value!r})" if as_kwarg else "factory(params)"
        raise InvalidArgument(
            f"The optimizer factory failed when called as {call}: {exc}",
            hint="The factory is called with the model's parameters"
            + (f" and {name}= as a keyword." if as_kwarg else "."),
        ) from exc
    if not isinstance(built, torch.optim.Optimizer):
        raise InvalidArgument(
            f"The optimizer factory returned a {type(built).__name__}, not a torch optimizer."
        )
    if name != BATCH_SIZE and not as_kwarg:
        groups.write_all(built, name, value)
    return built


# ----------------------------------------------------------------------------- data


def rebatch(data: Any, batch_size: int, data_factory: DataFactory | None) -> Iterable[Any]:
    """The training data with ``batch_size`` samples per batch (same sample order)."""
    if data_factory is not None:
        try:
            out = data_factory(batch_size)
        except Exception as exc:
            raise DataError(
                f"data_factory({batch_size}) raised {type(exc).__name__}: {exc}",
                hint="data_factory(batch_size) must return the training batches at that size.",
            ) from exc
        _check_batch_size(out, batch_size)
        return out
    if isinstance(data, TensorLoader):
        return TensorLoader(
            data.x,
            data.y,
            batch_size,
            shuffle=data.shuffle,
            seed=data.seed,
            drop_last=data.drop_last,
            augment=data.augment,
            transform=data.transform,
        )
    raise InvalidArgument(
        f"Varying batch_size needs training data that can be re-batched; "
        f"{type(data).__name__} cannot.",
        hint="Pass data_factory=lambda batch_size: DataLoader(dataset, batch_size=batch_size, "
        "shuffle=True) (or use an lrlab TensorLoader).",
    )


def _check_batch_size(data: Any, batch_size: int) -> None:
    actual = getattr(data, "batch_size", None)
    if isinstance(actual, int) and actual != batch_size:
        raise DataError(
            f"data_factory({batch_size}) returned data with batch_size={actual}.",
            hint="Build the loader with the batch size it is given.",
        )
