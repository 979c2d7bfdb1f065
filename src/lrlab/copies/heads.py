"""Per-copy losses and their gradients for the grouped engine (:mod:`.grouped`).

The grouped engine computes the K copies' outputs as one ``[K, N, O]`` tensor and needs, for
each copy ``k``, its loss ``L_k = criterion(outputs[k], targets)`` and ``∂L_k/∂outputs[k]``
(the copies share nothing, so this is also ``∂(Σ_j L_j)/∂outputs[k]``). A *head* returns both.

- :class:`VmapHead` works for any criterion ``torch.func`` can batch: ``vmap(criterion)``
  and one autograd call on the outputs only (the stack itself is differentiated by hand).
- :data:`HEADS` holds closed forms for the common cases — ``nn.MSELoss`` and
  ``nn.CrossEntropyLoss`` with their default reduction — which skip vmap and autograd
  (their per-call overhead dominates at these sizes). They follow ATen's formulas
  (``mse_loss_backward``: ``2/numel · (x − y)``; ``log_softmax_backward`` of
  ``nll_loss_backward``: ``(softmax(x) − onehot(y)) / count``), are tested against autograd,
  and hand over to :class:`VmapHead` whenever a batch is not of the form they handle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import nn
from torch.func import vmap

Tensor = torch.Tensor


class LossHead(Protocol):
    """Per-copy losses (and their gradients) of stacked outputs ``[K, N, O]``."""

    def losses(self, outputs: Tensor, targets: Any) -> Tensor:
        """``[K]``: each copy's loss (no gradient)."""
        ...

    def __call__(self, outputs: Tensor, targets: Any) -> tuple[Tensor, Tensor]:
        """``([K] losses, [K, N, O] gradient of each copy's loss w.r.t. its outputs)``."""
        ...


class VmapHead:
    """Any criterion: ``vmap(criterion, in_dims=(0, None))`` plus autograd on the outputs."""

    def __init__(self, criterion: Callable[[Tensor, Any], Tensor]) -> None:
        self._per_copy = vmap(lambda out, target: criterion(out, target).reshape(()), (0, None))

    def losses(self, outputs: Tensor, targets: Any) -> Tensor:
        return self._per_copy(outputs, targets)

    def __call__(self, outputs: Tensor, targets: Any) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            leaf = outputs.detach().requires_grad_(True)
            losses = self._per_copy(leaf, targets)
            (grad,) = torch.autograd.grad(losses.sum(), leaf)
        return losses.detach(), grad


class MSEHead:
    """``nn.MSELoss()`` (mean): ``L_k = mean((x_k − y)²)``, ``∂L_k/∂x_k = 2/numel · (x_k − y)``."""

    def __init__(self, criterion: nn.MSELoss) -> None:
        self._general = VmapHead(criterion)

    @staticmethod
    def _handles(outputs: Tensor, targets: Any) -> bool:
        return (
            isinstance(targets, Tensor)
            and targets.shape == outputs.shape[1:]
            and targets.dtype == outputs.dtype
        )

    def losses(self, outputs: Tensor, targets: Any) -> Tensor:
        if not self._handles(outputs, targets):
            return self._general.losses(outputs, targets)
        return (outputs - targets).square_().mean(dim=tuple(range(1, outputs.dim())))

    def __call__(self, outputs: Tensor, targets: Any) -> tuple[Tensor, Tensor]:
        if not self._handles(outputs, targets):
            return self._general(outputs, targets)
        diff = outputs - targets
        losses = diff.square().mean(dim=tuple(range(1, outputs.dim())))
        return losses, diff.mul_(2.0 / targets.numel())


class CrossEntropyHead:
    """``nn.CrossEntropyLoss()`` on class indices (mean over non-ignored targets, no class
    weights, no label smoothing): ``L_k = −Σ_n log softmax(x_kn)[y_n] / count``,
    ``∂L_k/∂x_kn = (softmax(x_kn) − onehot(y_n)) / count`` (0 for ignored targets)."""

    def __init__(self, criterion: nn.CrossEntropyLoss) -> None:
        self._general = VmapHead(criterion)
        self.ignore_index = int(criterion.ignore_index)

    @staticmethod
    def _handles(outputs: Tensor, targets: Any) -> bool:
        return (
            isinstance(targets, Tensor)
            and outputs.dim() == 3
            and targets.shape == outputs.shape[1:2]
            and targets.dtype in (torch.int64, torch.int32)
        )

    def _parts(self, outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        valid = targets != self.ignore_index
        count = valid.sum().to(outputs.dtype)
        index = torch.where(valid, targets, 0).long().view(1, -1, 1).expand(outputs.shape[0], -1, 1)
        logp = torch.log_softmax(outputs, dim=-1)
        picked = logp.gather(2, index).squeeze(2)
        losses = -torch.where(valid, picked, 0.0).sum(dim=1) / count
        return losses, logp, index, valid

    def losses(self, outputs: Tensor, targets: Any) -> Tensor:
        if not self._handles(outputs, targets):
            return self._general.losses(outputs, targets)
        return self._parts(outputs, targets)[0]

    def __call__(self, outputs: Tensor, targets: Any) -> tuple[Tensor, Tensor]:
        if not self._handles(outputs, targets):
            return self._general(outputs, targets)
        losses, logp, index, valid = self._parts(outputs, targets)
        grad = logp.exp_()
        weight = valid.to(outputs.dtype).view(1, -1, 1)
        grad.scatter_add_(2, index, -weight.expand(outputs.shape[0], -1, 1))
        count = valid.sum().to(outputs.dtype)
        return losses, grad.mul_(weight / count)


def _mse(criterion: nn.Module) -> LossHead | None:
    return MSEHead(criterion) if criterion.reduction == "mean" else None  # type: ignore[arg-type]


def _cross_entropy(criterion: nn.Module) -> LossHead | None:
    c: nn.CrossEntropyLoss = criterion  # type: ignore[assignment]
    plain = c.weight is None and c.reduction == "mean" and c.label_smoothing == 0.0
    return CrossEntropyHead(c) if plain else None


# Criterion type -> closed-form head (None when the instance's options are not covered).
HEADS: dict[type[nn.Module], Callable[[nn.Module], LossHead | None]] = {
    nn.MSELoss: _mse,
    nn.CrossEntropyLoss: _cross_entropy,
}


def loss_head(criterion: Callable[[Tensor, Any], Tensor]) -> LossHead:
    """The fastest exact head for ``criterion``."""
    make = HEADS.get(type(criterion))  # type: ignore[arg-type]
    head = make(criterion) if make is not None else None  # type: ignore[arg-type]
    return head if head is not None else VmapHead(criterion)
