"""Metrics: pure functions ``(outputs, targets) -> scalar tensor`` (a mean over the batch).

Loops average them over batches weighted by batch size, so a metric must be a per-sample
mean (accuracy, MSE, MAE), not a sum.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import torch
from torch import nn

from lrlab.errors import InvalidArgument

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Top-1 accuracy in [0, 1]: ``mean(argmax(outputs, -1) == targets)``.

    Also accepts one-hot / soft targets (argmax taken on them too) and a single logit per
    sample for binary tasks (threshold 0).
    """
    if outputs.dim() >= 2 and outputs.shape[-1] > 1:
        pred = outputs.argmax(dim=-1)
    else:
        pred = (outputs.reshape(targets.shape) > 0).to(targets.dtype)
    if targets.dim() == pred.dim() + 1:
        targets = targets.argmax(dim=-1)
    return (pred == targets).float().mean()


def top5_accuracy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of samples whose target is among the 5 largest outputs."""
    k = min(5, outputs.shape[-1])
    top = outputs.topk(k, dim=-1).indices
    return (top == targets.unsqueeze(-1)).any(dim=-1).float().mean()


def mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean squared error (targets reshaped to the outputs' shape)."""
    return torch.mean((outputs.float() - targets.reshape(outputs.shape).float()) ** 2)


def mae(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute error."""
    return torch.mean(torch.abs(outputs.float() - targets.reshape(outputs.shape).float()))


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "top5": top5_accuracy,
    "mse": mse,
    "mae": mae,
}

# Metrics where larger is better; everything else is minimised.
HIGHER_IS_BETTER = frozenset({"accuracy", "top5"})


def resolve_metrics(
    spec: str | Iterable[str | Metric] | Mapping[str, Metric] | None,
) -> dict[str, Metric]:
    """Normalise a metrics argument into ``{name: fn}``.

    Accepts ``None`` (no metrics), a name (``"accuracy"``), a list of names or callables, or a
    dict of ``name -> callable``. Unknown names raise with the list of known ones.
    """
    if spec is None:
        return {}
    if isinstance(spec, str):
        spec = [spec]
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = []
        for entry in spec:
            if isinstance(entry, str):
                items.append((entry, entry))
            elif callable(entry):
                items.append((getattr(entry, "__name__", "metric"), entry))
            else:
                raise InvalidArgument(
                    f"metrics entry {entry!r} is neither a name nor a callable.",
                    hint=f"Known names: {sorted(METRICS)}.",
                )
    out: dict[str, Metric] = {}
    for name, fn in items:
        if isinstance(fn, str):
            if fn not in METRICS:
                raise InvalidArgument(f"Unknown metric {fn!r}.", hint=f"Known: {sorted(METRICS)}.")
            fn = METRICS[fn]
        out[str(name)] = fn
    return out


# Losses whose models are classifiers: loops evaluate accuracy by default for them.
CLASSIFICATION_LOSSES: tuple[type[nn.Module], ...] = (nn.CrossEntropyLoss, nn.NLLLoss)


def default_metrics(metrics: object, criterion: object) -> dict[str, Metric]:
    """``metrics`` resolved (:func:`resolve_metrics`); by default (``None``) accuracy for a
    classification loss, none otherwise."""
    if metrics is None:
        return resolve_metrics("accuracy" if isinstance(criterion, CLASSIFICATION_LOSSES) else None)
    return resolve_metrics(metrics)  # type: ignore[arg-type]
