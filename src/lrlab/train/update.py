"""One optimizer update: micro-batches, autocast, gradient scaling, clipping, the step.

The same arithmetic for every loop that trains — ``fit``, the range test and ``find_lr``'s
short trainings — so that "an update" means one thing::

    for each micro-batch b of the group (k of them):
        with autocast(precision): loss_b = step_fn(model, b)
        (scale(loss_b / k)).backward()            # the group's mean gradient; no ÷ when k = 1
    [unscale (fp16)] [clip_grad_norm_(grad_clip)] optimizer.step() [scaler.update()]

``x / 1 == x`` exactly, so the division (and its autograd node) is skipped without
accumulation. Gradients of an fp16 run are unscaled before clipping, so the clip applies to
the true gradients. Nothing here reads a value back from the device (the hot path).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from lrlab.batches import Batch, StepFn, StepOutput, run_step
from lrlab.precision import Precision


class Update:
    """The update of one optimizer over one model, at one precision with one clip.

    ``backward`` runs one micro-batch (forward under autocast, the loss divided by the
    group's size, scaled for fp16, back-propagated) and returns the step's output and the
    divided loss, detached; ``step`` finishes the update (unscale, clip, step, scaler update).
    Zeroing the gradients is the caller's: loops differ in when they do it.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        precision: Precision,
        grad_clip: float | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.precision = precision
        self.grad_clip = grad_clip
        self.scaler = precision.scaler()
        self.params = [p for g in optimizer.param_groups for p in g["params"]]

    def backward(
        self, step: StepFn, model: nn.Module, batch: Batch, divisor: int = 1
    ) -> tuple[StepOutput, torch.Tensor]:
        """Forward and backward of one micro-batch; ``(output, (loss / divisor).detach())``."""
        if self.precision.dtype is None:  # no autocast context at all in full precision
            out = run_step(step, model, batch)
        else:
            with self.precision.autocast():
                out = run_step(step, model, batch)
        loss = out.loss if divisor == 1 else out.loss / divisor
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        return out, loss.detach()

    def step(self) -> None:
        """Unscale (fp16), clip, and step the optimizer."""
        opt = self.optimizer
        if self.scaler is not None:
            if self.grad_clip is not None:
                self.scaler.unscale_(opt)  # clip the true gradients, not the scaled ones
                torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
            self.scaler.step(opt)
            self.scaler.update()
            return
        if self.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        opt.step()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's state (checkpoints), ``None`` without one."""
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state is not None:
            self.scaler.load_state_dict(state)


def micro_batch_groups(data: Iterable[Batch], k: int) -> Iterable[Sequence[Batch]]:
    """Micro-batch groups of ``k`` (the last one of an epoch may be shorter).

    The group is collected before its first forward pass so that every loss of the group is
    divided by the group's true size (the mean gradient, also for a short last group); this
    holds ``k`` batches in memory at once.
    """
    if k == 1:
        for batch in data:
            yield (batch,)
        return
    group: list[Batch] = []
    for batch in data:
        group.append(batch)
        if len(group) == k:
            yield group
            group = []
    if group:
        yield group
