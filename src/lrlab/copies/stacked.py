"""What the two batched engines share: copies in one ``[K, P]`` tensor, stepped by one rule.

:class:`~lrlab.copies.batched.BatchedEngine` (vmapped) and
:class:`~lrlab.copies.grouped.GroupedEngine` (grouped matrix products) differ in how they get
the gradients of all copies; around that they hold the same state — ``live`` (the global
indices of the copies still trained), ``alive_t`` (``[K, 1]``, no non-finite training loss
yet), ``dead`` (dropped since the last :meth:`take_dead`) and ``rule`` (the stacked update,
:mod:`lrlab.copies.rules`) — and do the same bookkeeping, written here once.
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
