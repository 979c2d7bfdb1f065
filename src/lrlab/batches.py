"""Batches in any format: unpacking, moving to a device, and one forward pass → loss.

Every loop in lrlab (range test, fit, scan, evaluation) turns a batch into a loss through a
*step function*::

    step_fn(model, batch) -> StepOutput | Tensor

The default step function is built from a criterion and an *unpack* callable:
``inputs, targets = unpack(batch)``; ``outputs = model(inputs)`` (``model(*inputs)`` when
``inputs`` is a tuple or list, ``model(**inputs)`` when it is a dict);
``loss = criterion(outputs, targets)``.

Users with other formats (dict batches, models that return their own loss, several inputs)
pass ``unpack=`` or a whole ``step_fn=``. A step function may return just the loss tensor;
metrics then need a :class:`StepOutput` with ``outputs`` and ``targets``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from lrlab.errors import DataError

Batch = Any
Unpack = Callable[[Batch], tuple[Any, Any]]

# Dict batches with these key pairs are understood without an unpack callable.
_DICT_KEYS = (
    ("inputs", "targets"),
    ("input", "target"),
    ("x", "y"),
    ("image", "label"),
    ("images", "labels"),
)


@dataclass
class StepOutput:
    """What one forward pass produced.

    ``loss`` is the scalar (mean over the batch) to back-propagate; ``outputs`` and
    ``targets`` are kept for metrics (optional); ``batch_size`` weighs this batch when
    losses and metrics are averaged over several batches (inferred when ``None``).
    """

    loss: torch.Tensor
    outputs: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    batch_size: int | None = None


StepFn = Callable[[nn.Module, Batch], "StepOutput | torch.Tensor"]


def default_unpack(batch: Batch) -> tuple[Any, Any]:
    """``(inputs, targets)`` from a 2-sequence or a dict with a known key pair."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    if isinstance(batch, Mapping):
        for k_in, k_out in _DICT_KEYS:
            if k_in in batch and k_out in batch:
                return batch[k_in], batch[k_out]
    kind = type(batch).__name__
    if isinstance(batch, (tuple, list)):
        detail = f"a {kind} of length {len(batch)}"
    elif isinstance(batch, Mapping):
        detail = f"a dict with keys {sorted(map(str, batch))}"
    else:
        detail = f"a {kind}"
    raise DataError(
        f"Cannot unpack a batch: expected (inputs, targets), got {detail}.",
        hint="Pass unpack=lambda batch: (inputs, targets), or a step_fn(model, batch) -> loss.",
    )


def to_device(obj: Any, device: torch.device | str | None, non_blocking: bool = False) -> Any:
    """Move tensors (also inside tuples, lists and dicts) to ``device``; others unchanged."""
    if device is None:
        return obj
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=non_blocking)
    if isinstance(obj, Mapping):
        return {k: to_device(v, device, non_blocking) for k, v in obj.items()}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(to_device(v, device, non_blocking) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(v, device, non_blocking) for v in obj)
    return obj


# How call_model calls a model, in the words of an error hint.
CALL_RULE = "model(x) for a tensor x, model(*x) for a tuple or list, model(**x) for a dict"


