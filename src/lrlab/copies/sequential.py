"""The sequential fallback: one copy at a time, a real ``torch.optim`` optimizer per copy.

It handles every model and optimizer (in-place ops vmap rejects, custom optimizers, mixed
dtypes, ...) and is the reference the batched engine is tested against: copy ``k`` starts
from the scan's start state (parameters and every buffer restored), gets an optimizer from
the recipe with LR ``lrs[k]`` (fresh, or with the carried state), and runs the same shared
loop (:func:`lrlab.scanning.loop.run_horizons`), so it sees the same batches, in the same
order, with the same random numbers, as every other copy and as the batched engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from lrlab.batches import StepFn
from lrlab.copies.optimizer import CopyOptimizer, build_torch_optimizer
from lrlab.evaluate import evaluate
from lrlab.metrics import Metric
from lrlab.optim import groups
from lrlab.precision import FULL, Precision
from lrlab.train.update import Update


def capture_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter and buffer (also non-persistent ones), by name."""
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    return {name: t.detach().clone() for name, t in tensors.items()}


@torch.no_grad()
def restore_tensors(model: nn.Module, saved: Mapping[str, torch.Tensor]) -> None:
    """Write ``saved`` (from :func:`capture_tensors`) back into ``model``'s tensors."""
    current = dict(model.named_parameters())
    current.update(model.named_buffers())
    for name, value in saved.items():
        current[name].copy_(value)


class SequentialEngine:
    """Trains one copy (global index ``index``, learning rate ``lr``) of ``model``.

    ``model`` is lrlab's working copy; it is reset to ``start`` here. Each update is
    :class:`lrlab.train.update.Update`'s — the one ``fit`` and the range test make — at
    ``precision`` (autocast; fp16 with a fresh ``GradScaler`` per copy) with ``grad_clip``;
    :meth:`train_group` accumulates micro-batches into one update.
    """

    def __init__(
        self,
        model: nn.Module,
        start: Mapping[str, torch.Tensor],
        step_fn: StepFn,
        recipe: CopyOptimizer,
        lr: float,
        index: int,
        *,
        metrics: Mapping[str, Metric] | None = None,
        precision: Precision = FULL,
        grad_clip: float | None = None,
    ) -> None:
        restore_tensors(model, start)
        model.train()
        self.model = model
        self.step_fn = step_fn
        self.metrics = dict(metrics or {})
        self.optimizer = build_torch_optimizer(recipe, dict(model.named_parameters()), lr)
        self.update = Update(self.optimizer, precision, grad_clip)
        self.lrs = [lr * ratio for ratio in recipe.ratios]
        self.live = [index]
        self._alive = True

    def train_step(self, batch: Any) -> None:
        self.train_group((batch,))

    def train_group(self, batches: Sequence[Any]) -> None:
        """One update from ``len(batches)`` micro-batches (their mean gradient). A
        non-finite loss skips the update and marks the copy diverged, like the batched
        engine's mask."""
        if not self._alive:
            return
        self.optimizer.zero_grad(set_to_none=True)
        total: torch.Tensor | None = None
        for batch in batches:
            _, part = self.update.backward(self.step_fn, self.model, batch, divisor=len(batches))
            total = part if total is None else total + part
        if total is None or not bool(torch.isfinite(total)):
            self._alive = False
            return
        self.update.step()

    def set_hyper(self, scale: float, momentum: float | None = None) -> None:
        """The next update's hyper-parameters, written into the param groups as
        :class:`lrlab.optim.ScheduleDriver` does: group ``g`` gets ``lr · ratio[g] · scale``;
        ``momentum`` (``None``: unchanged) goes to ``momentum`` or Adam's ``betas[0]``."""
        for group, lr in zip(self.optimizer.param_groups, self.lrs, strict=True):
            group["lr"] = lr * scale
            if momentum is not None:
                key = groups.momentum_key(group)
                if key is not None:
                    groups.write(group, "momentum", momentum)

    def alive(self) -> np.ndarray:
        return np.array([self._alive])

    def evaluate(self, data: Iterable[Any]) -> dict[str, np.ndarray]:
        values = evaluate(self.model, data, self.step_fn, metrics=self.metrics)
        return {k: np.array([v]) for k, v in values.items()}

    def keep(self, mask: np.ndarray) -> None:
        if not mask[0]:
            self.live = []

    def take_dead(self) -> list[int]:
        return []  # a diverged copy is reported by alive() at the next evaluation
