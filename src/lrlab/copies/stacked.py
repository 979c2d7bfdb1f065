"""What the two batched engines share: copies in one ``[K, P]`` tensor, stepped by one rule.

:class:`~lrlab.copies.batched.BatchedEngine` (vmapped) and
:class:`~lrlab.copies.grouped.GroupedEngine` (grouped matrix products) differ in how they get
the gradients of all copies (``gradient``); around that they hold the same state — ``live``
(the global indices of the copies still trained), ``alive_t`` (``[K, 1]``, no non-finite
training loss yet), ``dead`` (dropped since the last :meth:`take_dead`) and ``rule`` (the
stacked update, :mod:`lrlab.copies.rules`) — and make the same update from it, written here
once: the micro-batches' gradients summed (each loss divided by their number, as
:class:`lrlab.train.update.Update` divides it), clipped per copy, stepped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class StackedCopies:
    """The bookkeeping of an engine whose copies live in one stacked tensor."""

    live: list[int]
    alive_t: torch.Tensor
    dead: list[int]
    rule: Any  # lrlab.copies.rules.StackedRule
    flat: torch.Tensor  # [K, P]: every copy's trained parameters, one row each
    grad_clip: float | None = None
    compact_eagerly = True  # drop a diverged copy at once (a host sync: free on the CPU)
    steps_done = 0

    def gradient(self, batch: Any, divisor: int) -> torch.Tensor:
        """``[K, P]``: every copy's gradient of its loss on ``batch`` divided by ``divisor``;
        marks a copy whose loss is not finite in ``alive_t``."""
        raise NotImplementedError

    def train_step(self, batch: Any) -> None:
        """One update of every live copy on ``batch``."""
        self.train_group((batch,))

    def train_group(self, batches: Any) -> None:
        """One update of every live copy from ``len(batches)`` micro-batches: the gradient of
        their mean loss, clipped, stepped; a copy whose loss is not finite is skipped and
        dropped."""
        k = len(batches)
        grad = self.gradient(batches[0], k)
        if k > 1:
            grad = grad.clone()  # an engine may hand out a buffer it reuses
            for batch in batches[1:]:
                grad.add_(self.gradient(batch, k))
        if self.grad_clip is not None:
            grad = clip_rows(grad, self.grad_clip)
        # Knowing that every copy is alive (the usual case) spares the masking.
        everyone = self.compact_eagerly and bool(self.alive_t.all())
        self.rule.step(self.flat, grad, None if everyone else self.alive_t)
        self.steps_done += 1
        if self.compact_eagerly and not everyone:
            self.drop_dead()

    def set_hyper(self, scale: float, momentum: float | None = None) -> None:
        """The next update's hyper-parameters: LR ``lrs[k] · scale``, ``momentum`` (see
        :meth:`lrlab.copies.rules.StackedRule.set_hyper`)."""
        self.rule.set_hyper(scale, momentum)

    def alive(self) -> np.ndarray:
        """Per live copy: no non-finite training loss so far."""
        return self.alive_t.squeeze(1).cpu().numpy().copy()

    def take_dead(self) -> list[int]:
        """Global indices of the copies dropped since the last call (non-finite loss)."""
        dead, self.dead = self.dead, []
        return dead

    def drop_dead(self) -> None:
        """Drop the copies whose training loss turned non-finite, remembering them."""
        mask = self.alive()
        self.dead.extend(c for c, m in zip(self.live, mask, strict=True) if not m)
        self.keep(mask)

    def keep(self, mask: np.ndarray) -> None:
        raise NotImplementedError


def clip_rows(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """Each copy's gradient (a row) clipped as :func:`torch.nn.utils.clip_grad_norm_` clips a
    model's: ``g · min(1, max_norm / (‖g‖₂ + 1e-6))``, ``‖g‖₂`` over all its parameters."""
    norms = torch.linalg.vector_norm(grad, dim=1, keepdim=True)
    return grad * torch.clamp(max_norm / (norms + 1e-6), max=1.0)