def call_model(model: nn.Module, inputs: Any) -> Any:
    """``model(inputs)``; spread a tuple/list as positional and a dict as keyword arguments."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def _leading_size(obj: Any) -> int | None:
    if isinstance(obj, torch.Tensor):
        return int(obj.shape[0]) if obj.dim() > 0 else 1
    if isinstance(obj, Mapping):
        obj = next(iter(obj.values()), None)
        return _leading_size(obj)
    if isinstance(obj, (tuple, list)) and obj:
        return _leading_size(obj[0])
    return None


def make_step(
    criterion: Callable[[Any, Any], torch.Tensor],
    *,
    unpack: Unpack | None = None,
    device: torch.device | str | None = None,
) -> StepFn:
    """The default step function: unpack, move to ``device``, forward, criterion."""
    unpack_fn = unpack or default_unpack

    def step(model: nn.Module, batch: Batch) -> StepOutput:
        inputs, targets = unpack_fn(batch)
        inputs = to_device(inputs, device, non_blocking=True)
        targets = to_device(targets, device, non_blocking=True)
        outputs = call_model(model, inputs)
        loss = criterion(outputs, targets)
        return StepOutput(
            loss=loss,
            outputs=outputs,
            targets=targets,
            batch_size=_leading_size(targets) or _leading_size(inputs),
        )

    return step


def run_step(step_fn: StepFn, model: nn.Module, batch: Batch) -> StepOutput:
    """Call ``step_fn`` and normalise its result to a :class:`StepOutput` with a scalar loss."""
    out = step_fn(model, batch)
    if isinstance(out, torch.Tensor):
        out = StepOutput(loss=out)
    elif isinstance(out, Mapping) and "loss" in out:  # e.g. HF-style {"loss": ..., "logits": ...}
        out = StepOutput(loss=out["loss"], outputs=out.get("outputs"), targets=out.get("targets"))
    elif not isinstance(out, StepOutput):
        raise DataError(
            f"step_fn returned a {type(out).__name__}; expected a loss tensor or a StepOutput.",
            hint="Return the scalar loss, or lrlab.batches.StepOutput(loss, outputs, targets).",
        )
    if not isinstance(out.loss, torch.Tensor) or out.loss.numel() != 1:
        shape = tuple(out.loss.shape) if isinstance(out.loss, torch.Tensor) else type(out.loss)
        raise DataError(
            f"The loss must be a scalar tensor, got {shape}.",
            hint="Use a criterion with reduction='mean' (the default), or reduce it in step_fn.",
        )
    if out.batch_size is None:
        out.batch_size = _leading_size(out.targets) or _leading_size(out.outputs) or 1
    return out


def resolve_step(
    criterion: Callable[[Any, Any], torch.Tensor] | None,
    *,
    unpack: Unpack | None = None,
    step_fn: StepFn | None = None,
    device: torch.device | str | None = None,
) -> StepFn:
    """The step function a loop should use: ``step_fn`` if given, else one built from
    ``criterion`` and ``unpack``. Exactly one of ``criterion`` / ``step_fn`` is needed."""
    if step_fn is not None:
        if unpack is not None:
            raise DataError(
                "Pass either unpack= or step_fn=, not both.",
                hint="A step_fn does its own unpacking.",
            )
        return step_fn
    if criterion is None:
        raise DataError(
            "No way to compute a loss: criterion is None and no step_fn was given.",
            hint="Pass a criterion such as torch.nn.CrossEntropyLoss(), or step_fn=.",
        )
    return make_step(criterion, unpack=unpack, device=device)


def cycle(data: Iterable[Batch], *, name: str = "train_data") -> Iterator[Batch]:
    """Yield batches from ``data`` forever, restarting it when exhausted.

    ``data`` must be re-iterable (a DataLoader, a list, an lrlab loader); a one-shot
    generator is accepted as long as it is not exhausted. An iterable that yields no batch
    raises :class:`DataError` instead of looping forever.
    """
    while True:
        produced = False
        for batch in data:
            produced = True
            yield batch
        if not produced:
            raise DataError(
                f"{name} yielded no batches.",
                hint="Check the dataset is not empty and batch_size <= its length "
                "(with drop_last=True).",
            )


def set_epoch(data: Any, epoch: int) -> None:
    """Tell a loader which epoch starts, so its shuffling depends on (seed, epoch) only.

    Works with lrlab's loaders and with DataLoaders using a ``DistributedSampler``; a no-op
    for anything else.
    """
    if hasattr(data, "set_epoch"):
        data.set_epoch(epoch)
    elif hasattr(getattr(data, "sampler", None), "set_epoch"):
        data.sampler.set_epoch(epoch)


def num_batches(data: Any) -> int | None:
    """``len(data)`` when the iterable has one, else ``None``."""
    try:
        return len(data)
    except TypeError:
        return None
